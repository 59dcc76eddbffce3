"""Training-step cost of every registered model at CMU-MOSI dimensions (MMSA's unaligned features).

One step = forward, ``compute_loss``, backward and an Adam step on a batch of 32 with text
50×768, audio up to 375×5 and vision up to 500×20 (lengths drawn between half and full), with
each model's "mosi" config on the precomputed-feature path (``text_encoder`` / ``audio_encoder``
None: fine-tuning BERT would dominate every row alike). ``extra_info`` records the parameter
count and the peak memory: on CUDA ``max_memory_allocated``; on CPU (Linux) the growth of the peak
resident set size while building the model and running one step (the optimizer state is
allocated in it), measured in a fresh process whose peak is first reset to its current size, so
that neither the imports nor earlier models count.

    python -m pytest tests/benchmarks/test_bench_models.py -m benchmark
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from pathlib import Path

import numpy as np
import pytest
import torch

from msa_bench.batching import collate
from msa_bench.targets import collate_targets
from msa_bench.models import DataSpec, build_config, count_parameters, get_model_class, model_names

MOSI = {"text": (50, 768), "audio": (375, 5), "vision": (500, 20)}
SPEC = DataSpec(text_dim=768, audio_dim=5, vision_dim=20)
BATCH_SIZE = 32


def mosi_batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(BATCH_SIZE):
        row = {"id": f"clip{i}", "text": "", "sentiment": float(rng.uniform(-3, 3))}
        for modality, (length, dim) in MOSI.items():
            row[f"{modality}_features"] = rng.standard_normal((int(rng.integers(length // 2, length + 1)), dim))
        rows.append(row)
    return collate(rows, {m: dim for m, (_, dim) in MOSI.items()}), collate_targets(rows)


def build_mosi_model(name: str):
    model_class = get_model_class(name)
    overrides = dict(model_class.default_configs.get("mosi", {}).get("model", {}))
    fields = {f.name for f in dataclasses.fields(model_class.config_class)}
    overrides.update({key: None for key in ("text_encoder", "audio_encoder") if key in fields})
    torch.manual_seed(0)
    return model_class(build_config(model_class, overrides), SPEC)


def make_step(model, batch, targets):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    model.train()

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        model.compute_loss(model(batch), targets).backward()
        optimizer.step()
        if targets.sentiment.is_cuda:
            torch.cuda.synchronize()

    return step


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def _peak_rss_growth_mb(name: str) -> float:
    """In a fresh process: peak RSS growth (MiB) from building ``name`` and one training step.

    Writing 5 to ``clear_refs`` resets the peak (VmHWM) to the current RSS; ``ru_maxrss`` would
    not do here, as a spawned child inherits its parent's high-water mark across fork and exec.
    """
    torch.set_num_threads(1)
    batch, targets = mosi_batch()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_mib("VmRSS")
    make_step(build_mosi_model(name), batch, targets)()
    return _status_mib("VmHWM") - before


@pytest.mark.parametrize("name", model_names())
def test_training_step_cpu(benchmark, name):
    batch, targets = mosi_batch()
    model = build_mosi_model(name)
    step = make_step(model, batch, targets)
    if Path("/proc/self/clear_refs").exists():
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            benchmark.extra_info["peak_memory_mb"] = round(pool.apply(_peak_rss_growth_mb, (name,)), 1)
    benchmark.extra_info["parameters"] = count_parameters(model)
    benchmark.pedantic(step, rounds=1, warmup_rounds=1)  # the largest models take minutes per step on one core


@pytest.mark.gpu
@pytest.mark.parametrize("name", model_names())
def test_training_step_cuda(benchmark, name):
    device = torch.device("cuda")
    batch, targets = mosi_batch()
    batch, targets = batch.to(device), targets.to(device)
    model = build_mosi_model(name).to(device)
    step = make_step(model, batch, targets)
    step()
    torch.cuda.reset_peak_memory_stats(device)
    step()
    peak = torch.cuda.max_memory_allocated(device) / 2**20
    benchmark.extra_info.update({"parameters": count_parameters(model), "peak_memory_mb": round(peak, 1)})
    benchmark.pedantic(step, rounds=10, warmup_rounds=2)
