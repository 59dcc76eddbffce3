"""Corruption transforms under both protocols, the unknown token, and the robustness summaries
(AUILC, MultiBench's relative and effective robustness) on hand-computed curves."""

from __future__ import annotations

import math

import pytest
import torch

from msa_bench.inputs.batching import collate
from msa_bench.inputs.corruption import gaussian_noise, missing, text_noise, unk_token
from msa_bench.models import TextEncoder
from msa_bench.scoring.robustness import LEVELS, QUICK_LEVELS, auilc, check_levels, curve_metrics, effective_robustness, primary_metric, relative_robustness
from msa_bench.board.entries import training_tags
from msa_bench.scoring.metrics import METRICS

ALL = ("text", "audio", "vision")


@pytest.fixture
def batch(synthetic_small):
    return collate([synthetic_small["test"][i] for i in range(8)])


def _generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


# --- missingness ---------------------------------------------------------------------------------


def test_unannounced_missing_zero_fills_and_keeps_masks_and_presence(batch):
    corrupted = missing(ALL, 0.5, _generator(), "unannounced")(batch)
    for name in ALL:
        before, after = batch.modality(name), corrupted.modality(name)
        assert torch.equal(after.mask, before.mask) and torch.equal(after.present, before.present)
        zeroed = (after.features == 0).all(-1) & ~(before.features == 0).all(-1)
        assert 0.35 < zeroed[before.mask].float().mean() < 0.65
        kept = ~zeroed & before.mask
        assert torch.equal(after.features[kept], before.features[kept])
    words = [w for text in corrupted.raw_text for w in text.split()]
    assert len(words) == sum(len(t.split()) for t in batch.raw_text)  # same length: dropped words are [UNK]
    assert 0.35 < words.count("[UNK]") / len(words) < 0.65


def test_announced_missing_masks_dropped_frames_and_deletes_words(batch):
    corrupted = missing(ALL, 0.5, _generator(), "announced")(batch)
    for name in ALL:
        before, after = batch.modality(name), corrupted.modality(name)
        assert not (after.mask & ~before.mask).any()
        assert 0.35 < after.mask.sum() / before.mask.sum() < 0.65
        assert (after.features[~after.mask] == 0).all()
    assert "[UNK]" not in " ".join(corrupted.raw_text)
    assert sum(len(t.split()) for t in corrupted.raw_text) < sum(len(t.split()) for t in batch.raw_text)


def test_both_protocols_drop_the_same_frames_for_the_same_seed(batch):
    unannounced = missing(("audio",), 0.4, _generator(), "unannounced")(batch)
    announced = missing(("audio",), 0.4, _generator(), "announced")(batch)
    zeroed = (unannounced.audio.features == 0).all(-1) & batch.audio.mask
    assert torch.equal(zeroed, batch.audio.mask & ~announced.audio.mask)


def test_removal_is_rate_one_under_each_protocol(batch):
    hidden = missing(("text", "audio"), 1.0, _generator(), "unannounced", unk="<unk>")(batch)
    assert (hidden.audio.features == 0).all() and torch.equal(hidden.audio.present, batch.audio.present)
    assert torch.equal(hidden.text.mask, batch.text.mask)
    assert all(set(t.split()) <= {"<unk>"} for t in hidden.raw_text)
    told = missing(("text", "audio"), 1.0, _generator(), "announced")(batch)
    assert not told.audio.present.any() and not told.audio.mask.any() and not told.text.present.any()
    assert all(t == "" for t in told.raw_text)
    assert torch.equal(told.vision.features, batch.vision.features)


def test_per_example_rates(batch):
    rates = torch.tensor([0.0, 1.0] * 4)
    corrupted = missing(("vision",), rates, _generator(), "unannounced")(batch)
    assert torch.equal(corrupted.vision.features[0::2], batch.vision.features[0::2])
    assert (corrupted.vision.features[1::2] == 0).all()


def test_unknown_protocol_is_refused():
    with pytest.raises(ValueError, match="protocol must be one of"):
        missing(ALL, 0.5, _generator(), "whispered")


def test_unk_token_is_the_tokenizers_and_maps_to_its_unknown_id(tiny_bert):
    encoder = TextEncoder(8, encoder=tiny_bert)
    unk = unk_token(encoder)
    tokenizer = encoder.tokenizer
    assert unk == "[UNK]"
    assert tokenizer(f"good {unk} movie")["input_ids"][2] == tokenizer.unk_token_id
    assert unk_token(TextEncoder(8)) == "[UNK]"  # feature path: a stand-in nobody reads


# --- noise ---------------------------------------------------------------------------------------


def test_gaussian_noise_touches_only_real_frames(batch):
    std = torch.ones(batch.audio.features.shape[-1])
    noisy = gaussian_noise("audio", 0.5, std, _generator())(batch)
    assert (noisy.audio.features[~batch.audio.mask] == 0).all()
    assert not torch.equal(noisy.audio.features[batch.audio.mask], batch.audio.features[batch.audio.mask])


def test_text_noise_at_level_one_replaces_every_token_and_word_from_the_pools(batch):
    pool = torch.full((3, batch.text.features.shape[-1]), 7.0)
    corrupted = text_noise(1.0, pool, ("zebra",), _generator())(batch)
    assert (corrupted.text.features[batch.text.mask] == 7.0).all()
    assert (corrupted.text.features[~batch.text.mask] == 0).all()
    assert all(set(t.split()) <= {"zebra"} for t in corrupted.raw_text)


def test_text_noise_with_empty_pools_leaves_the_batch_unchanged(batch):
    corrupted = text_noise(0.9, torch.zeros(0, batch.text.features.shape[-1]), (), _generator())(batch)
    assert torch.equal(corrupted.text.features, batch.text.features) and corrupted.raw_text == batch.raw_text


# --- summaries -----------------------------------------------------------------------------------


def test_grids_span_zero_to_one_and_quick_is_a_subset():
    assert LEVELS == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    assert set(QUICK_LEVELS) <= set(LEVELS) and QUICK_LEVELS[0] == 0.0 and QUICK_LEVELS[-1] == 1.0
    with pytest.raises(ValueError, match="from 0.0 to 1.0"):
        check_levels([0.0, 0.3, 0.9])


def test_auilc_is_the_trapezoid_over_zero_to_one():
    # 0.5 * (0.8 + 0.6) * 0.5 + 0.5 * (0.6 + 0.5) * 0.5 = 0.35 + 0.275
    assert auilc([0.0, 0.5, 1.0], [0.8, 0.6, 0.5]) == pytest.approx(0.625)
    assert auilc(LEVELS, [0.7] * 11) == pytest.approx(0.7)
    line = [1.0 - r for r in LEVELS]  # falls from 1 to 0: area 1/2 exactly on any grid
    assert auilc(LEVELS, line) == pytest.approx(0.5) and auilc([0.0, 1.0], [1.0, 0.0]) == pytest.approx(0.5)
    assert math.isnan(auilc([0.0, 1.0], [0.8, math.nan]))


def test_effective_robustness_against_a_reference_shifted_to_the_clean_score():
    levels = [0.0, 0.5, 1.0]
    reference = [0.8, 0.6, 0.4]  # loses 0.2 per half step
    # beta = reference + (0.9 - 0.8) = [0.9, 0.7, 0.5], area 0.7; model area 0.25*0.9+0.5*0.8+0.25*0.75 = 0.8125
    assert effective_robustness(levels, [0.9, 0.8, 0.75], reference) == pytest.approx(0.1125)
    assert effective_robustness(levels, [0.5, 0.3, 0.1], reference) == pytest.approx(0.0)  # same slope
    assert effective_robustness(levels, reference, reference) == pytest.approx(0.0)


def test_relative_robustness_is_the_area_min_max_normalised_over_models():
    assert relative_robustness({"a": 0.6, "b": 0.7, "c": 0.8}) == pytest.approx({"a": 0.0, "b": 0.5, "c": 1.0})
    lower = relative_robustness({"a": 1.0, "b": 1.2, "c": 1.4}, higher_is_better=False)  # MAE areas
    assert lower == pytest.approx({"a": 1.0, "b": 0.5, "c": 0.0})
    assert all(math.isnan(v) for v in relative_robustness({"a": 0.5}).values())
    assert math.isnan(relative_robustness({"a": 0.5, "b": math.nan, "c": 0.7})["b"])


def test_curve_metrics_are_registered_and_start_with_the_primary_one():
    assert primary_metric(("sentiment", "emotions")) == "acc2_non0"
    assert primary_metric(("emotion",)) == "emotion_wa"
    assert {"mae", "corr", "acc2_has0", "acc2_non0", "f1_has0", "f1_non0", "acc7"} <= set(curve_metrics(("sentiment",)))
    for tasks in (("sentiment", "emotions", "emotion"),):
        assert all(METRICS.get(m) for m in curve_metrics(tasks))


def test_training_tags_name_the_augmentation():
    assert training_tags({"train": {"missing_modality_rate": 0.0}}) == []
    assert training_tags({"train": {"missing_modality_rate": 0.3}}) == ["trained with modality dropout (rate ≤ 0.3)"]
    assert "LNLN" in training_tags({"train": {"missing_frame_rate": 1.0}})[0]


def test_a_model_that_trains_with_missing_modalities_inside_itself_is_tagged():
    """UMDF degrades a student view of every batch inside forward (no harness flag): its entries
    are tagged from what the model declares, the same on every track."""
    config = {"model": {"missing_rate": 0.5}, "train": {"missing_modality_rate": 0.0}}
    expected = ["trained with a degraded student view (per-example missing rate ≤ 0.5, inside the model)"]
    assert training_tags(config, "umdf") == expected
    assert training_tags(config, "umdf+lnln")[0] == expected[0]
    assert training_tags(config, "tfn") == [] and training_tags(config, "someone_elses_model") == []
