"""The RAVDESS eGeMAPS script's Pepino et al. (2021) recipe: per-actor normalisation, calm merged
into neutral, masked mean pooling, early stopping on held-out actors."""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch

from msa_bench.data.schema import EMOTION_CLASSES



@pytest.fixture(scope="module")
def recipe():
    """The recipe script, imported as a module."""
    return importlib.import_module("datasets_scripts.ravdess.egemaps_baseline")


def test_calm_counts_as_neutral_and_nothing_else_moves(recipe):
    classes = np.arange(len(EMOTION_CLASSES))
    merged = recipe.merge_calm(classes)
    assert merged[EMOTION_CLASSES.index("calm")] == EMOTION_CLASSES.index("neutral")
    keep = classes != EMOTION_CLASSES.index("calm")
    assert (merged[keep] == classes[keep]).all()


def test_every_actor_is_standardized_with_its_own_statistics(recipe):
    rng = np.random.default_rng(0)
    actors = np.array(["Actor_01", "Actor_02", "Actor_01", "Actor_02"])
    offsets = {"Actor_01": 5.0, "Actor_02": -40.0}
    frames = [rng.normal(offsets[a], 3.0, size=(10 + i, 4)).astype(np.float32) for i, a in enumerate(actors)]
    frames[0][:, 3] = 7.0
    frames[2][:, 3] = 7.0  # a descriptor constant for one actor stays finite
    normalized = recipe.standardize_per_actor(frames, actors)
    for actor in offsets:
        stacked = np.concatenate([normalized[i] for i in np.flatnonzero(actors == actor)])
        assert np.isfinite(stacked).all()
        np.testing.assert_allclose(stacked.mean(axis=0), 0.0, atol=1e-5)
    stacked = np.concatenate([normalized[1], normalized[3]])
    np.testing.assert_allclose(stacked.std(axis=0), 1.0, atol=1e-5)


def test_pad_averages_frame_pairs_up_to_the_limit(recipe):
    short = np.arange(5 * 2, dtype=np.float32).reshape(5, 2)
    long = np.ones((recipe.MAX_FRAMES * recipe.FRAME_STEP + 40, 2), dtype=np.float32)
    values, mask = recipe.pad([short, long])
    assert mask[0].sum() == 3 and mask[1].sum() == recipe.MAX_FRAMES
    np.testing.assert_allclose(values[0, :3].numpy(), [[1.0, 2.0], [5.0, 6.0], [8.0, 9.0]])
    assert (values[0, 3:] == 0).all()


def test_pooling_ignores_padded_frames(recipe):
    torch.manual_seed(0)
    model = recipe.PooledFrameMLP(n_features=3, n_classes=4).eval()
    values = torch.randn(1, 8, 3)
    mask = torch.tensor([[1.0] * 5 + [0.0] * 3])
    junk = values.clone()
    junk[0, 5:] = 1e3
    with torch.no_grad():
        torch.testing.assert_close(model(values, mask), model(junk, mask))
        torch.testing.assert_close(model(values, mask), model(values[:, :5], mask[:, :5]))


def test_training_learns_a_separable_toy_task_and_keeps_the_best_epoch(recipe):
    generator = torch.Generator().manual_seed(0)

    def toy(n: int):
        labels = torch.randint(0, 3, (n,), generator=generator)
        values = torch.randn(n, 12, 5, generator=generator) * 0.3
        values[torch.arange(n), :, labels] += 1.5  # the class is the strongest descriptor
        return values, torch.ones(n, 12), labels

    fit, stop, test = toy(240), toy(60), toy(90)
    model, best_epoch = recipe.train_pooled_mlp(fit, stop, n_classes=3, seed=0, max_epochs=60)
    with torch.no_grad():
        accuracy = (model(test[0], test[1]).argmax(1) == test[2]).float().mean().item()
    assert accuracy > 0.9
    assert not model.training
    again, again_epoch = recipe.train_pooled_mlp(fit, stop, n_classes=3, seed=0, max_epochs=60)
    assert 1 <= best_epoch == again_epoch <= 60
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        torch.testing.assert_close(a, b)
