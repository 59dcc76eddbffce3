"""Harness speed: evaluation throughput of TFN on the synthetic test split, and a full robustness
sweep (both protocols, the noise curves; 117 evaluations) against one clean evaluation.

    python -m pytest tests/benchmarks/test_bench_harness.py -m benchmark
"""

from __future__ import annotations

import pytest
import torch

from msa_bench.models import DataSpec, build_config, get_model_class
from msa_bench.harness.robustness import evaluate_robustness
from msa_bench.worker.evaluation import predictions_of
from msa_bench.inputs.loader import EVAL_BATCH_SIZE, eval_batches
from msa_bench.scoring.metrics import compute_metrics


@pytest.fixture(scope="module")
def tfn(synthetic_default):
    model_class = get_model_class("tfn")
    torch.manual_seed(0)
    model = model_class(build_config(model_class, model_class.default_configs["synthetic"]["model"]), DataSpec.from_dataset(synthetic_default))
    eval_batches(synthetic_default["test"], EVAL_BATCH_SIZE)  # rows read into memory, as after training
    return model.eval()


def clean_evaluation(model, test):
    """What the trainer does once per run at the end: batches, predictions table, metrics."""
    return compute_metrics(predictions_of(model, eval_batches(test, EVAL_BATCH_SIZE), torch.device("cpu")))


def test_clean_evaluation_throughput(benchmark, tfn, synthetic_default):
    test = synthetic_default["test"]
    metrics = benchmark.pedantic(clean_evaluation, args=(tfn, test), rounds=10, warmup_rounds=1)
    assert "mae" in metrics
    benchmark.extra_info["examples"] = len(test)
    benchmark.extra_info["examples_per_s"] = len(test) / benchmark.stats.stats.median


def test_robustness_sweep(benchmark, tfn, synthetic_default):
    sweep = benchmark.pedantic(evaluate_robustness, args=(tfn, synthetic_default["test"], synthetic_default["train"]), rounds=3, warmup_rounds=0)
    assert [len(protocol["modality_drop"]) for protocol in sweep["protocols"].values()] == [7, 7]
