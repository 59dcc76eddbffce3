"""Feature-extraction throughput on real files: openSMILE audio-seconds per wall-second (1 worker
and all cores), MiniLM sentences per second, PyAV video-decode frames per second.

    python -m pytest tests/benchmarks/test_bench_features.py -m benchmark

Throughputs are in each benchmark's ``extra_info`` (shown with ``--benchmark-json``) and printed.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest
from feature_media import minilm_path

from msa_bench.features import build_extractor
from msa_bench.features.clips import ravdess_clips
from msa_bench.features.pipeline import _decode_and_extract, _worker_context
from msa_bench.media import SAMPLE_RATE, read_audio, read_frames


@pytest.fixture(scope="module")
def ravdess_sample(shared_data):
    clips = ravdess_clips(shared_data / "ravdess")[:48]
    seconds = sum(len(read_audio(c.media)) for c in clips) / SAMPLE_RATE
    return clips, seconds


def _report(benchmark, name: str, amount: float, unit: str) -> None:
    rate = amount / benchmark.stats.stats.median
    benchmark.extra_info[name] = round(rate, 1)
    print(f"\n{name}: {rate:.1f} {unit}")


@pytest.mark.parametrize("workers", [1, os.cpu_count()], ids=["1-worker", "all-cores"])
def test_opensmile_audio_seconds_per_second(benchmark, ravdess_sample, workers):
    clips, seconds = ravdess_sample
    extractor = build_extractor("audio", "egemaps-lld")

    def run():
        with ProcessPoolExecutor(workers, mp_context=_worker_context()) as pool:
            return list(pool.map(_decode_and_extract, [extractor] * len(clips), clips, [5.0] * len(clips)))

    results = benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)
    assert all(not hasattr(r, "reason") for r in results)
    _report(benchmark, f"opensmile_audio_s_per_s_{workers}_workers", seconds, "audio-seconds per second (decode + eGeMAPS LLD)")


def test_minilm_sentences_per_second(benchmark, shared_data):
    sentences = pd.read_csv(shared_data / "mosi" / "label.csv")["text"].tolist()[:256]
    extractor = build_extractor("text", str(minilm_path()))

    def run():
        return [out for start in range(0, len(sentences), 64) for out in extractor.extract(sentences[start : start + 64])]

    assert len(benchmark.pedantic(run, rounds=3, iterations=1, warmup_rounds=1)) == len(sentences)
    _report(benchmark, "minilm_sentences_per_s", len(sentences), "sentences per second (MiniLM, batch 64, CPU)")


def test_video_decode_frames_per_second(benchmark, shared_data):
    clip = shared_data / "mosi" / "clips" / "Oz06ZWiO20M_6.mp4"
    frames, _ = benchmark.pedantic(lambda: read_frames(clip, fps=30), rounds=5, iterations=1, warmup_rounds=1)
    _report(benchmark, "video_decode_frames_per_s", len(frames), "frames per second (480x360 H.264 to RGB)")
