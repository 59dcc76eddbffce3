"""CMU-MOSI / CMU-MOSEI sources behind one interface: label tables, SDK computational sequences
and MMSA pickles each give a list of :class:`Segment` s and the features of each one.

Also: the SDK standard folds (package data) and assigning segments to splits.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from msa_bench.data.labels import labels_from_sentiment, mosei_emotions, out_of_range
from msa_bench.data.schema import MODALITIES
from msa_bench.sources.common import SPLITS, Segment, SourceFileError, finite_features
from msa_bench.sources.csd import ComputationalSequence, average_over_words, read_label_sequence
from msa_bench.sources.label_tables import read_label_table
from msa_bench.sources.mmsa_pickle import MMSAPickle

#: How many example ids a report lists for each kind of problem.
REPORT_EXAMPLES = 10


def standard_folds(dataset: str) -> dict[str, list[str]]:
    """The CMU Multimodal SDK standard folds: video ids per split (``train``/``validation``/``test``)."""
    text = resources.files("msa_bench.sources").joinpath("folds", f"{dataset}.json").read_text()
    return json.loads(text)


@dataclass(frozen=True)
class FeatureSet:
    """The feature set filling one modality: its name, dimension and source file."""

    name: str
    dim: int
    file: str


def unified_labels(segment: Segment) -> dict[str, object]:
    """The unified labels of a segment (via :mod:`msa_bench.data.labels`)."""
    emotions = mosei_emotions(segment.emotions) if segment.emotions is not None else None
    return labels_from_sentiment(segment.sentiment, emotions)


@dataclass
class CMUSource:
    """Segments of one source, their features, and what reading them found (``report``)."""

    format: str
    files: list[str]
    segments: list[Segment]
    feature_sets: dict[str, FeatureSet] = field(default_factory=dict)
    report: dict = field(default_factory=dict)
    non_finite: Counter = field(default_factory=Counter)
    #: Per split: segments whose features of a modality hold no non-zero value, per modality.
    zero_feature_segments: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Per split: segments whose sentiment (or an emotion) is NaN or empty in the source.
    nan_labels: dict[str, int] = field(default_factory=dict)

    def features(self, index: int) -> dict[str, np.ndarray | None]:
        """Features of segment ``index``; ``None`` for an absent modality."""
        return {m: None for m in MODALITIES}

    def checked(self, features: dict[str, np.ndarray | None]) -> dict[str, np.ndarray | None]:
        """Features as float32 with NaN/inf replaced by 0.0 (counted in ``non_finite``)."""
        out = {}
        for modality, array in features.items():
            if array is None:
                out[modality] = None
                continue
            out[modality], bad = finite_features(array)
            if bad:
                self.non_finite[modality] += bad
        return out


def label_missing(segment: Segment) -> bool:
    """Whether the source gives ``segment`` no number for its sentiment or one of its emotions
    (NaN or an empty cell): kept as "not annotated", and counted in the build report."""
    values = [segment.sentiment, *(segment.emotions or {}).values()]
    return any(value is None or math.isnan(value) for value in values)


def _missing_report(present: set[str], wanted: list[str]) -> dict[str, object]:
    missing = sorted(set(wanted) - present)
    return {"count": len(missing), "examples": missing[:REPORT_EXAMPLES]}


def table_source(label_path: Path, text_path: Path | None = None) -> CMUSource:
    """Labels (and maybe text) from a label table; a second table may supply the transcripts."""
    segments = read_label_table(label_path)
    files = [label_path.name]
    report: dict[str, object] = {}
    if text_path is not None:
        texts = {s.id: s for s in read_label_table(text_path)}
        files.append(text_path.name)
        mismatched = []
        for segment in segments:
            other = texts.get(segment.id)
            if other is None:
                continue
            segment.text = other.text
            if other.sentiment is not None and segment.sentiment is not None and abs(other.sentiment - segment.sentiment) > 1e-6:
                mismatched.append(segment.id)
        ids = {s.id for s in segments}
        report["text_source"] = text_path.name
        report["segments_without_text"] = _missing_report(set(texts), sorted(ids))
        report["text_ids_without_labels"] = _missing_report(ids, sorted(texts))
        report["sentiment_disagreements_with_text_table"] = {"count": len(mismatched), "examples": mismatched[:REPORT_EXAMPLES]}
    for segment in segments:
        segment.text = segment.text or ""
    return CMUSource(format="label_table", files=files, segments=segments, report=report)


class CSDSource(CMUSource):
    """SDK computational sequences: segments from the label sequence, features cut per segment
    (unaligned) or averaged within each word of the segment (``aligned``, needs the words file)."""

    def __init__(
        self,
        labels: Path,
        features: dict[str, tuple[str, Path]],
        words: Path | None,
        aligned: bool,
        clip_base: int,
    ) -> None:
        label_sequence = ComputationalSequence(labels)
        segments = read_label_sequence(label_sequence, clip_base)
        label_sequence.close()
        if aligned and words is None:
            raise SourceFileError(labels.parent, "word-level alignment needs the SDK words file (TimestampedWords.csd)")
        self.sequences = {m: ComputationalSequence(path) for m, (_, path) in features.items()}
        self.words = ComputationalSequence(words) if words is not None else None
        self.aligned = aligned
        label_videos = {s.video_id for s in segments}
        report: dict[str, object] = {"aligned": aligned}
        for modality, sequence in self.sequences.items():
            videos = set(sequence.video_ids())
            report[f"{modality}_videos_without_labels"] = _missing_report(label_videos, sorted(videos))
            without = [s.id for s in segments if s.video_id not in videos]
            report[f"segments_without_{modality}"] = {"count": len(without), "examples": without[:REPORT_EXAMPLES]}
        super().__init__(
            format="csd",
            files=[labels.name, *(p.name for _, p in features.values()), *([words.name] if words else [])],
            segments=segments,
            feature_sets={
                m: FeatureSet(name=name, dim=self.sequences[m].dim, file=path.name) for m, (name, path) in features.items()
            },
            report=report,
        )
        self.words_without_frames: Counter = Counter()
        for segment in segments:
            segment.text = self._text(segment)

    def _text(self, segment: Segment) -> str:
        if self.words is None or segment.video_id not in self.words:
            return ""
        words, _ = self.words.words(segment.video_id, segment.start, segment.end)
        return " ".join(words)

    def features(self, index: int) -> dict[str, np.ndarray | None]:
        segment = self.segments[index]
        out: dict[str, np.ndarray | None] = {m: None for m in MODALITIES}
        word_intervals = None
        if self.aligned and segment.video_id in self.words:
            _, word_intervals = self.words.words(segment.video_id, segment.start, segment.end)
        for modality, sequence in self.sequences.items():
            if segment.video_id not in sequence:
                continue
            if self.aligned:
                if word_intervals is None:
                    continue
                out[modality], empty = average_over_words(sequence, segment.video_id, word_intervals)
                self.words_without_frames[modality] += empty
            else:
                out[modality] = sequence.segment(segment.video_id, segment.start, segment.end)
        return self.checked(out)


class PickleSource(CMUSource):
    """An MMSA pickle: segments with the pickle's own splits, features as stored (trimmed)."""

    def __init__(self, path: Path) -> None:
        self.pickle = MMSAPickle(path)
        self.rows: list[dict] = []
        segments = []
        for split in SPLITS:
            for segment, features in self.pickle.examples(split):
                segments.append(segment)
                self.rows.append(features)
        dims = self.pickle.dims()
        variant = "aligned" if self.pickle.aligned else "unaligned"
        super().__init__(
            format="mmsa_pickle",
            files=[path.name],
            segments=segments,
            feature_sets={m: FeatureSet(name=f"mmsa-{variant}-{m}", dim=d, file=path.name) for m, d in dims.items() if d},
            report={"aligned": self.pickle.aligned},
        )

    def features(self, index: int) -> dict[str, np.ndarray | None]:
        return self.checked(self.rows[index])


def assign_splits(
    segments: list[Segment], folds: dict[str, list[str]] | None
) -> tuple[dict[str, list[int]], dict[str, object]]:
    """Segment indices per split, by video-id ``folds`` or (``folds=None``) each segment's own split.

    Segments in no split and repeated ids are excluded; the report says how many and which.
    """
    video_split = {video: split for split, videos in (folds or {}).items() for video in videos}
    assigned: dict[str, list[int]] = {split: [] for split in SPLITS}
    no_split, duplicates, seen = [], [], set()
    for index, segment in enumerate(segments):
        split = segment.split if folds is None else video_split.get(segment.video_id)
        if segment.id in seen:
            duplicates.append(segment.id)
        elif split is None:
            no_split.append(segment.id)
        else:
            assigned[split].append(index)
        seen.add(segment.id)
    report = {
        "excluded_in_no_split": {"count": len(no_split), "examples": no_split[:REPORT_EXAMPLES]},
        "excluded_duplicate_ids": {"count": len(duplicates), "examples": duplicates[:REPORT_EXAMPLES]},
    }
    if folds is not None:
        disagree = [s.id for s in segments if s.split is not None and s.split != video_split.get(s.video_id)]
        if any(s.split is not None for s in segments):
            report["source_split_disagreements"] = {"count": len(disagree), "examples": disagree[:REPORT_EXAMPLES]}
    return assigned, report


def out_of_range_report(segments: list[Segment]) -> dict[str, object]:
    """Segments whose labels lie outside their range: kept, and listed here."""
    flagged = [s.id for s in segments if out_of_range(unified_labels(s))]
    return {"count": len(flagged), "examples": flagged[:REPORT_EXAMPLES]}
