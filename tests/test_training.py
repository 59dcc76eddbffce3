"""The training protocol: config checks, determinism, the sealed test split, resuming."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from msa_bench.batching import collate
from msa_bench.models import DataSpec, build_config, get_model_class
from msa_bench.results import load_predictions, load_record
from msa_bench.protocol import run_protocol
from msa_bench.training import (
    EVAL_BATCH_SIZE,
    SealedSplit,
    SealedSplitError,
    TrainConfig,
    drop_modalities,
    eval_batches,
    predictions_of,
    train_and_evaluate,
)

SHORT = {"max_epochs": 3, "patience": 3, "lr": 3e-3, "batch_size": 32}


def run(dataset, seed=1111, run_dir=None, callbacks=(), **train):
    model_class = get_model_class("lf_dnn")
    config = build_config(model_class, model_class.default_configs["test"]["model"])
    return train_and_evaluate(
        model_class,
        config,
        dataset,
        TrainConfig.from_dict({**SHORT, **train}),
        seed=seed,
        dataset_name="synthetic",
        run_dir=run_dir,
        callbacks=callbacks,
        progress=False,
    )


@pytest.mark.parametrize(
    "bad",
    [{"lr": 0}, {"batch_size": 0}, {"optimizer": "sgd"}, {"scheduler": "step"}, {"missing_modality_rate": 1.5},
     {"grad_clip": -1.0}, {"select_metric": "accuracy"}, {"grad_accum_steps": 0}],
)
def test_invalid_train_config_is_rejected(bad):
    with pytest.raises((ValueError, KeyError)):
        TrainConfig(**bad)


def test_unknown_train_config_key_names_the_valid_ones():
    with pytest.raises(ValueError, match="valid fields"):
        TrainConfig.from_dict({"learning_rate": 0.1})


def test_same_seed_gives_identical_records_on_cpu(synthetic_small, tmp_path, monkeypatch):
    # the checkout's commit may move between the two runs (others commit); it is not a result
    monkeypatch.setattr("msa_bench.training.current_git_commit", lambda: "0" * 40)
    paths = [
        run_protocol("lf_dnn", "synthetic", [1111], {"text_hidden": 8}, SHORT, tmp_path / name, dataset=synthetic_small, progress=False)[0]
        for name in ("a", "b")
    ]
    first, second = (load_record(p) for p in paths)
    assert first.identity() == second.identity()
    pd.testing.assert_frame_equal(load_predictions(paths[0]), load_predictions(paths[1]))
    assert first.robustness["modality_drop"] and first.dataset_fingerprint and first.config["train"]["lr"] == SHORT["lr"]


def test_different_seeds_give_different_models(synthetic_small):
    a, b = run(synthetic_small, seed=1111), run(synthetic_small, seed=1112)
    assert not a.test_predictions["sentiment_pred"].equals(b.test_predictions["sentiment_pred"])


def test_sealed_split_refuses_every_read(synthetic_small):
    sealed = SealedSplit(synthetic_small["test"])
    for read in (len, iter, lambda s: s[0], lambda s: s.features, lambda s: s.select([0])):
        with pytest.raises(SealedSplitError):
            read(sealed)
    assert len(sealed.unseal()) == len(synthetic_small["test"])


def test_touching_the_test_split_during_training_fails_the_run(synthetic_small):
    def peek_at_test(trainer, summary):
        trainer.test_split[0]

    with pytest.raises(SealedSplitError):
        run(synthetic_small, callbacks=[peek_at_test])

    def evaluate_test_early(trainer, summary):
        trainer.test_predictions()

    with pytest.raises(SealedSplitError):
        run(synthetic_small, callbacks=[evaluate_test_early])


def test_test_metrics_come_from_the_best_validation_checkpoint(synthetic_small, tmp_path):
    result = run(synthetic_small, run_dir=tmp_path, max_epochs=4, patience=4)
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    best_epoch = min(result.history, key=lambda h: h["val"])["epoch"]
    assert checkpoint["state"]["best_epoch"] == best_epoch
    model_class = get_model_class("lf_dnn")
    fresh = model_class(build_config(model_class, model_class.default_configs["test"]["model"]), DataSpec.from_dataset(synthetic_small))
    fresh.load_state_dict(checkpoint["best_model"])
    again = predictions_of(fresh, eval_batches(synthetic_small["test"], EVAL_BATCH_SIZE), torch.device("cpu"))
    pd.testing.assert_frame_equal(again, result.test_predictions)


def test_interrupted_run_resumes_to_the_same_result(synthetic_small, tmp_path):
    settings = {"max_epochs": 4, "patience": 4, "missing_modality_rate": 0.5, "scheduler": "warmup_cosine"}
    uninterrupted = run(synthetic_small, **settings)

    class Interrupt(Exception):
        pass

    def stop_after_epoch_2(trainer, summary):
        if summary.epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run(synthetic_small, run_dir=tmp_path, callbacks=[stop_after_epoch_2], **settings)
    resumed = run(synthetic_small, run_dir=tmp_path, **settings)
    assert resumed.history == uninterrupted.history
    assert resumed.metrics == uninterrupted.metrics
    pd.testing.assert_frame_equal(resumed.test_predictions, uninterrupted.test_predictions)


def test_resuming_with_another_config_is_refused(synthetic_small, tmp_path):
    run(synthetic_small, run_dir=tmp_path, max_epochs=1)
    with pytest.raises(ValueError, match="different config"):
        run(synthetic_small, run_dir=tmp_path, max_epochs=2)


def test_missing_modality_augmentation_keeps_one_modality(synthetic_small):
    rows = [synthetic_small["train"][i] for i in range(16)]
    batch = collate(rows)
    dropped = drop_modalities(batch, 1.0, torch.Generator().manual_seed(0))
    present = torch.stack([m.present for _, m in dropped.modalities()], dim=1)
    assert present.any(dim=1).all() and not present.all()
    for _, modality in dropped.modalities():
        assert not modality.mask[~modality.present].any()
        assert (modality.features[~modality.present] == 0).all()


def test_cuda_request_without_cuda_is_a_clear_error(synthetic_small):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    model_class = get_model_class("lf_dnn")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        train_and_evaluate(
            model_class, build_config(model_class), synthetic_small, TrainConfig(**SHORT),
            seed=1, dataset_name="synthetic", device="cuda", progress=False,
        )


@pytest.mark.gpu
def test_training_runs_on_cuda(synthetic_small):
    model_class = get_model_class("tfn")
    result = train_and_evaluate(
        model_class, build_config(model_class, model_class.default_configs["test"]["model"]), synthetic_small,
        TrainConfig(**SHORT), seed=1, dataset_name="synthetic", device="cuda", progress=False,
    )
    assert result.device.startswith("cuda") and result.peak_memory_mb > 0


def test_train_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TrainConfig().lr = 1.0
