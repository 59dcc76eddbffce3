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

from msa_bench.inputs.batching import collate
from msa_bench.data.targets import collate_targets
from msa_bench.models import DataSpec, build_config, count_parameters, get_model_class, model_names

MOSI = {"text": (50, 768), "audio": (375, 5), "vision": (500, 20)}
SPEC = DataSpec(text_dim=768, audio_dim=5, vision_dim=20)
BATCH_SIZE = 32


#: MMSA's aligned MOSI shapes (``need_data_aligned``: every modality on the 50 text steps), EF-LSTM's input there.
ALIGNED = {"text": (50, 768), "audio": (50, 5), "vision": (50, 20)}
#: The configurations compared with the official code (README, "official step"): each model's
#: "mosi" config except MulT, at MMSA's MOSI sizes (ours defaults to yaohungt's); the batch shapes.
COMPARED = {
    "tfn": ({}, MOSI),
    "lmf": ({}, MOSI),
    "ef_lstm": ({}, ALIGNED),
    "mult": ({"dim": 50, "heads": 10, "layers": 4, "attn_dropout": 0.3, "attn_dropout_audio": 0.2,
              "attn_dropout_vision": 0.0, "relu_dropout": 0.0, "res_dropout": 0.0, "embed_dropout": 0.2,
              "text_dropout": 0.5, "out_dropout": 0.5, "positions": False, "kernel_text": 5, "kernel_audio": 5,
              "kernel_vision": 5}, MOSI),
    "misa": ({}, MOSI),
    "almt": ({}, MOSI),
}


def mosi_batch(seed: int = 0, shapes: dict = MOSI):
    """32 clips at ``shapes``; unaligned lengths are drawn between half and full, aligned ones are full."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(BATCH_SIZE):
        row = {"id": f"clip{i}", "text": "", "sentiment": float(rng.uniform(-3, 3))}
        for modality, (length, dim) in shapes.items():
            frames = length if shapes is ALIGNED else int(rng.integers(length // 2, length + 1))
            row[f"{modality}_features"] = rng.standard_normal((frames, dim))
        rows.append(row)
    return collate(rows, {m: dim for m, (_, dim) in shapes.items()}), collate_targets(rows)


def build_mosi_model(name: str, extra: dict | None = None):
    model_class = get_model_class(name)
    overrides = {**model_class.default_configs.get("mosi", {}).get("model", {}), **(extra or {})}
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


@pytest.mark.parametrize("name", sorted(COMPARED))
def test_compared_training_step_cpu(benchmark, name):
    """msa_bench's side of the comparison with the official code, on one thread: the official
    side runs outside this repository (README, "Training-step cost")."""
    torch.set_num_threads(1)
    overrides, shapes = COMPARED[name]
    batch, targets = mosi_batch(shapes=shapes)
    model = build_mosi_model(name, overrides)
    benchmark.extra_info["parameters"] = count_parameters(model)
    rounds = 1 if name == "mult" else 5  # MulT takes tens of seconds per step on one core
    benchmark.pedantic(make_step(model, batch, targets), rounds=rounds, warmup_rounds=1)


def test_mmml_feature_path_default_step_cpu(benchmark):
    """MMML at its class defaults (feature path, width 128); the "mosi" row above has the official
    width 768, which costs about 3.9 TFLOP per step (``baselines.mmml.MMMLConfig``)."""
    torch.set_num_threads(1)
    batch, targets = mosi_batch()
    model_class = get_model_class("mmml")
    torch.manual_seed(0)
    model = model_class(build_config(model_class), SPEC)
    benchmark.extra_info["parameters"] = count_parameters(model)
    benchmark.pedantic(make_step(model, batch, targets), rounds=3, warmup_rounds=1)


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
