"""Robustness conditions: the transforms, and the sweep on a model trained on synthetic data."""

from __future__ import annotations

import json

import pytest
import torch

from msa_bench.batching import collate
from msa_bench.models import build_config, get_model_class
from msa_bench.robustness import (
    DROP_CONDITIONS,
    LEVELS,
    QUICK_LEVELS,
    area_under_curve,
    drop,
    evaluate_robustness,
    gaussian_noise,
    missing_frames,
    primary_metric,
    token_corruption,
)
from msa_bench.training import TrainConfig, train_and_evaluate

#: Tolerance of "monotone within noise": one curve step may rise by this much (about 15 of the
#: ~580 non-neutral test examples of the default synthetic dataset).
TOLERANCE = 0.025


@pytest.fixture(scope="module")
def trained(synthetic_default):
    """LF-DNN trained with its ``msa-bench run`` schedule; the sweep on the 625 test clips."""
    model_class = get_model_class("lf_dnn")
    defaults = model_class.default_configs["synthetic"]
    config = build_config(model_class, defaults["model"])
    run = train_and_evaluate(
        model_class, config, synthetic_default, TrainConfig.from_dict(defaults["train"]),
        seed=1111, dataset_name="synthetic", progress=False,
    )
    return run.model, evaluate_robustness(run.model, synthetic_default["test"], seed=1111)


@pytest.fixture
def batch(synthetic_small):
    return collate([synthetic_small["test"][i] for i in range(8)])


def test_drop_marks_the_modalities_absent(batch):
    dropped = drop(("audio", "vision"))(batch)
    for name in ("audio", "vision"):
        m = dropped.modality(name)
        assert not m.present.any() and not m.mask.any() and (m.features == 0).all()
    assert torch.equal(dropped.text.features, batch.text.features)


def test_missing_frames_at_rate_zero_and_one(batch):
    unchanged = missing_frames(("text", "audio", "vision"), 0.0, torch.Generator().manual_seed(0))(batch)
    assert torch.equal(unchanged.audio.mask, batch.audio.mask)
    emptied = missing_frames(("audio",), 1.0, torch.Generator().manual_seed(0))(batch)
    assert not emptied.audio.mask.any() and not emptied.audio.present.any()
    assert torch.equal(emptied.vision.mask, batch.vision.mask)


def test_missing_frames_drops_about_the_rate(batch):
    half = missing_frames(("audio",), 0.5, torch.Generator().manual_seed(0))(batch)
    kept = half.audio.mask.sum() / batch.audio.mask.sum()
    assert 0.4 < kept < 0.6
    assert not (half.audio.mask & ~batch.audio.mask).any()


def test_noise_touches_only_real_frames(batch):
    std = torch.ones(batch.audio.features.shape[-1])
    noisy = gaussian_noise("audio", 0.5, std, torch.Generator().manual_seed(0))(batch)
    padding = ~batch.audio.mask
    assert (noisy.audio.features[padding] == 0).all()
    assert not torch.equal(noisy.audio.features[batch.audio.mask], batch.audio.features[batch.audio.mask])


def test_token_corruption_at_level_one_replaces_every_token_from_the_pool(batch):
    pool = torch.full((3, batch.text.features.shape[-1]), 7.0)
    corrupted = token_corruption(1.0, pool, torch.Generator().manual_seed(0))(batch)
    assert (corrupted.text.features[batch.text.mask] == 7.0).all()
    assert (corrupted.text.features[~batch.text.mask] == 0).all()


def test_area_under_curve_is_the_mean_level():
    assert area_under_curve(LEVELS, [0.8] * len(LEVELS)) == pytest.approx(0.8)
    assert area_under_curve([0.0, 1.0], [1.0, 0.0]) == pytest.approx(0.5)


def test_primary_metric_per_task():
    assert primary_metric(("sentiment", "emotions")) == "acc2_non0"
    assert primary_metric(("emotion",)) == "emotion_wa"


def test_sweep_has_every_condition(trained):
    _, sweep = trained
    assert sweep["metric"] == "acc2_non0"
    assert sorted(sweep["modality_drop"]) == sorted("+".join(c) for c in DROP_CONDITIONS)
    assert sorted(sweep["missing_rate"]) == ["all", "audio", "text", "vision"]
    assert sorted(sweep["noise"]) == ["audio", "text", "vision"]
    for curve in [*sweep["missing_rate"].values(), *sweep["noise"].values()]:
        assert len(curve["values"]) == len(LEVELS) and 0.0 <= curve["auc"] <= 1.0
        assert curve["values"][0] == sweep["clean"]


def test_dropping_a_modality_that_carries_signal_lowers_the_score(trained):
    """In the synthetic data text carries the largest share of the label, audio and vision the rest."""
    _, sweep = trained
    metric, clean = sweep["metric"], sweep["clean"]
    dropped = {condition: values[metric] for condition, values in sweep["modality_drop"].items()}
    assert clean > 0.75
    assert dropped["text"] < clean - 0.05
    assert dropped["audio+vision"] < clean - 0.02
    assert dropped["text+audio+vision"] < min(v for k, v in dropped.items() if k != "text+audio+vision")
    assert dropped["text+audio+vision"] < 0.65  # near chance with nothing to read


@pytest.mark.parametrize("part,key", [("missing_rate", k) for k in ("all", "text", "audio", "vision")] + [("noise", k) for k in ("text", "audio", "vision")])
def test_curves_are_monotone_within_noise(trained, part, key):
    _, sweep = trained
    values = sweep[part][key]["values"]
    assert all(later <= earlier + TOLERANCE for earlier, later in zip(values, values[1:])), values
    assert values[-1] <= values[0] + TOLERANCE


def test_losing_most_of_every_modality_costs_accuracy(trained):
    _, sweep = trained
    values = sweep["missing_rate"]["all"]["values"]
    assert values[-1] < values[0]


def test_sweep_is_deterministic(trained, synthetic_default):
    model, sweep = trained
    again = evaluate_robustness(model, synthetic_default["test"], seed=1111)
    assert json.dumps(again, sort_keys=True) == json.dumps(sweep, sort_keys=True)  # NaN-safe comparison


def test_quick_grid_points_equal_the_full_grid(trained, synthetic_default):
    model, sweep = trained
    quick = evaluate_robustness(model, synthetic_default["test"], seed=1111, levels=QUICK_LEVELS)
    assert _same(quick["modality_drop"], sweep["modality_drop"])
    for part, axis in (("missing_rate", "rates"), ("noise", "levels")):
        for key, curve in quick[part].items():
            full = sweep[part][key]
            assert curve[axis] == list(QUICK_LEVELS)
            assert _same(curve["values"], [full["values"][full[axis].index(level)] for level in QUICK_LEVELS])


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # NaN-safe
