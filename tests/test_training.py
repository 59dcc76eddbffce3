"""The training protocol: config checks, determinism, the test split out of the trainer's reach,
labels out of the model's reach, failing loudly instead of testing untrained weights, resuming."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import torch

from msa_bench.inputs.batching import Batch, collate
from msa_bench.util.errors import ConfigError
from msa_bench.worker.evaluation import predictions_of
from msa_bench.inputs.loader import EVAL_BATCH_SIZE, eval_batches
from msa_bench.models import DataSpec, build_config, get_model_class
from msa_bench.harness.protocol import run_protocol
from msa_bench.records.record import load_predictions, load_record
from msa_bench.worker.train_config import TrainConfig
from msa_bench.inputs.corruption import drop_modalities
from msa_bench.worker.trainer import EpochSummary, Trainer, TrainingFailed
from msa_bench.harness.training import train_and_evaluate

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
    monkeypatch.setattr("msa_bench.harness.training.current_git_commit", lambda: "0" * 40)
    paths = [
        run_protocol("lf_dnn", "synthetic", [1111], {"text_hidden": 8}, SHORT, tmp_path / name, dataset=synthetic_small, progress=False)[0]
        for name in ("a", "b")
    ]
    first, second = (load_record(p) for p in paths)
    assert first.identity() == second.identity()
    pd.testing.assert_frame_equal(load_predictions(paths[0]), load_predictions(paths[1]))
    assert first.robustness and first.dataset_fingerprint and first.config["train"]["lr"] == SHORT["lr"]


def test_different_seeds_give_different_models(synthetic_small):
    a, b = run(synthetic_small, seed=1111), run(synthetic_small, seed=1112)
    assert not a.test_predictions["sentiment_pred"].equals(b.test_predictions["sentiment_pred"])


def test_the_trainer_takes_no_test_split_and_callbacks_get_a_frozen_summary(synthetic_small):
    """The trainer is built from train and validation only; a callback sees a read-only summary."""
    seen = []

    def test_reading_callback(summary):
        seen.append(summary)
        for reach in ("trainer", "model", "test_split", "test_predictions", "dataset"):
            assert not hasattr(summary, reach)
        with pytest.raises(dataclasses.FrozenInstanceError):
            summary.best_epoch = 0

    run(synthetic_small, callbacks=[test_reading_callback])
    assert [s.epoch for s in seen] == [1, 2, 3] and all(isinstance(s, EpochSummary) for s in seen)
    with pytest.raises(TypeError):
        Trainer(None, TrainConfig(), synthetic_small["train"], synthetic_small["validation"], synthetic_small["test"])


def test_a_callback_written_for_the_trainer_cannot_reach_the_test_split(synthetic_small):
    def peek_at_test(summary):
        summary.test_split[0]

    with pytest.raises(AttributeError):
        run(synthetic_small, callbacks=[peek_at_test])


def test_evaluation_hands_the_model_inputs_only(synthetic_small):
    """At validation and test time a model receives a Batch, which has no label field."""
    from msa_bench.models import MSAModel, TaskHeads

    received = []

    class Spy(MSAModel):
        def __init__(self, config, spec):
            super().__init__(config, spec)
            self.heads = TaskHeads(1, self.tasks, spec)

        def forward(self, batch):
            received.append(batch)
            return self.heads(batch.audio.features.mean(dim=(1, 2)).unsqueeze(-1))

    from msa_bench.models import ModelConfig

    train_and_evaluate(Spy, ModelConfig(), synthetic_small, TrainConfig(**SHORT), seed=0, dataset_name="synthetic", progress=False)
    assert received and all(type(b) is Batch for b in received)
    label_fields = {"sentiment", "emotions", "emotion", "polarity"}
    assert not label_fields & {f.name for f in dataclasses.fields(Batch)}


def test_a_label_reading_model_cannot_be_written_against_the_api(synthetic_small):
    from msa_bench.models import ModelConfig, ModelOutput, MSAModel

    class Oracle(MSAModel):
        def forward(self, batch):
            return ModelOutput(sentiment=batch.sentiment)

    with pytest.raises(AttributeError, match="sentiment"):
        train_and_evaluate(Oracle, ModelConfig(), synthetic_small, TrainConfig(**SHORT), seed=0, dataset_name="synthetic", progress=False)


def test_nan_validation_at_every_epoch_fails_instead_of_testing_initial_weights(synthetic_small):
    from msa_bench.models import ModelConfig, MSAModel, TaskHeads

    class Constant(MSAModel):
        """Predicts the same value everywhere: Pearson correlation is NaN at every epoch."""

        def __init__(self, config, spec):
            super().__init__(config, spec)
            self.heads = TaskHeads(1, self.tasks, spec)

        def forward(self, batch):
            return self.heads(torch.zeros(len(batch), 1))

    with pytest.raises(TrainingFailed, match="NaN at every epoch"):
        train_and_evaluate(
            Constant, ModelConfig(), synthetic_small, TrainConfig(**{**SHORT, "select_metric": "corr"}),
            seed=0, dataset_name="synthetic", progress=False,
        )


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

    def stop_after_epoch_2(summary):
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
    with pytest.raises(ConfigError, match="written by another run .it differs in: train"):
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
    # removed text loses its transcript too (encoder-path models read transcripts)
    assert all((text == "") == (not present) for text, present in zip(dropped.raw_text, dropped.text.present.tolist()))


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


@pytest.mark.slow
def test_compiled_training_matches_eager_training(synthetic_small):
    """``compile=True`` runs the same training through torch.compile: the same predictions up
    to float reordering."""
    eager = run(synthetic_small, max_epochs=1)
    torch._dynamo.reset()
    compiled = run(synthetic_small, max_epochs=1, compile=True)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # the forward was compiled
    pd.testing.assert_series_equal(
        compiled.test_predictions["sentiment_pred"], eager.test_predictions["sentiment_pred"], atol=1e-4, rtol=0
    )


def test_the_boundary_and_this_process_give_the_same_predictions(synthetic_small, tmp_path):
    """A run across the submission boundary trains and predicts exactly as the same run in this
    process (the shards keep the training order; the test inputs are predicted in one fixed order)."""
    from msa_bench.worker.configs import resolve_configs

    [path] = run_protocol("lf_dnn", "synthetic", [1111], {"text_hidden": 8}, SHORT, tmp_path, dataset=synthetic_small,
                          progress=False, robustness=False, threads=torch.get_num_threads())
    model_class = get_model_class("lf_dnn")
    model_config, train_config = resolve_configs(model_class, "synthetic", {"text_hidden": 8}, SHORT)
    here = train_and_evaluate(model_class, model_config, synthetic_small, train_config, seed=1111, dataset_name="synthetic", progress=False)
    pd.testing.assert_frame_equal(load_predictions(path), here.test_predictions)
    assert load_record(path).isolation == "sandbox" and here.isolation == "none"


def test_a_checkpoint_of_another_run_is_refused_naming_what_differs(synthetic_small, tmp_path):
    model_class = get_model_class("lf_dnn")
    config = build_config(model_class, model_class.default_configs["test"]["model"])

    def trainer(identity):
        torch.manual_seed(0)
        model = model_class(config, DataSpec.from_dataset(synthetic_small))
        return Trainer(model, TrainConfig(**{**SHORT, "max_epochs": 1}), synthetic_small["train"], synthetic_small["validation"],
                       seed=1, device=torch.device("cpu"), run_dir=tmp_path, identity=identity, progress=False)

    trainer({"dataset_fingerprint": "aaaa", "feature_dims": {"text": 32}}).fit()
    assert trainer({"dataset_fingerprint": "aaaa", "feature_dims": {"text": 32}}).fit() is not None  # the same run resumes
    with pytest.raises(ConfigError, match=r"checkpoint.pt: .*differs in: dataset_fingerprint.*Delete the file to start"):
        trainer({"dataset_fingerprint": "bbbb", "feature_dims": {"text": 32}}).fit()
    (tmp_path / "checkpoint.pt").write_bytes((tmp_path / "checkpoint.pt").read_bytes()[:100])
    with pytest.raises(ConfigError, match=r"checkpoint.pt: unreadable checkpoint"):
        trainer({"dataset_fingerprint": "aaaa", "feature_dims": {"text": 32}}).fit()


def test_a_training_stage_with_nothing_to_fit_on_the_data_is_skipped(synthetic_small):
    """MMIM's estimator pass fits I(text; audio) and I(text; vision): on text alone its loss has no
    trainable input, so that pass steps nothing and the main pass trains (as on MOSI transcripts)."""
    text_alone = synthetic_small.map(lambda row: {"audio_features": None, "vision_features": None, "emotions": None, "emotion": None})
    assert DataSpec.from_dataset(text_alone).tasks == ("sentiment",)  # MOSI's: no emotion head adds to the pass's loss
    model_class = get_model_class("mmim")
    config = build_config(model_class, model_class.default_configs["test"]["model"])
    run = train_and_evaluate(model_class, config, text_alone, TrainConfig.from_dict({**SHORT, "max_epochs": 1}), seed=1111,
                             dataset_name="synthetic", progress=False)
    assert len(run.history) == 1 and run.history[0]["train_loss"] > 0
    assert run.test_predictions["sentiment_pred"].nunique() > 1
