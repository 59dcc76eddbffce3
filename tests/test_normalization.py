"""Feature normalisation in the protocol: fitted on the training split's real frames only, stored in
the record and the checkpoint, applied to training, validation, test and every robustness condition."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from msa_bench.inputs.batching import collate
from msa_bench.models import build_config, get_model_class
from msa_bench.inputs.normalization import SCALER_ATTRIBUTE, FeatureScaler, resolve_mode
from msa_bench.harness.robustness import evaluate_robustness
from msa_bench.worker.train_config import TrainConfig
from msa_bench.harness.training import make_record, train_and_evaluate

SHORT = {"max_epochs": 2, "patience": 2, "lr": 3e-3, "batch_size": 32, "normalize": "standard"}


def affine_audio(split, scale: float, shift: float):
    """``split`` with every audio feature mapped to ``scale * x + shift`` (absent audio stays absent)."""

    def change(row):
        audio = row["audio_features"]
        return {"audio_features": None if audio is None else (np.asarray(audio) * scale + shift).tolist()}

    return split.map(change, load_from_cache_file=False)


def train(dataset, **overrides):
    model_class = get_model_class("lf_dnn")
    config = build_config(model_class, model_class.default_configs["test"]["model"])
    return train_and_evaluate(
        model_class, config, dataset, TrainConfig.from_dict({**SHORT, **overrides}),
        seed=1111, dataset_name="synthetic", progress=False,
    )


def test_auto_is_standard_except_on_the_synthetic_dataset():
    assert resolve_mode("auto", "synthetic") == "none"
    assert resolve_mode("auto", "ravdess") == resolve_mode("auto", "mosi") == "standard"
    assert resolve_mode("none", "ravdess") == "none"
    with pytest.raises(ValueError, match="normalize"):
        TrainConfig(normalize="minmax")


def test_statistics_are_those_of_the_real_training_frames(synthetic_small):
    train_split = synthetic_small["train"]
    scaler = FeatureScaler.fit(train_split, batch_size=37)  # batches that do not divide the split
    frames = np.concatenate([np.asarray(a, dtype=np.float64) for a in train_split["audio_features"] if a is not None])
    stats = scaler.statistics()
    assert stats["audio"]["frames"] == len(frames)
    np.testing.assert_allclose(stats["audio"]["mean"], frames.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(stats["audio"]["std"], frames.std(axis=0), rtol=1e-4)
    batch = collate([train_split[i] for i in range(8)], {"text": 1, **{m: len(stats[m]["mean"]) for m in ("text", "audio", "vision") if m in stats}})
    scaled = scaler(batch)
    for name, modality in scaled.modalities():
        assert (modality.features[~modality.mask] == 0).all(), f"{name}: padding must stay 0"
        assert torch.equal(modality.mask, batch.modality(name).mask)


def test_test_split_never_enters_the_statistics_and_they_are_in_the_record(synthetic_small):
    baseline = train(synthetic_small)
    changed_test = datasets.DatasetDict(synthetic_small, test=affine_audio(synthetic_small["test"], 50.0, 3.0))
    assert train(changed_test).normalization == baseline.normalization
    changed_train = datasets.DatasetDict(synthetic_small, train=affine_audio(synthetic_small["train"], 50.0, 3.0))
    assert train(changed_train).normalization["audio"] != baseline.normalization["audio"]
    record = make_record(baseline)
    assert record.training["normalization"]["fitted_on"] == "train"
    assert record.training["normalization"]["audio"]["mean"] == baseline.normalization["audio"]["mean"]
    assert record.config["train"]["normalize"] == "standard"
    state = baseline.model.state_dict()  # what every checkpoint saves
    assert f"{SCALER_ATTRIBUTE}.audio_mean" in state


def test_rescaled_features_give_the_same_results_everywhere(synthetic_small):
    """Standardised inputs do not depend on the features' units: training, selection, the test
    scores and the robustness conditions (missing frames zeroed, noise scaled) all agree."""
    rescaled = datasets.DatasetDict({split: affine_audio(data, 200.0, -40.0) for split, data in synthetic_small.items()})
    runs = [train(synthetic_small), train(rescaled)]
    assert runs[0].best_epoch == runs[1].best_epoch
    np.testing.assert_allclose(runs[0].test_predictions["sentiment_pred"], runs[1].test_predictions["sentiment_pred"], atol=2e-3)
    sweeps = [
        evaluate_robustness(run.model, data["test"], data["train"], seed=3, levels=(0.0, 0.5, 1.0))
        for run, data in zip(runs, (synthetic_small, rescaled))
    ]
    for key in ("unannounced", "announced"):
        a, b = (s["protocols"][key]["missing_rate"]["audio"]["values"]["mae"] for s in sweeps)
        np.testing.assert_allclose(a, b, atol=2e-3)
    a, b = (s["noise"]["audio"]["values"]["mae"] for s in sweeps)
    np.testing.assert_allclose(a, b, atol=2e-3)


def test_none_leaves_the_model_without_a_scaler(synthetic_small):
    run = train(synthetic_small, normalize="none", max_epochs=1)
    assert run.normalization == {"method": "none"}
    assert not hasattr(run.model, SCALER_ATTRIBUTE)
