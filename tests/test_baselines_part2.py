"""Model-specific tests of DJMF, CDML, AdaFN-AG, UMDF, VTAF and DiffFusion, and of part 2 through the harness.

The generic contract (forward/backward, absent modalities, padding, overfitting, determinism,
round-trip, fine-tuned text path, GPU step) is in ``test_models_contract.py`` for every model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from baselines.adafn_ag import adaptive_feature_normalization
from baselines.cdml import reverse_gradient
from baselines.diff_fusion import DifferentialCrossAttention, lambda_init_for_layer
from baselines.umdf import UMDF
from msa_bench.inputs.batching import ModalityBatch, collate
from msa_bench.models import DataSpec, build_config, get_model_class, task_loss
from msa_bench.data.targets import collate_targets
from test_models_contract import DIMS, build, random_batch, random_rows, random_targets, without

PART2 = ("djmf", "cdml", "adafn_ag", "umdf", "vtaf", "diff_fusion", "diff_fusion_std")

# --- AdaFN-AG -----------------------------------------------------------------------------------


def test_adafn_formula_on_hand_computed_values():
    # x: one feature over 2 real frames + 1 padding frame: mu_x = 2, unbiased var_x = 2.
    x = torch.tensor([[[1.0], [3.0], [0.0]]])
    x_mask = torch.tensor([[True, True, False]])
    # y: per-feature means 2 and 4 -> mu_y = 3; per-feature unbiased variances 8 and 8 -> var_y = 8
    # (eq. 7: averaged over features); padding ignored.
    y = torch.tensor([[[0.0, 2.0], [4.0, 6.0], [100.0, 100.0]]])
    y_mask = torch.tensor([[True, True, False]])
    out = adaptive_feature_normalization(x, x_mask, y, y_mask, torch.tensor([0.2]), eps=0.0)
    # Variances are mixed (eq. 9), not standard deviations.
    mu_mix, var_mix = 0.8 * 2 + 0.2 * 3, 0.8 * 2 + 0.2 * 8
    scale = math.sqrt(var_mix) / math.sqrt(2)
    expected = torch.tensor([[[mu_mix - scale], [mu_mix + scale], [0.0]]])
    torch.testing.assert_close(out, expected)


def test_adafn_is_identity_at_alpha_zero_and_skips_examples_missing_the_other_modality():
    torch.manual_seed(0)
    x, y = torch.randn(2, 5, 3), torch.randn(2, 4, 2)
    x_mask = torch.ones(2, 5, dtype=torch.bool)
    y_mask = torch.tensor([[True] * 4, [False] * 4])
    torch.testing.assert_close(adaptive_feature_normalization(x, x_mask, y, y_mask, torch.zeros(2)), x, atol=1e-5, rtol=0)
    restyled = adaptive_feature_normalization(x, x_mask, y, y_mask, torch.full((2,), 0.2))
    assert not torch.allclose(restyled[0], x[0])
    assert torch.equal(restyled[1], x[1])


def test_adafn_runs_in_training_only():
    model = build("adafn_ag")
    batch = random_batch()
    model.eval()
    frames = model.normalize(batch)
    assert torch.equal(frames["audio"], batch.audio.features) and torch.equal(frames["vision"], batch.vision.features)
    model.train()
    frames = model.normalize(batch)
    assert not torch.equal(frames["audio"], batch.audio.features)
    assert torch.equal(frames["audio"][~batch.audio.mask], batch.audio.features[~batch.audio.mask])


def test_adafn_ag_trains_unimodal_heads_on_ulgm_labels():
    model = build("adafn_ag").train()
    batch, targets = random_batch(), random_targets()
    model.compute_loss(model(batch), targets)
    assert set(model.ulgm.index) == set(batch.ids)
    torch.testing.assert_close(model.ulgm.label_memory["audio"], targets.sentiment)


# --- DiffFusion ---------------------------------------------------------------------------------


def test_lambda_init_schedule():
    for layer in (1, 2, 3, 6):
        assert lambda_init_for_layer(layer) == pytest.approx(0.8 - 0.6 * math.exp(-0.3 * (layer - 1)))
    assert lambda_init_for_layer(1) == pytest.approx(0.2)
    model = build("diff_fusion", n_layers=3)
    for index, layer in enumerate(model.layers, start=1):
        assert layer.attention["audio"].lambda_init == pytest.approx(lambda_init_for_layer(index))
    with pytest.raises(ValueError, match="starts at 1"):
        lambda_init_for_layer(0)


def _standard_attention_reference(attention: DifferentialCrossAttention, query, keys, key_mask):
    """softmax(Q1 K1^T / sqrt(d)) V, per-head RMSNorm, (1 - lambda_init), output projection."""
    b, lq, d = query.shape
    h, hd = attention.n_heads, attention.head_dim
    q = attention.query(query).view(b, lq, h, 2, hd)[:, :, :, 0].transpose(1, 2)
    k = attention.key(keys).view(b, -1, h, 2, hd)[:, :, :, 0].transpose(1, 2)
    v = attention.value(keys).view(b, -1, h, 2 * hd).transpose(1, 2)
    heads = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask[:, None, None, :])
    heads = attention.head_norm(heads) * (1 - attention.lambda_init)
    return attention.out(heads.transpose(1, 2).reshape(b, lq, d))


def test_differential_attention_equals_standard_attention_when_lambda_is_zero(monkeypatch):
    torch.manual_seed(0)
    attention = DifferentialCrossAttention(16, 2, layer=2)
    query, keys = torch.randn(3, 4, 16), torch.randn(3, 6, 16)
    key_mask = torch.tensor([[True] * 6, [True] * 3 + [False] * 3, [True] + [False] * 5])
    reference = _standard_attention_reference(attention, query, keys, key_mask)
    assert not torch.allclose(attention(query, keys, key_mask), reference, atol=1e-4)
    monkeypatch.setattr(attention, "lambda_value", lambda: torch.zeros(()))
    torch.testing.assert_close(attention(query, keys, key_mask), reference)


def test_differential_attention_masks_padding_and_zeroes_rows_without_keys():
    torch.manual_seed(0)
    attention = DifferentialCrossAttention(16, 2, layer=1)
    query, keys = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    key_mask = torch.tensor([[True, True, False, False, False], [False] * 5])
    noisy = keys.clone()
    noisy[~key_mask] = 1e3
    out, out_noisy = attention(query, keys, key_mask), attention(query, noisy, key_mask)
    torch.testing.assert_close(out, out_noisy)
    assert torch.equal(out[1], torch.zeros_like(out[1]))


def test_recurrent_variant_reuses_the_layers_and_changes_the_output():
    batch = random_batch()
    plain = build("diff_fusion").eval()
    recurrent = build("diff_fusion", recurrent=True, recurrent_steps=2).eval()
    assert sum(p.numel() for p in plain.parameters()) == sum(p.numel() for p in recurrent.parameters())
    with torch.no_grad():
        assert not torch.allclose(plain(batch).sentiment, recurrent(batch).sentiment)


def test_text_absent_still_uses_audio_and_vision():
    model = build("diff_fusion").eval()
    batch = without(random_batch(), ("text",))
    changed = batch.with_modality("audio", ModalityBatch(batch.audio.features + 1.0, batch.audio.mask, batch.audio.present))
    with torch.no_grad():
        assert not torch.allclose(model(batch).sentiment, model(changed).sentiment)


# --- UMDF ---------------------------------------------------------------------------------------


def test_umdf_self_distillation_losses():
    teacher = {"h_a": torch.tensor([[1.0, 2.0]]), "h_b": torch.tensor([[0.0, 0.0]]), "y_a": torch.tensor([1.0]),
               "y_b": torch.tensor([-1.0])}
    student = {"h_a": torch.tensor([[1.0, 0.0]]), "h_b": torch.tensor([[2.0, 0.0]]), "y_a": torch.tensor([0.0]),
               "y_b": torch.tensor([1.0])}
    # MSE per representation (4/2 and 4/2), averaged over H_a and H_b; logits (1 and 4) likewise.
    assert UMDF.feature_distillation(teacher, student).item() == pytest.approx(2.0)
    assert UMDF.logit_distillation(teacher, student).item() == pytest.approx(2.5)
    assert UMDF.feature_distillation(teacher, teacher).item() == 0


def test_umdf_distils_from_the_complete_view_to_a_degraded_student():
    model = build("umdf", missing_rate=1.0).train()
    batch = random_batch()
    output = model(batch)
    teacher, student = output.aux["teacher"], output.aux["student"]
    torch.testing.assert_close(output.sentiment, (teacher["y_a"] + teacher["y_b"]) / 2)
    # The teacher direction: the distillation losses move the student only.
    for loss in (UMDF.feature_distillation(teacher, student), UMDF.logit_distillation(teacher, student)):
        grads = torch.autograd.grad(loss, [teacher["h_a"], teacher["y_a"], student["h_a"], student["y_a"]],
                                    retain_graph=True, allow_unused=True)
        assert all(g is None or g.abs().sum() == 0 for g in grads[:2])
        assert any(g is not None and g.abs().sum() > 0 for g in grads[2:])
    assert not torch.allclose(student["h_a"], teacher["h_a"])  # the student saw a degraded batch


def test_umdf_loss_is_task_losses_of_both_views_plus_weighted_distillation():
    model = build("umdf", feature_weight=0.5, logit_weight=0.25).train()
    batch, targets = random_batch(), random_targets()
    torch.manual_seed(0)
    output = model(batch)
    t, s = output.aux["teacher"], output.aux["student"]
    expected = sum(F.l1_loss(view[y], targets.sentiment) for view in (t, s) for y in ("y_a", "y_b"))
    expected = expected + 0.5 * UMDF.feature_distillation(t, s) + 0.25 * UMDF.logit_distillation(t, s)
    torch.testing.assert_close(model.compute_loss(output, targets), expected)
    model.eval()
    assert "student" not in model(batch).aux  # evaluation is one pass over the batch as given


def test_umdf_missing_modality_training_needs_no_harness_flag():
    from msa_bench.worker.train_config import TrainConfig

    for dataset in ("mosi", "mosei", "synthetic"):
        assert TrainConfig.from_dict(UMDF.default_configs[dataset]["train"]).missing_modality_rate == 0
    assert UMDF.config_class().missing_rate > 0


# --- DJMF ---------------------------------------------------------------------------------------

EMOTION_SPEC = DataSpec(text_dim=DIMS["text"], audio_dim=DIMS["audio"], vision_dim=DIMS["vision"], tasks=("sentiment", "emotions"))


def _emotion_batch(with_emotions: bool = True):
    rng = np.random.default_rng(3)
    rows = random_rows(6)
    for row in rows:
        row["emotions"] = rng.integers(0, 4, 6).astype(float).tolist() if with_emotions else None
    return collate(rows, DIMS), collate_targets(rows)


def test_djmf_predicts_six_emotion_intensities_jointly():
    model_class = get_model_class("djmf")
    torch.manual_seed(0)
    model = model_class(build_config(model_class, model_class.default_configs["test"]["model"]), EMOTION_SPEC)
    assert model.tasks == model.own_tasks == ("sentiment", "emotions")
    batch, targets = _emotion_batch()
    output = model(batch)
    assert output.emotions.shape == (len(batch), 6) and torch.isfinite(output.emotions).all()
    loss = model.compute_loss(output, targets)
    expected = task_loss(output, targets, ("sentiment", "emotions")) + model.config.mi_weight * output.aux["mi_loss"]
    torch.testing.assert_close(loss, expected)
    assert loss > task_loss(output, targets, ("sentiment",))
    loss.backward()
    assert model.emotion_head[0].weight.grad.abs().sum() > 0


def test_djmf_emotion_loss_is_masked_without_emotion_labels():
    model = build("djmf")  # SPEC: sentiment only
    assert model.tasks == ("sentiment",)
    batch, targets = _emotion_batch(with_emotions=False)
    output = model(batch)
    model.compute_loss(output, targets).backward()
    assert model.emotion_head[0].weight.grad is None or model.emotion_head[0].weight.grad.abs().sum() == 0


# --- VTAF ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("alignment", ["add", "concat"])
def test_vtaf_ignores_audio_and_gives_polarity_logits(alignment):
    model = build("vtaf", alignment=alignment).eval()
    batch = random_batch()
    with torch.no_grad():
        output = model(batch)
        torch.testing.assert_close(model(without(batch, ("audio",))).sentiment, output.sentiment)
    assert output.aux["polarity_logits"].shape == (len(batch), 3)


def test_vtaf_correlation_module_adds_tanh_of_correlated_content():
    text = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])
    vision = torch.tensor([[[2.0, 0.0], [0.0, 3.0]]])
    text_mask, vision_mask = torch.tensor([[True, False]]), torch.tensor([[True, True]])
    t_prime, v_prime = get_model_class("vtaf").correlate(text, text_mask, vision, vision_mask)
    weights = torch.softmax(torch.tensor([2.0, 0.0]) / math.sqrt(2), dim=0)
    torch.testing.assert_close(t_prime[0, 0], text[0, 0] + torch.tanh(weights @ vision[0]))
    # each frame's correlated text content comes from the one real token only
    torch.testing.assert_close(v_prime[0], vision[0] + torch.tanh(text[0, 0]).expand(2, 2))


def test_vtaf_loss_adds_polarity_cross_entropy():
    model = build("vtaf", polarity_weight=2.0).eval()
    rows = random_rows(6)
    rows = [{**row, "polarity": int(row["sentiment"] > 0) * 2} for row in rows]
    batch, targets = collate(rows, DIMS), collate_targets(rows)
    output = model(batch)
    expected = F.l1_loss(output.sentiment, targets.sentiment) + 2.0 * F.cross_entropy(output.aux["polarity_logits"], targets.polarity)
    torch.testing.assert_close(model.compute_loss(output, targets), expected)


# --- CDML ---------------------------------------------------------------------------------------


def test_cdml_modality_weights_cover_present_modalities_only():
    model = build("cdml").eval()
    batch = without(random_batch(), ("audio",), torch.tensor([1, 1, 0, 0, 0, 0], dtype=torch.bool))
    with torch.no_grad():
        weights = model(batch).aux["modality_weights"]
    torch.testing.assert_close(weights.sum(dim=1), torch.ones(len(batch)))
    assert torch.all(weights[:2, 1] == 0) and torch.all(weights[2:, 1] > 0)


def test_gradient_reversal():
    x = torch.tensor([1.0, -2.0], requires_grad=True)
    y = reverse_gradient(x)
    assert torch.equal(y, x)
    (3 * y).sum().backward()
    assert torch.equal(x.grad, torch.tensor([-3.0, -3.0]))


# --- fine-tuned text path -----------------------------------------------------------------------


def test_fine_tuned_bert_gets_its_own_learning_rate_and_is_updated(tiny_bert):
    model = build("diff_fusion", text_encoder=tiny_bert, text_encoder_lr=1e-4)
    groups = model.parameter_groups(1e-3, 0.0)
    bert = {id(p) for p in model.text_encoder.pretrained_parameters()}
    assert [g["lr"] for g in groups] == [1e-3, 1e-4]
    assert {id(p) for p in groups[1]["params"]} == bert
    optimizer = torch.optim.Adam(groups)
    before = [p.detach().clone() for p in model.text_encoder.pretrained_parameters()]
    batch, targets = random_batch(), random_targets()
    model.compute_loss(model(batch), targets).backward()
    optimizer.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.text_encoder.pretrained_parameters()))


# --- through the harness ------------------------------------------------------------------------


def _train_on_synthetic(name, dataset, **train_overrides):
    from msa_bench.worker.train_config import TrainConfig
    from msa_bench.harness.training import train_and_evaluate

    model_class = get_model_class(name)
    schedule = model_class.default_configs["synthetic"]
    train = TrainConfig.from_dict({**schedule["train"], "select_metric": "mae", **train_overrides})
    return train_and_evaluate(
        model_class,
        build_config(model_class, schedule.get("model")),
        dataset,
        train,
        seed=0,
        dataset_name="synthetic",
        progress=False,
    )


#: The heavier models run the harness check only with ``-m slow``; the cheap ones run by default.
HARNESS_CASES = [name if name in ("vtaf", "diff_fusion") else pytest.param(name, marks=pytest.mark.slow) for name in PART2]


@pytest.mark.parametrize("name", HARNESS_CASES)
def test_beats_the_training_mean_on_synthetic_validation(name, synthetic_small):
    # The synthetic schedules use batches of 128 for the 1,126-clip training split; on this
    # 174-clip split that would be two steps an epoch, so batches of 32 keep the step count.
    run = _train_on_synthetic(name, synthetic_small, batch_size=32)
    mean = float(np.mean(synthetic_small["train"]["sentiment"]))
    mean_mae = float(np.mean(np.abs(np.asarray(synthetic_small["validation"]["sentiment"]) - mean)))
    best_mae = min(entry["val"] for entry in run.history)
    assert best_mae < mean_mae, f"{name}: validation MAE {best_mae:.3f} vs training mean {mean_mae:.3f}"


def test_djmf_reports_emotion_metrics_beside_sentiment_on_synthetic(synthetic_small):
    run = _train_on_synthetic("djmf", synthetic_small, max_epochs=1)
    assert {"mae", "corr", "emotions_wacc_mean", "emotions_f1_mean", "happiness_wacc"} <= set(run.metrics)
    assert 0 <= run.metrics["emotions_wacc_mean"] <= 1


def test_masked_bigru_equals_a_packed_bidirectional_gru():
    from baselines.adafn_ag import MaskedBiGRU

    torch.manual_seed(0)
    gru = MaskedBiGRU(4, 3)
    packed_gru = torch.nn.GRU(4, 3, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for suffix, source in (("", gru.forward_gru), ("_reverse", gru.backward_gru)):
            for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                getattr(packed_gru, name + suffix).copy_(getattr(source, name))
    x = torch.randn(3, 6, 4)
    mask = torch.arange(6).unsqueeze(0) < torch.tensor([[6], [2], [4]])
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, mask.sum(1), batch_first=True, enforce_sorted=False)
    expected, _ = torch.nn.utils.rnn.pad_packed_sequence(packed_gru(packed)[0], batch_first=True, total_length=6)
    torch.testing.assert_close(gru(x, mask), expected)
