"""CMU Multimodal SDK computational sequences (``.csd``, HDF5), read lazily one video at a time.

Layout: ``/<root>/data/<video_id>/features`` (n, d) and ``.../intervals`` (n, 2) in seconds, and
``/<root>/metadata/<key>`` (strings, often JSON). Label sequences are computational sequences
too: MOSI's "Opinion Segment Labels" (d = 1, sentiment) and MOSEI's "All Labels" (d = 7:
sentiment, happy, sad, anger, surprise, disgust, fear).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from msa_bench.data.labels import MOSEI_EMOTION_COLUMNS
from msa_bench.sources.common import Segment, SourceFileError

#: Silence token in the SDK's word sequences.
SILENCE = "sp"
#: What h5py raises reading a damaged file: corrupt B-tree or symbol-table nodes (``RuntimeError``,
#: ``OSError``), an object that cannot be opened (``KeyError``), a bad shape or type (``ValueError``).
HDF5_ERRORS = (OSError, RuntimeError, KeyError, ValueError, TypeError)


class ComputationalSequence:
    """One ``.csd`` file, opened read-only; features are read per video, never the whole file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._file = h5py.File(self.path, "r")
        except OSError as err:
            raise SourceFileError(self.path, f"not a readable HDF5 file (truncated or corrupt?): {err}") from None
        try:
            with self._reading("its root groups"):
                roots = list(self._file.keys())
                root = self._file[roots[0]] if len(roots) == 1 else None
                if not isinstance(root, h5py.Group) or not {"data", "metadata"} <= set(root.keys()):
                    raise SourceFileError(
                        self.path, f"not a computational sequence: expected /<root>/data and /<root>/metadata, found {roots}"
                    )
                self.name = roots[0]
                self._data = self._file[self.name]["data"]
        except SourceFileError:
            self._file.close()
            raise
        self._cache: tuple[str, np.ndarray, np.ndarray] | None = None

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """Any h5py error inside becomes a :class:`SourceFileError` naming this file and ``what``
        was being read (a zeroed or half-written file opens fine and fails here)."""
        try:
            yield
        except SourceFileError:
            raise
        except HDF5_ERRORS as err:
            message = str(err).strip("'\"") or type(err).__name__
            raise SourceFileError(self.path, f"{what} cannot be read: the file is corrupt or truncated ({message})") from None

    def __enter__(self) -> ComputationalSequence:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    @property
    def metadata(self) -> dict[str, object]:
        """``/<root>/metadata``: each value decoded, and parsed as JSON where it is JSON."""
        out = {}
        with self._reading("its metadata"):
            for key, value in self._file[self.name]["metadata"].items():
                raw = value[()]
                raw = raw[0] if isinstance(raw, np.ndarray) and raw.size == 1 else raw
                text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
                try:
                    out[key] = json.loads(text)
                except ValueError:
                    out[key] = text
        return out

    def video_ids(self) -> list[str]:
        with self._reading("its list of videos"):
            return list(self._data.keys())

    def __contains__(self, video_id: str) -> bool:
        with self._reading(f"the entry of video {video_id!r}"):
            return video_id in self._data

    @property
    def dim(self) -> int:
        """Feature dimension, from the first video's ``features`` shape (no data read)."""
        with self._reading("the feature dimension"):
            for video_id in self._data:
                shape = self._data[video_id]["features"].shape
                if len(shape) != 2:
                    raise SourceFileError(self.path, f"video {video_id!r}: features of shape {shape}, expected (frames, dimension)")
                return int(shape[1])
        raise SourceFileError(self.path, "holds no videos")

    def video(self, video_id: str) -> tuple[np.ndarray, np.ndarray]:
        """``(intervals (n, 2), features (n, d))`` of one video (the last one read is cached)."""
        if self._cache is not None and self._cache[0] == video_id:
            return self._cache[1], self._cache[2]
        with self._reading(f"video {video_id!r} ('features' and 'intervals')"):
            group = self._data[video_id]
            intervals = np.asarray(group["intervals"][()], dtype=np.float64)
            features = group["features"][()]
        if intervals.ndim != 2 or intervals.shape[1] != 2 or len(intervals) != len(features):
            raise SourceFileError(
                self.path, f"video {video_id!r}: intervals {intervals.shape} do not match features {features.shape}"
            )
        self._cache = (video_id, intervals, features)
        return intervals, features

    def segment(self, video_id: str, start: float, end: float) -> np.ndarray:
        """The rows whose interval overlaps ``[start, end]`` (the unaligned cut of one segment)."""
        intervals, features = self.video(video_id)
        return features[_overlapping(intervals, start, end)]

    def words(self, video_id: str, start: float, end: float) -> tuple[list[str], np.ndarray]:
        """Words (silence ``sp`` dropped) overlapping ``[start, end]``, with their intervals."""
        intervals, features = self.video(video_id)
        rows = np.flatnonzero(_overlapping(intervals, start, end))
        words = [_decode(features[row]) for row in rows]
        keep = [k for k, word in enumerate(words) if word != SILENCE]
        return [words[k] for k in keep], intervals[rows[keep]]


def _overlapping(intervals: np.ndarray, start: float, end: float) -> np.ndarray:
    return (intervals[:, 1] > start) & (intervals[:, 0] < end)


def _decode(value) -> str:
    value = np.asarray(value).ravel()[0]
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def average_over_words(
    sequence: ComputationalSequence, video_id: str, word_intervals: np.ndarray
) -> tuple[np.ndarray, int]:
    """Word-level alignment: the mean of the frames overlapping each word interval.

    Returns the (n_words, d) array and how many words had no frame (their row is 0.0).
    """
    intervals, features = sequence.video(video_id)
    out = np.zeros((len(word_intervals), features.shape[1]), dtype=np.float32)
    empty = 0
    for k, (start, end) in enumerate(word_intervals):
        rows = _overlapping(intervals, start, end)
        if rows.any():
            out[k] = features[rows].astype(np.float32).mean(axis=0)
        else:
            empty += 1
    return out, empty


def read_label_sequence(sequence: ComputationalSequence, clip_base: int) -> list[Segment]:
    """Segments of a label sequence: MOSI (1 column, sentiment) or MOSEI (7 columns).

    A segment's ``clip_id`` is its row number within the video plus ``clip_base``.
    """
    emotion_columns = list(MOSEI_EMOTION_COLUMNS)
    dim = sequence.dim
    if dim not in (1, 1 + len(emotion_columns)):
        raise SourceFileError(sequence.path, f"label sequence has {dim} columns; expected 1 (MOSI) or 7 (MOSEI)")
    segments = []
    for video_id in sequence.video_ids():
        intervals, values = sequence.video(video_id)
        for row, ((start, end), labels) in enumerate(zip(intervals, np.asarray(values, dtype=np.float64))):
            emotions = dict(zip(emotion_columns, map(float, labels[1:]))) if dim > 1 else None
            segments.append(
                Segment(
                    video_id=video_id,
                    clip_id=str(row + clip_base),
                    sentiment=float(labels[0]),
                    emotions=emotions,
                    start=float(start),
                    end=float(end),
                    source_labels={"sentiment": float(labels[0]), **(emotions or {})},
                )
            )
    return segments
