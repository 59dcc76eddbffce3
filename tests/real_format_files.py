"""Writers of tiny files in the exact layouts researchers hold: SDK computational sequences,
MMSA pickles, label tables and RAVDESS-named audio files (used by the source/builder tests)."""

from __future__ import annotations

import json
import pickle
import zipfile
from pathlib import Path

import h5py
import numpy as np
import soundfile


def write_csd(path: Path, root: str, videos: dict[str, tuple[np.ndarray, np.ndarray]], metadata: dict | None = None) -> Path:
    """A computational sequence: ``/<root>/data/<vid>/{features,intervals}``, ``/<root>/metadata/<key>``."""
    metadata = metadata or {"root name": root, "dimension names": "[]", "computational sequence version": "1.0"}
    with h5py.File(path, "w") as handle:
        group = handle.create_group(root)
        data = group.create_group("data")
        for video_id, (features, intervals) in videos.items():
            video = data.create_group(video_id)
            video.create_dataset("features", data=features)
            video.create_dataset("intervals", data=np.asarray(intervals, dtype=np.float64))
        meta = group.create_group("metadata")
        for key, value in metadata.items():
            meta.create_dataset(key, (1,), dtype=h5py.special_dtype(vlen=str))[0] = value if isinstance(value, str) else json.dumps(value)
    return path


def word_sequence(words: list[str], step: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """SDK words: (n, 1) byte strings with consecutive ``step``-second intervals from 0."""
    features = np.array([[w.encode()] for w in words], dtype="S32")
    intervals = np.array([[k * step, (k + 1) * step] for k in range(len(words))])
    return features, intervals


def frame_sequence(n: int, dim: int, step: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame features (n, dim) with consecutive ``step``-second intervals from 0."""
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((n, dim)).astype(np.float32)
    intervals = np.array([[k * step, (k + 1) * step] for k in range(n)])
    return features, intervals


def mmsa_split(ids: list[str], aligned: bool, seed: int, dims=(768, 5, 20), seq_len=50, with_tav=True) -> dict:
    """One split of an MMSA pickle, with MMSA's keys and shapes."""
    rng = np.random.default_rng(seed)
    n = len(ids)
    text_len = rng.integers(3, seq_len, size=n)
    mask = (np.arange(seq_len)[None, :] < text_len[:, None]).astype(np.float32)
    text_bert = np.stack([rng.integers(100, 1000, size=(n, seq_len)).astype(np.float32) * mask, mask, np.zeros_like(mask)], axis=1)
    audio_t = seq_len if aligned else 40
    vision_t = seq_len if aligned else 30
    part = {
        "id": np.array(ids, dtype=object),
        "raw_text": np.array([f"utterance {k}" for k in range(n)], dtype=object),
        "text": rng.standard_normal((n, seq_len, dims[0])).astype(np.float32),
        "text_bert": text_bert,
        "audio": rng.standard_normal((n, audio_t, dims[1])).astype(np.float32),
        "vision": rng.standard_normal((n, vision_t, dims[2])).astype(np.float32),
        "regression_labels": np.round(rng.uniform(-3, 3, size=n), 1).astype(np.float32),
        "annotations": np.array(["Positive"] * n, dtype=object),
    }
    if with_tav:
        for key in "TAV":
            part[f"regression_labels_{key}"] = np.round(rng.uniform(-1, 1, size=n), 1).astype(np.float32)
    if not aligned:
        part["audio_lengths"] = list(rng.integers(1, audio_t + 1, size=n))
        part["vision_lengths"] = list(rng.integers(1, vision_t + 1, size=n))
    return part


def write_pickle(path: Path, data: object) -> Path:
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)
    return path


def write_ravdess_audio(path: Path, seconds: float = 0.05, rate: int = 16000, seed: int = 0) -> Path:
    """A tiny WAV or FLAC (format from the suffix) with a RAVDESS name."""
    path.parent.mkdir(parents=True, exist_ok=True)
    signal = np.random.default_rng(seed).uniform(-0.1, 0.1, int(seconds * rate)).astype(np.float32)
    soundfile.write(path, signal, rate)
    return path


def write_zip(path: Path, files: dict[str, Path]) -> Path:
    """A zip whose members are ``{member name: file}``, like the Zenodo archives (``Actor_XX/...``)."""
    with zipfile.ZipFile(path, "w") as archive:
        for member, source in files.items():
            archive.write(source, member)
    return path
