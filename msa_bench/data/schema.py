"""The unified msa_bench schema: one ``datasets.Features`` layout shared by every dataset.

Every dataset (synthetic, CMU-MOSI, CMU-MOSEI, RAVDESS) has exactly these columns. Only the
feature dimensions differ between feature sets; they are recorded, with the feature-set names,
in the dataset's metadata (see :class:`MSAMetadata`).

Null is the one "not annotated / not available" value: a missing modality is ``None`` (never a
block of zeros), and a label that a dataset does not annotate is ``None`` (never a fake 0).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import datasets

MODALITIES: tuple[str, ...] = ("text", "audio", "vision")

#: The six Ekman emotions, in the order of the ``emotions`` column.
EKMAN_EMOTIONS: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise")

#: Categories of the ``emotion`` column. ``calm`` is a RAVDESS-only value kept apart from
#: ``neutral`` so that RAVDESS's 8-class results stay comparable with the literature.
EMOTION_CLASSES: tuple[str, ...] = ("neutral", *EKMAN_EMOTIONS, "calm")

POLARITY_CLASSES: tuple[str, ...] = ("negative", "neutral", "positive")

SENTIMENT_RANGE: tuple[float, float] = (-3.0, 3.0)
INTENSITY_RANGE: tuple[float, float] = (0.0, 3.0)

DATASET_NAMES: tuple[str, ...] = ("synthetic", "mosi", "mosei", "ravdess")

#: Key under which :class:`MSAMetadata` is stored in ``DatasetInfo.description``.
_METADATA_KEY = "msa_bench"


def frame_sequence(dim: int) -> datasets.List:
    """A variable-length sequence of ``dim``-wide float32 frames; null = modality absent.

    A list of fixed-length lists rather than ``Array2D``: ``datasets`` reads a null ``Array2D``
    row back as a scalar NaN (and fails on slices that mix null and present rows), while a null
    list is ``None`` in every access path (plain rows, slices, numpy and torch formats).
    """
    return datasets.List(datasets.List(datasets.Value("float32"), length=dim))


def unified_features(text_dim: int, audio_dim: int, vision_dim: int) -> datasets.Features:
    """The unified ``Features`` for the given per-modality feature dimensions."""
    for name, dim in (("text", text_dim), ("audio", audio_dim), ("vision", vision_dim)):
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(f"{name}_dim must be a positive integer, got {dim!r}")
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "video_id": datasets.Value("string"),
            "clip_id": datasets.Value("string"),
            "dataset": datasets.Value("string"),
            "text": datasets.Value("string"),
            "text_features": frame_sequence(text_dim),
            "audio_features": frame_sequence(audio_dim),
            "vision_features": frame_sequence(vision_dim),
            "sentiment": datasets.Value("float32"),
            "polarity": datasets.ClassLabel(names=list(POLARITY_CLASSES)),
            "intensity": datasets.Value("float32"),
            "emotions": datasets.Sequence(datasets.Value("float32"), length=len(EKMAN_EMOTIONS)),
            "emotion": datasets.ClassLabel(names=list(EMOTION_CLASSES)),
            "source_labels": datasets.Value("string"),
        }
    )


def feature_dims(features: datasets.Features) -> dict[str, int]:
    """Per-modality feature dimension of a unified ``Features``."""
    return {m: int(features[f"{m}_features"].feature.length) for m in MODALITIES}


@dataclass(frozen=True)
class MSAMetadata:
    """A dataset's msa_bench metadata: which feature set fills each modality and how it was
    made, and what the builder did.

    ``provenance`` records how features were made (extractor name, version, config hash, or
    the source files). ``report`` records what the build did: counts per source, excluded or
    flagged examples, and notes shown by ``msa-bench info``.
    """

    text: str
    audio: str
    vision: str
    text_dim: int
    audio_dim: int
    vision_dim: int
    provenance: dict = field(default_factory=dict)
    report: dict = field(default_factory=dict)

    def features(self) -> datasets.Features:
        return unified_features(self.text_dim, self.audio_dim, self.vision_dim)

    def to_description(self) -> str:
        return json.dumps({_METADATA_KEY: asdict(self)}, sort_keys=True)

    @classmethod
    def from_info(cls, info: datasets.DatasetInfo) -> MSAMetadata:
        try:
            return cls(**json.loads(info.description)[_METADATA_KEY])
        except (TypeError, ValueError, KeyError) as err:
            raise ValueError(
                "this dataset carries no msa_bench feature-set metadata "
                "(was it built by an msa_bench builder?)"
            ) from err


def msa_metadata(dataset: datasets.Dataset | datasets.DatasetDict) -> MSAMetadata:
    """The :class:`MSAMetadata` metadata of a dataset built by msa_bench."""
    if isinstance(dataset, datasets.DatasetDict):
        dataset = next(iter(dataset.values()))
    return MSAMetadata.from_info(dataset.info)
