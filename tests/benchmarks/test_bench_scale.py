"""Scale-out: extraction throughput with the local engine and with 1 and 2 Ray workers on the same
clips, and the wall time of a small sweep on Ray against the sequential local run.

Ray's start-up (once per cluster) is left out: a module fixture starts one local instance.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import soundfile

ray = pytest.importorskip("ray")

from msa_bench.features import extract  # noqa: E402
from msa_bench.scale.data import DatasetSource  # noqa: E402
from msa_bench.scale.ray_extract import extract_on_ray  # noqa: E402
from msa_bench.scale.ray_sweep import sweep_on_ray  # noqa: E402

N_CLIPS = 48
CLIP_SECONDS = 4.0
SWEEP_MODELS = ("lf_dnn", "ef_lstm")
SWEEP_SEEDS = (1111, 1112)
SCHEDULE = {"max_epochs": 3, "patience": 3}
SWEEP_CLIPS = 600


@pytest.fixture(scope="module")
def ray_instance():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    """48 clips of 4 s: a speech-like tone with vibrato and noise, in the MMSA-FET layout."""
    root = tmp_path_factory.mktemp("clips")
    rng = np.random.default_rng(0)
    t = np.arange(int(CLIP_SECONDS * 16_000)) / 16_000
    lines = []
    for k in range(N_CLIPS):
        pitch = 110 + 3 * k + 8 * np.sin(2 * np.pi * 5 * t)
        wave = 0.3 * np.sin(2 * np.pi * np.cumsum(pitch) / 16_000) + 0.02 * rng.standard_normal(t.size)
        (root / "Raw" / f"vid{k // 8}").mkdir(parents=True, exist_ok=True)
        soundfile.write(root / "Raw" / f"vid{k // 8}" / f"{k % 8}.wav", wave.astype(np.float32), 16_000)
        lines.append(f"vid{k // 8},{k % 8},clip {k},0.5,0,0,0,x,train\n")
    (root / "label.csv").write_text("video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n" + "".join(lines))
    return root


def fresh_outputs(tmp_path):
    """A new output folder per round, so every round extracts every clip (no cache hits)."""
    counter = itertools.count()
    return lambda: ((tmp_path / f"round{next(counter)}",), {})


@pytest.mark.parametrize("engine", ["local-1", "local-2", "ray-1", "ray-2"])
def test_extraction_throughput(benchmark, ray_instance, clips_dir, tmp_path, engine):
    kind, workers = engine.split("-")
    if kind == "local":
        run = lambda out: extract("mosi", clips_dir, out, audio="egemaps-lld", workers=int(workers) if workers != "1" else 0, progress=False)  # noqa: E731
    else:
        run = lambda out: extract_on_ray("mosi", clips_dir, out, audio="egemaps-lld", workers=int(workers))  # noqa: E731
    result = benchmark.pedantic(run, setup=fresh_outputs(tmp_path), rounds=3, iterations=1)
    assert result.summary["audio"]["succeeded"] == N_CLIPS
    benchmark.extra_info["clips_per_s"] = N_CLIPS / benchmark.stats.stats.median
    benchmark.extra_info["audio_s_per_s"] = N_CLIPS * CLIP_SECONDS / benchmark.stats.stats.median


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    source = DatasetSource("synthetic", cache_dir=str(tmp_path_factory.mktemp("synthetic")), options=(("n_clips", SWEEP_CLIPS),))
    source.load()
    return source


@pytest.mark.parametrize("engine", ["local-sequential", "local-sequential-1-thread", "ray"])
def test_sweep_wall_time(benchmark, ray_instance, source, tmp_path, engine):
    """The same 4 runs (2 models x 2 seeds, robustness included). Ray runs 2 tasks at once, each
    with 1 torch thread; the local run is sequential with torch's default threads, or with 1."""
    import torch

    from msa_bench.harness.protocol import run_protocol

    def sequential(out):
        for model in SWEEP_MODELS:
            run_protocol(model, "synthetic", SWEEP_SEEDS, train_overrides=SCHEDULE, records_dir=out, dataset=source.load(), progress=False)

    def on_ray(out):
        outcome = sweep_on_ray(SWEEP_MODELS, source, SWEEP_SEEDS, out, train_overrides=SCHEDULE, echo=lambda line: None)
        assert not outcome.failed

    threads = torch.get_num_threads()
    if engine == "local-sequential-1-thread":
        torch.set_num_threads(1)
    try:
        run = on_ray if engine == "ray" else sequential
        benchmark.pedantic(run, setup=fresh_outputs(tmp_path), rounds=2, iterations=1, warmup_rounds=1)
    finally:
        torch.set_num_threads(threads)
    benchmark.extra_info["torch_threads"] = 1 if engine != "local-sequential" else threads
    assert len(list(tmp_path.rglob("seed*.json"))) == 3 * len(SWEEP_MODELS) * len(SWEEP_SEEDS)
