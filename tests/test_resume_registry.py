"""Exact resume for every registered model: a run killed after epoch 1 and resumed from its
checkpoint ends with the same history, metrics and test predictions as an uninterrupted run.
Runs last three epochs because a Self-MM label moved in epoch 2 is first read in epoch 3.

Models keep training state outside their parameters (Self-MM's and AdaFN-AG's label memories
and epoch counters, MMIM's entropy memory); the model API declares it (``training_state``) and
the checkpoint saves it, so a resumed run does not regenerate labels as if at epoch 1.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from msa_bench.models import build_config, get_model_class, model_names
from msa_bench.worker.train_config import TrainConfig
from msa_bench.harness.training import train_and_evaluate


class Killed(Exception):
    pass


def _run(name: str, dataset, run_dir=None, callbacks=()):
    model_class = get_model_class(name)
    schedule = model_class.default_configs.get("synthetic", {}).get("train", {})
    train = TrainConfig.from_dict({**schedule, "max_epochs": 3, "patience": 3, "batch_size": 64, "num_workers": 0})
    sizes = model_class.default_configs.get("synthetic", model_class.default_configs["test"]).get("model", {})
    config = build_config(model_class, sizes)
    return train_and_evaluate(
        model_class, config, dataset, train, seed=5, dataset_name="synthetic", run_dir=run_dir,
        callbacks=callbacks, progress=False,
    )


@pytest.mark.parametrize("name", model_names())
def test_a_run_killed_after_epoch_1_resumes_to_the_uninterrupted_result(name, synthetic_small, tmp_path):
    uninterrupted = _run(name, synthetic_small)

    def kill_after_epoch_1(summary):
        if summary.epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        _run(name, synthetic_small, tmp_path, [kill_after_epoch_1])
    resumed = _run(name, synthetic_small, tmp_path)
    assert resumed.history == uninterrupted.history
    assert _comparable(resumed.metrics) == _comparable(uninterrupted.metrics)
    pd.testing.assert_frame_equal(resumed.test_predictions, uninterrupted.test_predictions)


def _comparable(metrics: dict[str, float]) -> dict[str, float | None]:
    return {name: None if math.isnan(value) else value for name, value in metrics.items()}


def test_declared_training_state_is_what_the_checkpoint_restores(synthetic_small, tmp_path):
    """Self-MM's label memory after epoch 1 is in the checkpoint and comes back on resume."""
    import torch

    def kill_after_epoch_1(summary):
        if summary.epoch == 1:
            raise Killed

    with pytest.raises(Killed):
        _run("self_mm", synthetic_small, tmp_path, [kill_after_epoch_1])
    saved = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model_training_state"]
    assert saved["completed_epochs"] == 1
    assert len(saved["ulgm"]["ids"]) == len(synthetic_small["train"])
    assert set(saved["ulgm"]["label_memory"]) == {"fusion", "text", "audio", "vision"}
