"""The cost of the submission boundary: a full ``msa-bench train`` with and without it.

Each round trains one model on the default synthetic dataset with its "synthetic" schedule and the
quick robustness grid, once across the boundary (sandboxed training and evaluation workers, the
data written as shards) and once in this process (the benchmark's internal switch: the protocol's
``run_isolated`` replaced by the same training in this process). Rounds alternate, so both see the
same machine. ``extra_info``: the median seconds of each, the fixed cost per run (boundary minus
in-process) and the overhead ratio. Goals: at most 5 % overhead for runs of a minute or more
(MulT), and a fixed cost small enough for the 20-model main job to stay within 300 s.
"""

from __future__ import annotations

import statistics
import time

import pytest
import torch
from typer.testing import CliRunner

import msa_bench.harness.protocol as protocol
from msa_bench.cli import app
from msa_bench.harness.boundary import WorkerRun
from msa_bench.harness.training import train_and_evaluate
from msa_bench.models import build_config, get_model_class
from msa_bench.worker.train_config import TrainConfig

ROUNDS = 2


def _in_process(model, model_config, train_config, dataset, *, dataset_name, seed, run_dir, normalize, identity, device="cpu",
                threads=1, robustness_levels=None, progress=False, access=None, nproc=1, isolation=None, evaluate=True) -> WorkerRun:
    """``run_isolated`` without the boundary: the same training, evaluation and sweep in this process."""
    model_class = get_model_class(model)
    run = train_and_evaluate(
        model_class, build_config(model_class, model_config), dataset, TrainConfig.from_dict(train_config), seed=seed,
        dataset_name=dataset_name, device=device, run_dir=run_dir, progress=progress, robustness_levels=robustness_levels,
    )
    trained = {"history": run.history, "best_epoch": run.best_epoch, "n_parameters": run.n_parameters,
               "peak_memory_mb": run.peak_memory_mb, "normalization": run.normalization, "validation_metrics": {}}
    return WorkerRun(run.test_predictions, run.robustness, trained, "none")


def _train(model: str, workspace) -> float:
    started = time.perf_counter()
    result = CliRunner().invoke(app, ["train", model, "--dataset", "synthetic", "--seed", "1111", "--workspace", str(workspace)])
    assert result.exit_code == 0, result.output
    return time.perf_counter() - started


@pytest.mark.parametrize("model", ["lf_dnn", "mult"])
def test_boundary_overhead(benchmark, model, tmp_path, monkeypatch, synthetic_default):
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))
    torch.set_num_threads(1)
    _train(model, tmp_path / "warm")  # builds the dataset cache once
    inside, rounds = [], iter(range(ROUNDS))

    def in_process_first():
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(protocol, "run_isolated", _in_process)
            inside.append(_train(model, tmp_path / f"inside{next(rounds)}"))
        return (), {}

    across = iter(range(ROUNDS))
    benchmark.pedantic(lambda: _train(model, tmp_path / f"across{next(across)}"), setup=in_process_first, rounds=ROUNDS, iterations=1)
    boundary, plain = benchmark.stats.stats.median, statistics.median(inside)
    benchmark.extra_info.update({
        "boundary_s": round(boundary, 2), "in_process_s": round(plain, 2),
        "fixed_cost_s": round(boundary - plain, 2), "overhead_ratio": round(boundary / plain, 3),
    })
