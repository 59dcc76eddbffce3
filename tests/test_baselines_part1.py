"""Model-specific tests of Self-MM (ULGM), MMIM, MISA, MMML, and of part 1 through the harness."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from msa_bench.models.layers import LSTMEncoder
from baselines.misa import cmd, difference
from baselines.mmim import cpc
from baselines.self_mm import ULGM
from msa_bench.models import DataSpec, build_config, get_model_class
from test_models_contract import DIMS, SPEC, build, random_batch, random_targets

PART1 = ("self_mm", "mmim", "almt", "mmml", "mult", "misa", "lmf")

# --- shared layers -------------------------------------------------------------------------------


def test_lstm_encoder_matches_a_packed_bidirectional_lstm_and_ignores_padding():
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    torch.manual_seed(0)
    encoder = LSTMEncoder(5, 4, bidirectional=True)
    reference = torch.nn.LSTM(5, 4, batch_first=True, bidirectional=True)
    with torch.no_grad():
        for suffix, lstm in (("", encoder.forward_lstm), ("_reverse", encoder.backward_lstm)):
            for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                getattr(reference, f"{name}_l0{suffix}").copy_(getattr(lstm, f"{name}_l0"))
    lengths = torch.tensor([7, 3, 5, 0])
    mask = torch.arange(7)[None] < lengths[:, None]
    x = torch.where(mask[..., None], torch.randn(4, 7, 5), torch.full((4, 7, 5), 9.0))
    outputs, last = encoder(x, mask)
    packed, (hidden, _) = reference(pack_padded_sequence(x[:3], lengths[:3], batch_first=True, enforce_sorted=False))
    expected, _ = pad_packed_sequence(packed, batch_first=True, total_length=7)
    torch.testing.assert_close(outputs[:3], expected)
    torch.testing.assert_close(last[:3], torch.cat([hidden[0], hidden[1]], dim=-1))
    assert outputs[3].abs().sum() == 0 and last[3].abs().sum() == 0


# --- Self-MM: ULGM ----------------------------------------------------------------------------


def test_new_label_formula_on_hand_computed_values():
    # α = δ_s/δ_m = 2; 0.5·2·1 + 0.5·(1 + 0.5 − 0.25) = 1.625
    value = ULGM.new_labels(torch.tensor([1.0]), torch.tensor([0.5]), torch.tensor([0.25]))
    torch.testing.assert_close(value, torch.tensor([1.625]))
    # α = 4; 0.5·4·2.5 + 0.5·(2.5 + 2 − 0.5) = 7 → clamped to the label bound 3
    clamped = ULGM.new_labels(torch.tensor([2.5]), torch.tensor([2.0]), torch.tensor([0.5]), bound=3.0)
    torch.testing.assert_close(clamped, torch.tensor([3.0]))


def test_relative_distance_to_class_centres():
    delta = ULGM.relative_distance(torch.tensor([[0.0, 0.0]]), torch.tensor([1.0, 0.0]), torch.tensor([-3.0, 0.0]))
    torch.testing.assert_close(delta, torch.tensor([2.0]))  # (d_neg 3 − d_pos 1) / d_pos 1


def _ulgm_with_centres() -> ULGM:
    """Two examples: ``a`` positive at [1, 0], ``b`` negative at [−1, 0], in every modality."""
    ulgm = ULGM()
    ulgm.labels(["a", "b"], torch.tensor([1.0, -1.0]))
    features = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    ulgm.update(["a", "b"], {m: features for m in ("fusion", "text", "audio", "vision")}, epoch=1)
    return ulgm


def test_unimodal_labels_start_at_the_multimodal_label_and_stay_in_epoch_one():
    ulgm = _ulgm_with_centres()
    labels = ulgm.labels(["b", "a"], torch.tensor([-1.0, 1.0]))
    for name in ("text", "audio", "vision"):
        torch.testing.assert_close(labels[name], torch.tensor([-1.0, 1.0]))
    torch.testing.assert_close(ulgm.centres["text"][0], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(ulgm.centres["text"][1], torch.tensor([-1.0, 0.0]))


def test_label_update_with_momentum_from_epoch_two():
    ulgm = _ulgm_with_centres()
    fused = torch.tensor([[0.5, 0.0]])  # δ_m = (1.5 − 0.5) / 0.5 = 2
    ulgm.update(["a"], {"fusion": fused, "text": torch.zeros(1, 2), "audio": fused, "vision": fused}, epoch=2)
    labels = ulgm.labels(["a"], torch.tensor([1.0]))
    # text: δ_s = 0, α = 0 → ŷ = 0.5·(1 + 0 − 2) = −0.5; momentum n = 2: 1/3·1 + 2/3·(−0.5) = 0
    torch.testing.assert_close(labels["text"], torch.tensor([0.0]))
    # audio: δ_s = δ_m = 2, α = 1 → ŷ = 0.5 + 0.5 = 1 → stays 1
    torch.testing.assert_close(labels["audio"], torch.tensor([1.0]))
    torch.testing.assert_close(labels["fusion"], torch.tensor([1.0]))


def test_weighted_l1_uses_tanh_of_label_gap_and_skips_absent_modalities():
    ulgm = ULGM(modalities=("text", "audio"))
    labels = {"fusion": torch.tensor([1.0, 1.0]), "text": torch.tensor([0.0, 1.0]), "audio": torch.tensor([0.0, 0.0])}
    predictions = {"text": torch.tensor([2.0, 5.0]), "audio": torch.tensor([1.0, 1.0])}
    present = {"text": torch.tensor([1.0, 1.0]), "audio": torch.tensor([1.0, 0.0])}
    losses = ulgm.weighted_l1(predictions, labels, present)
    assert losses["text"].item() == pytest.approx((math.tanh(1.0) * 2.0 + 0.0) / 2)
    assert losses["audio"].item() == pytest.approx(math.tanh(1.0) * 1.0 / 1)


def test_self_mm_label_memory_follows_batch_ids_in_training_only():
    model = build("self_mm")
    batch, targets = random_batch(), random_targets()
    model.eval()
    model.compute_loss(model(batch), targets)
    assert model.ulgm.index == {}
    model.train()
    model.compute_loss(model(batch), targets)
    assert set(model.ulgm.index) == set(batch.ids)
    for name in ("fusion", "text", "audio", "vision"):
        assert model.ulgm.feature_memory[name].shape[0] == len(batch)


def test_self_mm_unannotated_examples_stay_out_of_the_memory():
    model = build("self_mm").train()
    batch, targets = random_batch(), random_targets()
    targets.sentiment[:2] = float("nan")
    loss = model.compute_loss(model(batch), targets)
    assert torch.isfinite(loss) and set(model.ulgm.index) == set(batch.ids[2:])


def test_self_mm_unimodal_labels_move_from_the_second_epoch():
    model = build("self_mm").train()
    batch, targets = random_batch(8), random_targets(8)
    model.compute_loss(model(batch), targets)
    first = model.ulgm.labels(batch.ids, targets.sentiment)
    assert torch.equal(first["text"], first["fusion"])
    model.on_epoch_end(1)
    model.compute_loss(model(batch), targets)
    second = model.ulgm.labels(batch.ids, targets.sentiment)
    assert not torch.equal(second["text"], second["fusion"])
    assert second["text"].abs().max() <= 3.0


# --- MMIM ----------------------------------------------------------------------------------------


def test_mmim_estimator_stage_steps_only_the_estimators_and_the_main_pass_never_does():
    """The official two optimisers: the estimator pass (−lld) steps only the mean/log-variance
    MLPs, the main pass every other trainable parameter except the estimators."""
    model = build("mmim")
    (stage,) = model.training_stages()
    estimators = {id(p) for e in model.mi.values() for p in (*e.mu.parameters(), *e.logvar.parameters())}
    stepped = {id(p) for group in stage.parameter_groups for p in group["params"]}
    assert estimators <= stepped <= {id(p) for p in model.mi.parameters()}
    main = {id(p) for group in model.parameter_groups(1e-3, 0.0) for p in group["params"]}
    assert not main & {id(p) for p in model.mi.parameters()}
    model.train()
    model.enter_stage(stage.name)
    output = model(random_batch(8))
    loss = model.compute_loss(output, random_targets(8))
    assert torch.equal(loss, -output.aux["losses"]["lld"]) and not model.memory


def test_mmim_entropy_projection_stays_frozen_during_training():
    model = build("mmim")
    frozen = [p.clone() for p in model.mi["audio"].entropy_projection.parameters()]
    optimizer = torch.optim.Adam(model.parameter_groups(1e-2, 0.0))
    model.train()
    for seed in range(3):
        batch, targets = random_batch(8, seed), random_targets(8, seed)
        optimizer.zero_grad()
        model.compute_loss(model(batch), targets).backward()
        optimizer.step()
    assert "audio" in model.memory
    for before, after in zip(frozen, model.mi["audio"].entropy_projection.parameters()):
        assert torch.equal(before, after)


def test_cpc_is_lower_for_matching_pairs():
    torch.manual_seed(0)
    x = torch.randn(6, 4)
    identity = torch.nn.Linear(4, 4, bias=False)
    identity.weight.data = torch.eye(4)
    assert cpc(x, x, identity) < cpc(x, torch.randn(6, 4), identity)


# --- MISA ----------------------------------------------------------------------------------------


def test_cmd_is_zero_for_identical_samples_with_finite_gradient():
    x = torch.randn(6, 3, requires_grad=True)
    value = cmd(x, x.detach().clone(), moments=5)
    value.backward()
    assert value.item() == pytest.approx(0.0, abs=1e-6) and torch.isfinite(x.grad).all()
    assert cmd(torch.randn(6, 3), torch.randn(6, 3) + 2.0, moments=5) > 1.0


def test_difference_loss_is_small_for_uncorrelated_and_large_for_identical_representations():
    torch.manual_seed(0)
    x, y = torch.randn(512, 4), torch.randn(512, 4)
    assert difference(x, y) < 0.1 * difference(x, x)


# --- MMML ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_data2vec(tmp_path_factory) -> str:
    from transformers import Data2VecAudioConfig, Data2VecAudioModel

    config = Data2VecAudioConfig(
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(16, 16),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=4,
        num_conv_pos_embedding_groups=2,
        conv_pos_kernel_size=3,
    )
    folder = tmp_path_factory.mktemp("tiny_data2vec")
    torch.manual_seed(0)
    Data2VecAudioModel(config).save_pretrained(folder)
    return str(folder)


def _waveform_batch(seconds: tuple[float, ...], samples_per_frame: int = 160):
    from msa_bench.inputs.batching import collate
    from msa_bench.data.targets import collate_targets

    rng = np.random.default_rng(0)
    rows = []
    for i, length in enumerate(seconds):
        frames = int(length * 16_000) // samples_per_frame
        rows.append(
            {
                "id": f"v_{i}",
                "text": "great movie",
                "text_features": rng.standard_normal((4, DIMS["text"])),
                "audio_features": None if frames == 0 else rng.standard_normal((frames, samples_per_frame)) * 0.1,
                "vision_features": rng.standard_normal((4, DIMS["vision"])),
                "sentiment": float(rng.uniform(-3, 3)),
            }
        )
    return collate(rows, {**DIMS, "audio": samples_per_frame}), collate_targets(rows)


def test_mmml_raw_audio_path_cuts_to_max_seconds_and_trains(tiny_data2vec):
    spec = DataSpec(text_dim=SPEC.text_dim, audio_dim=160, vision_dim=SPEC.vision_dim)
    overrides = {**get_model_class("mmml").default_configs["test"]["model"], "audio_encoder": tiny_data2vec,
                 "max_audio_seconds": 0.1}
    model = get_model_class("mmml")(build_config(get_model_class("mmml"), overrides), spec)
    batch, targets = _waveform_batch((0.3, 0.05, 0.0))
    states, mask = model._audio(batch)
    full = model.raw_audio.model._get_feat_extract_output_lengths(torch.tensor(1600)).item()
    assert mask.sum(1).tolist()[0] == full  # 0.3 s cut to 0.1 s = 1,600 samples
    assert 0 < mask.sum(1).tolist()[1] < full and mask.sum(1).tolist()[2] == 0
    output = model(batch)
    assert torch.isfinite(output.sentiment).all()
    model.compute_loss(output, targets).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.raw_audio.parameters())


@pytest.mark.parametrize("variant", ["cc", "cme_v1", "cme_v2", "cme_v3"])
def test_mmml_variants_train_with_three_losses(variant):
    model = build("mmml", variant=variant)
    batch, targets = random_batch(), random_targets()
    output = model(batch)
    assert set(output.aux["unimodal"]) == {"text", "audio"}
    loss = model.compute_loss(output, targets)
    fused_only = torch.nn.functional.l1_loss(output.sentiment, targets.sentiment)
    assert loss > fused_only and torch.isfinite(loss)
    loss.backward()
    unused = [name for name, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not unused, f"{variant} builds parameters it never uses: {unused}"


def test_mmml_rejects_an_unknown_variant():
    with pytest.raises(ValueError, match="variant must be one of"):
        build("mmml", variant="sum")


# --- configs and the harness ---------------------------------------------------------------------


def _validation_mae_vs_training_mean(name: str, dataset) -> tuple[float, float]:
    """Best validation MAE of ``name`` trained with its "synthetic" schedule, and that of the training mean."""
    from msa_bench.worker.train_config import TrainConfig
    from msa_bench.harness.training import train_and_evaluate

    model_class = get_model_class(name)
    schedule = model_class.default_configs["synthetic"]
    train = TrainConfig.from_dict({**schedule["train"], "select_metric": "mae"})
    run = train_and_evaluate(
        model_class, build_config(model_class, schedule.get("model")), dataset, train, seed=0,
        dataset_name="synthetic", progress=False,
    )
    mean = float(np.mean(dataset["train"]["sentiment"]))
    mean_mae = float(np.mean(np.abs(np.asarray(dataset["validation"]["sentiment"]) - mean)))
    return min(entry["val"] for entry in run.history), mean_mae


@pytest.mark.parametrize("name", ("lmf", "mmim", "self_mm"))
def test_fast_models_beat_the_training_mean_on_small_synthetic_data(name, synthetic_small):
    best, mean = _validation_mae_vs_training_mean(name, synthetic_small)
    assert best < mean, f"{name}: validation MAE {best:.3f} vs training mean {mean:.3f}"


@pytest.mark.slow
@pytest.mark.parametrize("name", PART1)
def test_beats_the_training_mean_on_the_main_job_synthetic_data(name, synthetic_default):
    """The main job's setting: the default synthetic dataset with each model's "synthetic" schedule."""
    best, mean = _validation_mae_vs_training_mean(name, synthetic_default)
    assert best < 0.9 * mean, f"{name}: validation MAE {best:.3f} vs training mean {mean:.3f}"
