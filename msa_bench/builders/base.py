"""Shared pieces of every msa_bench dataset builder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace

import datasets

from msa_bench.schema import MSAMetadata


class MSABuilder(datasets.GeneratorBasedBuilder):
    """A ``GeneratorBasedBuilder`` whose features are the unified schema.

    Subclasses implement :meth:`msa_metadata` (which feature set fills each modality, with its
    dimension), ``_split_generators`` and ``_generate_examples``.
    """

    #: The dataset's citation and homepage, shown in ``info`` and the dataset card.
    CITATION: str = ""
    HOMEPAGE: str = ""

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
