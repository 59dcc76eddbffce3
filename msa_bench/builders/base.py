"""Shared pieces of every msa_bench dataset builder."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
from datasets.exceptions import DatasetGenerationError

from msa_bench.data.schema import MSAMetadata
from msa_bench.sources.common import files_under
from msa_bench.util.atomic import naming
from msa_bench.util.errors import os_error_message
from msa_bench.util.hashing import files_digest


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

    def _create_builder_config(self, config_name=None, custom_features=None, config_id=None, **config_kwargs):
        """The config, with the data folder's path left out of the cache key: the key is the
        content of the files read (:meth:`source_fingerprint`), wherever they are."""
        data_dir = config_kwargs.pop("data_dir", None)
        config, config_id = super()._create_builder_config(config_name, custom_features, config_id, **config_kwargs)
        config.data_dir = data_dir
        return config, config_id

    def _build_cache_dir(self) -> str:
        # ``datasets`` calls this once the config is made, before it looks for a cached build
        if self.hash is None and self.config.data_dir is not None:
            self.hash = self.source_fingerprint()
        return super()._build_cache_dir()

    def download_and_prepare(self, *args, **kwargs) -> None:
        """``datasets``' own, where a cached build that cannot be read whole is built again, and a
        full or read-only cache disk names the cache folder (``datasets`` writes the build there
        and names no file); the half-written build is gone."""
        if self._damaged_build():
            kwargs["download_mode"] = datasets.DownloadMode.FORCE_REDOWNLOAD
        try:
            super().download_and_prepare(*args, **kwargs)
        except DatasetGenerationError as err:
            if isinstance(err.__cause__, OSError) and os_error_message(err.__cause__) is not None:
                raise naming(err.__cause__, Path(self._cache_dir)) from None
            raise
        except OSError as err:
            if os_error_message(err) is not None:
                raise naming(err, Path(self._cache_dir)) from None
            raise

    def _damaged_build(self) -> bool:
        """Whether a cached build is there but cannot be read whole (a file cut short by a full
        disk or a copy, or removed): its Arrow files' record batches (their headers only, the
        data stays mapped) must hold every example its info counts."""
        folder = Path(self._cache_dir)
        if not (folder / datasets.config.DATASET_INFO_FILENAME).is_file():
            return False
        expected = sum(split.num_examples for split in (self.info.splits or {}).values())
        try:
            return sum(arrow_rows(path) for path in folder.glob("*.arrow")) != expected
        except (OSError, pa.ArrowInvalid):
            return True

    def source_files(self) -> dict[str, Path | None]:
        """The files a build of this config reads from ``data_dir``, by role or relative name
        (every file under it unless a builder knows better); ``None`` marks one that is absent."""
        root = Path(self.config.data_dir)
        return {path.relative_to(root).as_posix(): path for path in files_under(root)} if root.is_dir() else {}

    def source_fingerprint(self) -> str:
        """A content hash of :meth:`source_files`: the build cache's key, so a source file edited
        or replaced (even by one of the same size and time) rebuilds the dataset, and a file it
        does not read, a copy elsewhere or a new modification time does not."""
        return files_digest(self.source_files())[:16]

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
        merged = dataclasses.replace(metadata, report={**metadata.report, **report})
        self.info.description = merged.to_description()


def arrow_rows(path: Path) -> int:
    """The rows of an Arrow stream file, from its record batches read memory-mapped."""
    with pa.memory_map(str(path)) as source:
        return sum(batch.num_rows for batch in pa.ipc.open_stream(source))


def zero_modalities(features: Mapping[str, np.ndarray | None]) -> list[str]:
    """The modalities whose features hold no non-zero value (all zeros, or no frame at all): a
    segment of a zeroed or half-written source file reads like this, so builders count them."""
    return [modality for modality, array in features.items() if array is not None and not np.any(array)]


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
