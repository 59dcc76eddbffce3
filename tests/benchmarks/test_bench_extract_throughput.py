"""``msa-bench extract`` against the library's own limit, in one run on the same RAVDESS clips:

- Whisper base: the bare CTranslate2 loop (log-mel of each decoded clip, ``Whisper.encode``, one
  clip at a time, the model loaded once) against ``extract --audio whisper-base --workers 2``;
- eGeMAPS LLD: openSMILE's own ``process_signal`` loop on the decoded clips in 2 forked processes
  against ``extract --audio egemaps-lld --workers 2``.

``extract`` runs end to end (listing the files, decoding, extracting, the cache, saving the
dataset) into a fresh folder each round; the bare loops start from audio already decoded in
memory. Each round runs both, one after the other; the reported ratio is the bare loop's median
time over ``extract``'s (1.0: ``extract`` as fast as the bare loop; the goal is >= 0.9).

    MSA_BENCH_THROUGHPUT_CLIPS=240 MSA_BENCH_THROUGHPUT_ROUNDS=5 \\
        python -m pytest tests/benchmarks/test_bench_extract_throughput.py -m benchmark -p no:cacheprovider -s

Audio-seconds per second of both paths and the ratio are in each benchmark's ``extra_info``
(``--benchmark-json``) and printed. Skipped without the shared real data.
"""

from __future__ import annotations

import itertools
import os
import statistics
import time
from multiprocessing import get_context

import numpy as np
import pytest

from msa_bench.data.media import SAMPLE_RATE, read_audio
from msa_bench.features.pipeline import extract, list_clips

CLIPS = int(os.environ.get("MSA_BENCH_THROUGHPUT_CLIPS", "240"))
ROUNDS = int(os.environ.get("MSA_BENCH_THROUGHPUT_ROUNDS", "3"))
WORKERS = 2
_folders = itertools.count()


@pytest.fixture(scope="module")
def ravdess_clips(shared_data):
    """The first ``CLIPS`` recordings (as ``extract --limit`` takes them) and their decoded audio."""
    data_dir = shared_data / "ravdess"
    clips, _, _ = list_clips("ravdess", data_dir, None, None, CLIPS)
    waveforms = [read_audio(c.media) for c in clips]
    return data_dir, waveforms, sum(w.size for w in waveforms) / SAMPLE_RATE


def compare(benchmark, bare, through_extract, audio_seconds: float, label: str) -> None:
    """Both paths once per round; ``extra_info`` gets each one's audio-seconds per second (median
    round) and ``ratio_to_bare``."""
    times: dict[str, list[float]] = {"bare": [], "extract": []}

    def one_round() -> None:
        for path, run in (("bare", bare), ("extract", through_extract)):
            began = time.perf_counter()
            run()
            times[path].append(time.perf_counter() - began)

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1, warmup_rounds=0)
    bare_s, extract_s = statistics.median(times["bare"]), statistics.median(times["extract"])
    benchmark.extra_info.update(
        clips=CLIPS,
        bare_audio_s_per_s=round(audio_seconds / bare_s, 1),
        extract_audio_s_per_s=round(audio_seconds / extract_s, 1),
        ratio_to_bare=round(bare_s / extract_s, 3),
    )
    print(f"\n{label}: extract {audio_seconds / extract_s:.1f}x real time, bare loop {audio_seconds / bare_s:.1f}x: "
          f"{bare_s / extract_s:.2f} of the bare loop ({CLIPS} clips, median of {ROUNDS} rounds)")


def run_extract(data_dir, out_root, audio: str):
    def run():
        result = extract("ravdess", data_dir, out_root / str(next(_folders)), audio=audio, workers=WORKERS, limit=CLIPS, progress=False)
        assert result.summary["audio"]["succeeded"] == CLIPS

    return run


def test_whisper_base_extract_against_bare_ctranslate2(benchmark, ravdess_clips, tmp_path, monkeypatch):
    import ctranslate2
    from transformers import WhisperFeatureExtractor

    from msa_bench.features.whisper_weights import whisper_base_folder

    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "models"))
    data_dir, waveforms, seconds = ravdess_clips
    model = ctranslate2.models.Whisper(str(whisper_base_folder()), device="cpu")
    log_mel = WhisperFeatureExtractor(feature_size=model.n_mels)

    def bare() -> None:
        for waveform in waveforms:
            mel = log_mel(waveform, sampling_rate=SAMPLE_RATE, padding="longest", truncation=False, return_tensors="np")
            np.asarray(model.encode(ctranslate2.StorageView.from_array(mel["input_features"]), to_cpu=True))

    benchmark.group = "extract throughput: whisper-base"
    compare(benchmark, bare, run_extract(data_dir, tmp_path, "whisper-base"), seconds, "Whisper base")


_decoded: list[np.ndarray] = []


def _opensmile_share(share: range) -> int:
    """openSMILE on this process's share of the decoded clips (inherited through fork)."""
    import opensmile

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
    return sum(len(smile.process_signal(_decoded[i], SAMPLE_RATE)) for i in share)


def test_egemaps_extract_against_bare_opensmile(benchmark, ravdess_clips, tmp_path):
    data_dir, waveforms, seconds = ravdess_clips
    _decoded[:] = waveforms
    pool = get_context("fork").Pool(WORKERS)
    shares = [range(i, len(waveforms), WORKERS) for i in range(WORKERS)]

    def bare() -> None:
        assert sum(pool.map(_opensmile_share, shares)) > 0

    benchmark.group = "extract throughput: egemaps-lld"
    try:
        compare(benchmark, bare, run_extract(data_dir, tmp_path, "egemaps-lld"), seconds, "eGeMAPS LLD")
    finally:
        pool.close()
        pool.join()
