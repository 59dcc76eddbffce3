"""Shared pieces of every msa_bench dataset builder."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import datasets

from msa_bench.data.schema import MSAMetadata
from msa_bench.sources.common import files_under


class MSABuilder(datasets.GeneratorBasedBuilder):
    """A ``GeneratorBasedBuilder`` whose features are the unified schema.

    Subclasses implement :meth:`msa_metadata` (which feature set fills each modality, with its
    dimension), ``_split_generators`` and ``_generate_examples``.
    """

    #: 2.0.0: feature columns are lists of fixed-length frames (``schema.frame_sequence``).
    VERSION = datasets.Version("2.0.0")
    #: The dataset's citation and homepage, shown in ``info`` and the dataset card.
    CITATION: str = ""
    HOMEPAGE: str = ""

    def __init__(self, *args, data_dir: str | None = None, hash: str | None = None, **kwargs):
        if hash is None and data_dir is not None:
            hash = source_fingerprint(data_dir)
        super().__init__(*args, data_dir=data_dir, hash=hash, **kwargs)

    def msa_metadata(self) -> MSAMetadata:
        raise NotImplementedError

    def _info(self) -> datasets.DatasetInfo:
        metadata = self.msa_metadata()
        return datasets.DatasetInfo(
            description=metadata.to_description(),
            features=metadata.features(),
            citation=self.CITATION,
            homepage=self.HOMEPAGE,
        )

    def _as_dataset(self, split=datasets.Split.TRAIN, in_memory: bool = False) -> datasets.Dataset:
        """An empty split (e.g. RAVDESS test when actors 21-24 are absent) loads as an empty
        dataset; ``datasets`` itself writes no file for it and then refuses to read it."""
        info = self.info.splits.get(str(split)) if self.info.splits else None
        if info is not None and info.num_examples == 0:
            empty = {name: [] for name in self.info.features}
            return datasets.Dataset.from_dict(empty, features=self.info.features, info=self.info.copy(), split=split)
        return super()._as_dataset(split, in_memory)

    def record_report(self, **report) -> None:
        """Add what the build did (counts, exclusions, flags) to the saved metadata.

        Call it from ``_split_generators``: the info is written after generation.
        """
        metadata = MSAMetadata.from_info(self.info)
        merged = replace(metadata, report={**metadata.report, **report})
        self.info.description = merged.to_description()


def source_fingerprint(data_dir: str | Path) -> str:
    """A hash of the relative path, size and modification time of every file under ``data_dir``.

    It keys the build cache, so a source file edited, added or removed rebuilds the dataset
    instead of serving the old build; only file metadata is read, which is cheap even for MOSEI.
    """
    root = Path(data_dir)
    files = files_under(root) if root.is_dir() else [root]
    digest = hashlib.sha256()
    for path in files:
        stat = path.stat()  # of the file a link points to
        name = path.relative_to(root).as_posix() if root.is_dir() else path.name
        digest.update(f"{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def example(
    *,
    dataset: str,
    video_id: str,
    clip_id: str,
    labels: Mapping[str, object],
    source_labels: Mapping[str, object],
    text: str = "",
    text_features=None,
    audio_features=None,
    vision_features=None,
) -> dict[str, object]:
    """One row of the unified schema; ``None`` features mark an absent modality."""
    return {
        "id": f"{video_id}_{clip_id}",
        "video_id": video_id,
        "clip_id": clip_id,
        "dataset": dataset,
        "text": text,
        "text_features": text_features,
        "audio_features": audio_features,
        "vision_features": vision_features,
        **labels,
        "source_labels": json.dumps(dict(source_labels), sort_keys=True),
    }
