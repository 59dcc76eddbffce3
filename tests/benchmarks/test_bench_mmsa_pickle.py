"""MMSA pickle -> unified Arrow dataset: conversion time, one epoch read back, and peak memory,
against a plain ``pickle.load`` of the same file.

The pickle has MOSEI's unaligned MMSA layout and shapes (text (N, 50, 768), text_bert
(N, 3, 50), audio (N, 500, 74), vision (N, 500, 35), lengths, labels) with N = 22,856 x
``MSA_BENCH_SCALE`` (default 0.005, so CI runs it in seconds; 1.0 is the full MOSEI size, about
8.5 GB). Times come from pytest-benchmark; peak memory is measured in a fresh subprocess per phase
and stored in each benchmark's ``extra_info`` (see ``peak_memory.py``). Linux only (``/proc``).

    MSA_BENCH_SCALE=0.1 python -m pytest tests/benchmarks/test_bench_mmsa_pickle.py -m benchmark -s
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from peak_memory import measured

MOSEI_SPLITS = {"train": 16326, "valid": 1871, "test": 4659}
SCALE = float(os.environ.get("MSA_BENCH_SCALE", "0.005"))
TEXT_LEN, AUDIO_LEN, VISION_LEN = 50, 500, 500
DIMS = {"text": 768, "audio": 74, "vision": 35}


def write_mosei_sized_pickle(path: Path, scale: float, seed: int = 0) -> int:
    """An MMSA ``unaligned_50.pkl`` with MOSEI's shapes; returns the number of clips."""
    rng = np.random.default_rng(seed)
    data = {}
    for split, size in MOSEI_SPLITS.items():
        n = max(2, round(size * scale))
        text_len = rng.integers(5, TEXT_LEN + 1, size=n)
        mask = (np.arange(TEXT_LEN)[None, :] < text_len[:, None]).astype(np.float32)
        data[split] = {
            "id": np.array([f"{split}{k // 10:05d}$_${k % 10}" for k in range(n)], dtype=object),
            "raw_text": np.array([f"clip {k}" for k in range(n)], dtype=object),
            "text": rng.standard_normal((n, TEXT_LEN, DIMS["text"]), dtype=np.float32),
            "text_bert": np.stack([mask * 101, mask, np.zeros_like(mask)], axis=1),
            "audio": rng.standard_normal((n, AUDIO_LEN, DIMS["audio"]), dtype=np.float32),
            "vision": rng.standard_normal((n, VISION_LEN, DIMS["vision"]), dtype=np.float32),
            "audio_lengths": rng.integers(50, AUDIO_LEN + 1, size=n).tolist(),
            "vision_lengths": rng.integers(50, VISION_LEN + 1, size=n).tolist(),
            "regression_labels": rng.uniform(-3, 3, size=n).astype(np.float32),
            "annotations": np.array(["Neutral"] * n, dtype=object),
        }
    with open(path, "wb") as handle:
        pickle.dump(data, handle, protocol=4)
    return sum(len(part["id"]) for part in data.values())


def plain_pickle_load(path: Path) -> int:
    with open(path, "rb") as handle:
        data = pickle.load(handle)
    return sum(len(part["id"]) for part in data.values())


def convert(data_dir: Path, cache_dir: Path):
    import msa_bench

    return msa_bench.load_dataset("mosei", data_dir=data_dir, cache_dir=cache_dir)


def read_epoch(data_dir: Path, cache_dir: Path) -> int:
    """Every example of every split once, as padded batches (the dataset is already converted)."""
    import msa_bench

    dataset = convert(data_dir, cache_dir)
    seen = 0
    for split in dataset.values():
        for batch, _ in msa_bench.make_dataloader(split, batch_size=32):
            seen += len(batch)
    return seen


PHASES = {"pickle_load": lambda d, c: plain_pickle_load(d / "unaligned_50.pkl"), "convert": convert, "epoch": read_epoch}


def measure_peak_memory(phase: str, data_dir: Path, cache_dir: Path) -> dict[str, float]:
    """Run ``phase`` in a fresh interpreter and return its peak memory (MiB)."""
    out = subprocess.run(
        [sys.executable, __file__, phase, str(data_dir), str(cache_dir)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _subprocess_main(phase: str, data_dir: str, cache_dir: str) -> None:
    import msa_bench  # noqa: F401  (imports are not part of any phase)

    print(json.dumps(measured(lambda: PHASES[phase](Path(data_dir), Path(cache_dir)))))


@pytest.fixture(scope="module")
def mmsa_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("mmsa")
    clips = write_mosei_sized_pickle(data_dir / "unaligned_50.pkl", SCALE)
    size_mib = (data_dir / "unaligned_50.pkl").stat().st_size / 2**20
    return data_dir, clips, size_mib


def _record(benchmark, phase, data_dir, cache_dir, clips, size_mib):
    benchmark.extra_info.update({"scale": SCALE, "clips": clips, "pickle_mib": round(size_mib, 1), "phase": phase})
    benchmark.extra_info.update(measure_peak_memory(phase, data_dir, cache_dir))
    print(f"\n{phase}: {json.dumps(benchmark.extra_info)}")


def test_bench_plain_pickle_load(benchmark, mmsa_dir, tmp_path):
    data_dir, clips, size_mib = mmsa_dir
    loaded = benchmark.pedantic(plain_pickle_load, args=(data_dir / "unaligned_50.pkl",), rounds=1, iterations=1)
    assert loaded == clips
    _record(benchmark, "pickle_load", data_dir, tmp_path / "unused", clips, size_mib)


def test_bench_convert_to_unified(benchmark, mmsa_dir, tmp_path):
    data_dir, clips, size_mib = mmsa_dir
    dataset = benchmark.pedantic(convert, args=(data_dir, tmp_path / "cache"), rounds=1, iterations=1)
    assert sum(len(split) for split in dataset.values()) == clips
    with open(data_dir / "unaligned_50.pkl", "rb") as handle:
        first = pickle.load(handle)["train"]
    row = dataset["train"].with_format("numpy")[0]
    np.testing.assert_array_equal(row["audio_features"], first["audio"][0][: first["audio_lengths"][0]])
    _record(benchmark, "convert", data_dir, tmp_path / "memory-cache", clips, size_mib)


def test_bench_read_one_epoch(benchmark, mmsa_dir, tmp_path):
    data_dir, clips, size_mib = mmsa_dir
    convert(data_dir, tmp_path / "cache")
    seen = benchmark.pedantic(read_epoch, args=(data_dir, tmp_path / "cache"), rounds=1, iterations=1)
    assert seen == clips
    _record(benchmark, "epoch", data_dir, tmp_path / "cache", clips, size_mib)


if __name__ == "__main__":
    _subprocess_main(*sys.argv[1:4])
