"""Feature-extraction throughput on real files: eGeMAPS LLD extraction in audio-seconds per
wall-second (``extract`` end to end with 1 and 2 worker processes, beside openSMILE alone in one
process on the already decoded audio, the ceiling), MiniLM sentences per second, PyAV
video-decode frames per second.

``MSA_BENCH_RAVDESS_CLIPS`` RAVDESS recordings (default 48; 1200 is the whole shared copy):

    MSA_BENCH_RAVDESS_CLIPS=1200 python -m pytest tests/benchmarks/test_bench_features.py -m benchmark -k egemaps -p no:cacheprovider

Throughputs are in each benchmark's ``extra_info`` (shown with ``--benchmark-json``) and printed.
"""

from __future__ import annotations

import itertools
import os
import time

import pandas as pd
import pytest
from feature_media import minilm_path

from msa_bench.features import build_extractor
from msa_bench.features.base import Failure
from msa_bench.features.pipeline import extract, list_clips
from msa_bench.data.media import SAMPLE_RATE, read_audio, read_frames

CLIPS = int(os.environ.get("MSA_BENCH_RAVDESS_CLIPS", "48"))
_counter = itertools.count()


@pytest.fixture(scope="module")
def ravdess_sample(shared_data):
    clips, _, _ = list_clips("ravdess", shared_data / "ravdess", None, None, CLIPS)
    waveforms = [read_audio(c.media) for c in clips]
    return clips, waveforms, sum(len(w) for w in waveforms) / SAMPLE_RATE


def _report(benchmark, name: str, amount: float, unit: str) -> None:
    rate = amount / benchmark.stats.stats.median
    benchmark.extra_info[name] = round(rate, 1)
    print(f"\n{name}: {rate:.1f} {unit}")


def test_egemaps_opensmile_alone(benchmark, ravdess_sample, monkeypatch):
    """The ceiling: openSMILE on decoded 16 kHz audio, one configured ``Smile``, one process; and
    the share of it spent in openSMILE's own run loop (``OpenSMILE.run``: the native feature
    computation and its per-frame sink callbacks), which no wrapper can make faster."""
    from opensmile.core.lib import OpenSMILE

    _, waveforms, seconds = ravdess_sample
    benchmark.group = "egemaps"
    extractor = build_extractor("audio", "egemaps-lld")
    in_run = []
    native_run = OpenSMILE.run

    def timed_run(self):
        began = time.perf_counter()
        native_run(self)
        in_run.append(time.perf_counter() - began)

    monkeypatch.setattr(OpenSMILE, "run", timed_run)
    outputs = benchmark.pedantic(extractor.extract, args=(waveforms,), rounds=1, iterations=1, warmup_rounds=0)
    assert not any(isinstance(o, Failure) for o in outputs) and len(in_run) == len(waveforms)
    _report(benchmark, "audio_s_per_s", seconds, "audio-seconds per second (openSMILE eGeMAPS LLD alone, 1 process)")
    benchmark.extra_info["run_loop_audio_s_per_s"] = round(seconds / sum(in_run), 1)
    benchmark.extra_info["run_loop_share"] = round(sum(in_run) / benchmark.stats.stats.median, 3)
    print(f"openSMILE's run loop alone: {seconds / sum(in_run):.1f} audio-seconds per second, "
          f"{sum(in_run) / benchmark.stats.stats.median:.0%} of the time")


@pytest.mark.parametrize("workers", [1, 2], ids=["1-worker", "2-workers"])
def test_egemaps_extract(benchmark, shared_data, ravdess_sample, tmp_path, workers):
    """``msa-bench extract --audio egemaps-lld`` end to end: decode, openSMILE, IPC, cache, save."""
    clips, _, seconds = ravdess_sample
    benchmark.group = "egemaps"

    def run():
        return extract("ravdess", shared_data / "ravdess", tmp_path / str(next(_counter)), audio="egemaps-lld",
                       workers=workers, limit=CLIPS, progress=False)

    result = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    assert result.summary["audio"]["succeeded"] == len(clips)
    _report(benchmark, "audio_s_per_s", seconds, f"audio-seconds per second (extract, eGeMAPS LLD, {workers} workers)")


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
