"""AdaFN-AG: adaptive feature normalisation and attention gating, with Self-MM's ULGM.

Liu et al. "AdaFN-AG: Enhancing multimodal interaction with Adaptive Feature Normalization for
multimodal sentiment analysis." Intelligent Systems with Applications (2024), 200410.
Official code: Myid9606/AdaFN-AG (``models/multiTask/AFN_AG_MSA.py``), which this module
follows; ``tests/test_official_equivalence_sota.py`` loads its weights through
:func:`official_state_dict` and reproduces its outputs.

Architecture (width ``d_model`` 32 as the official ``hidden_dim``):

- **AdaFN** (training only, no parameters; paper eqs. 6–10): audio is re-styled with vision's
  statistics and vision with audio's. Per example and feature, the modality's temporal mean and
  unbiased variance (mu_x, var_x); the other modality's per-feature temporal means and variances
  averaged over its features (mu_y, var_y, eq. 7); mu_mix = (1 − α) mu_x + α mu_y and
  var_mix = (1 − α) var_x + α var_y (variances are mixed, eq. 9);
  x' = (x − mu_x) / sqrt(var_x + ε) · sqrt(var_mix + ε) + mu_mix, ε = 1e-5, with
  α ~ U(0, 1) / 5 drawn per example and separately for each direction.
- Audio and vision: a 1-head self-attention on the raw (re-styled) features, an LSTM (hidden
  16 / 32) and a per-frame projection to ``d_model``. Text: the encoder's token states
  projected to ``d_model``.
- **Attention gating** (:class:`GatedAttentionBlock`, official ``SAG_Transformer``; eqs. 13–16),
  one block for audio and one for vision, each with text: BiGRUs over text and target; text
  self-attention; target self-attention, then cross-attention with the target's self-attention
  as query and the text's self-attention as key/value (self- and cross-attention in sequence);
  each stream is LayerNorm(g_r · GRU + g_c · Attn) with one scalar gate per frame,
  g = sigmoid(Linear(GRU output)), and one LayerNorm shared by both streams of a block.
- Mean pooling over time; the text vector averages the two blocks' text streams; Self-MM's
  heads (fusion 3·d → 128 → 128 → 1, unimodal d → 32/16/32 → 1) with their dropouts.

Training as the official trainer (Self-MM's): L1 on the fused prediction plus ULGM's weighted
unimodal L1 losses (ULGM from ``baselines.self_mm``); Adam with groups text encoder (MOSI 4.5e-5,
MOSEI 5e-5; no decay on its bias/LayerNorm), audio subnet (LSTM + projection, 5e-3), vision
subnet (5e-3; MOSEI 1e-4) and the rest (1e-3); MOSI batch 16, MOSEI 32, 4 batches per step
(weight decays divided by 4 for the harness's averaged accumulation, as in ``self_mm``).

Where msa_bench differs (``fidelity``): padding frames are masked out of attention, GRUs and
means (the official code attends over and averages padding, so its outputs depend on the batch's
padded length); statistics use real frames only and AdaFN leaves an example unchanged when it
lacks either modality; the unused official modules (``audio_cross_att``/``video_cross_att``
decoder layers, ``*_self_attention_1``) are not built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from baselines.self_mm import MMSA_ACCUMULATION, ULGM, MLPHead, mmsa_weight_decays, optimizer_groups, ulgm_loss
from msa_bench.models import (
    DataSpec,
    ModelConfig,
    ModelOutput,
    MSAModel,
    TextEncoder,
    masked_mean,
    register_model,
)
from msa_bench.models.fidelity import FidelityRow, rename_official
from msa_bench.models.layers import (
    LSTMEncoder,
    attend,
    compact_frames,
    frame_mask,
    gather_frames,
    prefix_mask,
    restore_frames,
    reversed_real_frames,
)

MODALITIES = ("text", "audio", "vision")


def temporal_statistics(x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and unbiased variance over the real frames of (B, L, D): (B, 1, D) each."""
    weights = mask.unsqueeze(-1).to(x.dtype)
    count = weights.sum(dim=1, keepdim=True)
    mean = (x * weights).sum(dim=1, keepdim=True) / count.clamp_min(1.0)
    variance = ((x - mean) ** 2 * weights).sum(dim=1, keepdim=True) / (count - 1).clamp_min(1.0)
    return mean, variance


def style_statistics(y: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The other modality's statistics (eq. 7): its per-feature temporal means and variances,
    each averaged over its features, (B, 1, 1)."""
    mean, variance = temporal_statistics(y, mask)
    return mean.mean(dim=-1, keepdim=True), variance.mean(dim=-1, keepdim=True)


def adaptive_feature_normalization(
    x: torch.Tensor, x_mask: torch.Tensor, y: torch.Tensor, y_mask: torch.Tensor, alpha: torch.Tensor, eps: float = 1e-5
) -> torch.Tensor:
    """AdaFN of ``x`` (B, L, Dx) towards ``y`` (B, L', Dy) with mixing weights ``alpha`` (B,).

    x' = (x − mu_x) / sqrt(var_x + eps) · sqrt(var_mix + eps) + mu_mix on the real frames of
    examples that have both modalities; padding and other examples are returned unchanged.
    """
    mean_x, var_x = temporal_statistics(x, x_mask)
    mean_y, var_y = style_statistics(y, y_mask)
    a = alpha.view(-1, 1, 1).to(x.dtype)
    mean_mix = (1 - a) * mean_x + a * mean_y
    var_mix = (1 - a) * var_x + a * var_y
    restyled = (x - mean_x) / torch.sqrt(var_x + eps) * torch.sqrt(var_mix + eps) + mean_mix
    apply = (x_mask.any(dim=1) & y_mask.any(dim=1)).view(-1, 1, 1)
    return torch.where(apply & x_mask.unsqueeze(-1), restyled, x)


class MaskedBiGRU(nn.Module):
    """A bidirectional GRU over the real frames of end-padded sequences, run on the padded batch
    (faster on CPU than packed sequences): the backward direction reads each example's real
    frames reversed in place, so padding never enters either direction."""

    def __init__(self, in_dim: int, hidden: int) -> None:
        super().__init__()
        self.forward_gru = nn.GRU(in_dim, hidden, batch_first=True)
        self.backward_gru = nn.GRU(in_dim, hidden, batch_first=True)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x, lengths = compact_frames(x, mask)  # frames dropped mid-sequence are skipped, not read
        forward, _ = self.forward_gru(x)
        reverse = reversed_real_frames(prefix_mask(lengths, mask.shape[1]))
        backward, _ = self.backward_gru(gather_frames(x, reverse))
        return restore_frames(torch.cat([forward, gather_frames(backward, reverse)], dim=-1), mask)


class GatedAttentionBlock(nn.Module):
    """The official ``SAG_Transformer``: gated self-attention of text and of a target modality,
    the target's self-attention attending to the text's (see the module docstring).

    ``forward(text, text_mask, target, target_mask)`` returns the new target and text streams,
    zero on padding.
    """

    def __init__(self, d_model: int, n_heads: int, target_dropout: float) -> None:
        super().__init__()
        self.text_gru = MaskedBiGRU(d_model, d_model // 2)
        self.target_gru = MaskedBiGRU(d_model, d_model // 2)
        self.text_attention = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.target_attention = nn.MultiheadAttention(d_model, n_heads, dropout=target_dropout, batch_first=True)
        self.cross_attention = nn.MultiheadAttention(d_model, n_heads, batch_first=True)
        self.text_retain_gate = nn.Linear(d_model, 1)
        self.text_compound_gate = nn.Linear(d_model, 1)
        self.target_retain_gate = nn.Linear(d_model, 1)
        self.target_compound_gate = nn.Linear(d_model, 1)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, text: torch.Tensor, text_mask: torch.Tensor, target: torch.Tensor, target_mask: torch.Tensor):
        text_hidden = self.text_gru(text, text_mask)
        text_attended = attend(self.text_attention, text_hidden, text_hidden, text_mask)
        new_text = self._gate(text_hidden, text_attended, self.text_retain_gate, self.text_compound_gate)
        target_hidden = self.target_gru(target, target_mask)
        target_attended = attend(self.target_attention, target_hidden, target_hidden, target_mask)
        crossed = attend(self.cross_attention, target_attended, text_attended, text_mask)
        new_target = self._gate(target_hidden, crossed, self.target_retain_gate, self.target_compound_gate)
        return new_target * target_mask.unsqueeze(-1), new_text * text_mask.unsqueeze(-1)

    def _gate(self, hidden: torch.Tensor, attended: torch.Tensor, retain: nn.Linear, compound: nn.Linear) -> torch.Tensor:
        return self.norm(torch.sigmoid(retain(hidden)) * hidden + torch.sigmoid(compound(hidden)) * attended)


@dataclass(frozen=True)
class AdaFNAGConfig(ModelConfig):
    """Defaults: the official code and its ``config_regression.json`` MOSI entry. ``*_lr`` /
    ``*_weight_decay`` are the text encoder's, audio subnet's and vision subnet's groups (the rest
    trains at the harness's ``lr``/``weight_decay``)."""

    d_model: int = 32
    n_heads: int = 2
    raw_attention_heads: int = 1
    target_attention_dropout: float = 0.1
    audio_hidden: int = 16
    vision_hidden: int = 32
    audio_lstm_dropout: float = 0.0
    vision_lstm_dropout: float = 0.0
    fusion_dim: int = 128
    text_head_dim: int = 32
    audio_head_dim: int = 16
    vision_head_dim: int = 32
    fusion_dropout: float = 0.0
    text_dropout: float = 0.1
    audio_dropout: float = 0.1
    vision_dropout: float = 0.0
    #: alpha ~ U(0, 1) * alpha_scale (1/K, K = 5 in the official code).
    alpha_scale: float = 0.2
    text_encoder: str | None = None
    text_max_tokens: int = 50
    encoder_lr: float = 4.5e-5
    audio_lr: float = 5e-3
    vision_lr: float = 5e-3
    encoder_weight_decay: float = 1e-3
    audio_weight_decay: float = 1e-3
    vision_weight_decay: float = 1e-3
    #: Treat padding as the official code does (attended, averaged and in the AdaFN statistics;
    #: audio/vision sequences cut to the batch's longest real length after the LSTM), so the
    #: outputs depend on the batch's padding. For comparisons with the official code only.
    official_padding: bool = False


def _gru_rules(official: str, ours: str) -> list[tuple[str, str]]:
    return [(rf"{official}\.(\w+_l0)_reverse", rf"{ours}.backward_gru.\1"), (rf"{official}\.(\w+_l0)", rf"{ours}.forward_gru.\1")]


#: Official ``AFN_AG_MSA`` names (under AMIO's ``Model.``) → msa_bench names; unused modules dropped.
OFFICIAL_NAMES: tuple[tuple[str, str], ...] = (
    (r"Model\.(audio|video)_cross_att\..+", ""),
    (r"Model\.SAG_Transformer_\d\.(text|tgt)_self_attention_1\..+", ""),
    (r"Model\.text_model\.model\.(.+)", r"text_encoder.pretrained.\1"),
    (r"Model\.text_linear\.(.+)", r"text_linear.\1"),
    (r"Model\.audio_self_att\.(.+)", r"raw_attention.audio.\1"),
    (r"Model\.video_self_att\.(.+)", r"raw_attention.vision.\1"),
    (r"Model\.audio_model\.rnn\.(.+)", r"lstms.audio.forward_lstm.\1"),
    (r"Model\.video_model\.rnn\.(.+)", r"lstms.vision.forward_lstm.\1"),
    (r"Model\.audio_model\.linear_1\.(.+)", r"lstm_out.audio.\1"),
    (r"Model\.video_model\.linear_1\.(.+)", r"lstm_out.vision.\1"),
    *(
        rule
        for k, ours in ((1, "audio"), (2, "vision"))
        for rule in (
            *_gru_rules(rf"Model\.SAG_Transformer_{k}\.text_gru", f"gating.{ours}.text_gru"),
            *_gru_rules(rf"Model\.SAG_Transformer_{k}\.tgt_gru", f"gating.{ours}.target_gru"),
            (rf"Model\.SAG_Transformer_{k}\.text_self_attention\.(.+)", rf"gating.{ours}.text_attention.\1"),
            (rf"Model\.SAG_Transformer_{k}\.tgt_self_attention\.(.+)", rf"gating.{ours}.target_attention.\1"),
            (rf"Model\.SAG_Transformer_{k}\.text_(retrain|compound)_gate\.(.+)", rf"gating.{ours}.text_\1_gate.\2"),
            (rf"Model\.SAG_Transformer_{k}\.tgt_(retrain|compound)_gate\.(.+)", rf"gating.{ours}.target_\1_gate.\2"),
            (rf"Model\.SAG_Transformer_{k}\.(cross_attention|norm)\.(.+)", rf"gating.{ours}.\1.\2"),
        )
    ),
    *(
        (rf"Model\.post_{official}_layer_{k}\.(.+)", rf"{ours}.{layer}.\1")
        for official, ours in (("fusion", "fusion_head"), ("text", "unimodal_heads.text"),
                               ("audio", "unimodal_heads.audio"), ("video", "unimodal_heads.vision"))
        for k, layer in ((1, "first"), (2, "second"), (3, "out"))
    ),
)


def official_state_dict(official: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official AMIO/``AFN_AG_MSA`` state dict under msa_bench names (renames only; the
    official ``retrain`` gates are our ``retain`` gates; the unused decoder layers and
    ``*_self_attention_1`` are dropped)."""
    renamed = rename_official(official, OFFICIAL_NAMES, model="adafn_ag")
    return {name.replace("_retrain_gate.", "_retain_gate."): value for name, value in renamed.items()}


_MOSI_TRAIN = {"lr": 1e-3, "weight_decay": 1e-3 / MMSA_ACCUMULATION, "batch_size": 16,
               "grad_accum_steps": MMSA_ACCUMULATION, "max_epochs": 100, "patience": 8, "optimizer": "adam"}


@register_model("adafn_ag")
class AdaFNAG(MSAModel):
    """Adaptive feature normalisation + attention gating + ULGM; see the module docstring."""

    config_class = AdaFNAGConfig
    default_configs = {
        "mosi": {"model": {"text_encoder": "bert-base-uncased", **mmsa_weight_decays(1e-3, 1e-3, 1e-3)},
                 "train": dict(_MOSI_TRAIN)},
        "mosei": {
            "model": {"text_encoder": "bert-base-uncased", "encoder_lr": 5e-5, "vision_lr": 1e-4,
                      **mmsa_weight_decays(1e-3, 0.0, 0.0), "fusion_dropout": 0.1, "text_dropout": 0.0,
                      "audio_dropout": 0.0, "vision_dropout": 0.0},
            "train": {**_MOSI_TRAIN, "batch_size": 32, "weight_decay": 1e-2 / MMSA_ACCUMULATION},
        },
        "ravdess": {"model": {"audio_hidden": 32, "fusion_dim": 64, "audio_lr": 3e-3},
                    "train": {"lr": 1e-3, "batch_size": 32, "max_epochs": 40, "patience": 8, "select_metric": "emotion_ua"}},
        "synthetic": {
            "model": {"d_model": 16, "fusion_dim": 16, "text_dropout": 0.0, "audio_dropout": 0.0},
            "train": {"lr": 5e-3, "batch_size": 64, "max_epochs": 3, "patience": 3},
        },
        "test": {
            "model": {"d_model": 16, "audio_hidden": 6, "vision_hidden": 6, "fusion_dim": 16, "text_head_dim": 8,
                      "audio_head_dim": 6, "vision_head_dim": 6}
        },
    }
    fidelity = (
        FidelityRow("forward (BERT states, raw self-attention, LSTMs, two SAG blocks, heads)", "AFN_AG_MSA",
                    "same layers; official weights load through official_state_dict", "equal",
                    test="tests/test_official_equivalence_sota.py::test_adafn_ag_reproduces_the_official_outputs_on_unpadded_rows"),
        FidelityRow("AdaFN", "per-feature mean/unbiased variance; the other modality's averaged over features; "
                    "variances mixed; alpha = U(0, 1) / 5 per example and direction",
                    "the same, in the model's train-mode forward (alpha_draws × alpha_scale 0.2)", "equal",
                    test="tests/test_official_equivalence_sota.py::test_adafn_restyles_like_the_official_train_mode_call"),
        FidelityRow("training step with the ULGM update (fixture adafn_ag/)", "Self-MM's loss, label update and Adam "
                    "groups (BERT 4.5e-5)", "ulgm_loss and our step, with official_padding and the fixture's draws",
                    "equal", test="tests/test_official_training_sota.py::test_training_step_equals_the_official_trainer"),
        FidelityRow("gates", "one scalar per frame from the GRU output", "the same", "equal",
                    test="tests/test_official_equivalence_sota.py::test_adafn_ag_reproduces_the_official_outputs_on_unpadded_rows"),
        FidelityRow("padding", "attention, GRUs, AdaFN statistics and means include padded frames",
                    "masked out (official_padding=True reads them as the official code)", "deviation",
                    reason="predictions must not depend on the batch's padded length",
                    effect="none on rows without padding; with official_padding every row of both fixture variants is "
                           "the official one (tests/test_official_equivalence_sota.py::"
                           "test_adafn_ag_with_official_padding_reproduces_every_row)"),
        FidelityRow("AdaFN with a missing modality", "not handled", "example left unchanged", "deviation",
                    reason="msa_bench datasets may lack a modality", effect="none when both modalities are present"),
        FidelityRow("unused modules", "audio_cross_att/video_cross_att, *_self_attention_1 built, never called",
                    "not built", "deviation", reason="dead parameters; the mapping drops them",
                    effect="none: the official step gives them no gradient and leaves them unchanged (training test)"),
        FidelityRow("MOSI hyperparameters (BERT lr 4.5e-5, batch 16 × 4)", "config_regression.json afn_ag_msa (mosi)",
                    "the same values", "equal", test="tests/test_official_schedules.py::test_mosi_schedules_are_the_official_configurations"),
        FidelityRow("MOSEI hyperparameters (video lr 1e-4)", "config_regression.json afn_ag_msa (mosei)",
                    "the same values", "equal", test="tests/test_official_schedules.py::test_schedules_transcribed_from_the_official_code"),
        FidelityRow("gradient accumulation", "sums 4 batches' gradients; L2 decay added once",
                    "averages them, weight decays / 4", "deviation", reason="as self_mm",
                    effect="the same Adam step with eps 4e-8 in place of 1e-8"),
        FidelityRow("ULGM label memory", "pre-allocated for the training split", "keyed by example id",
                    "deviation", reason="as self_mm", effect="none from epoch 2, when labels start to move"),
    )

    def __init__(self, config: AdaFNAGConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, d = config, config.d_model
        self.text_encoder = TextEncoder(spec.text_dim, c.text_encoder, max_tokens=c.text_max_tokens)
        self.text_linear = nn.Linear(self.text_encoder.out_dim, d)
        dims = {"audio": spec.audio_dim, "vision": spec.vision_dim}
        hidden = {"audio": c.audio_hidden, "vision": c.vision_hidden}
        self.raw_attention = nn.ModuleDict(
            {m: nn.MultiheadAttention(dims[m], c.raw_attention_heads, batch_first=True) for m in dims}
        )
        self.lstms = nn.ModuleDict({m: LSTMEncoder(dims[m], hidden[m]) for m in dims})
        self.lstm_dropout = nn.ModuleDict(
            {"audio": nn.Dropout(c.audio_lstm_dropout), "vision": nn.Dropout(c.vision_lstm_dropout)}
        )
        self.lstm_out = nn.ModuleDict({m: nn.Linear(hidden[m], d) for m in dims})
        self.gating = nn.ModuleDict({m: GatedAttentionBlock(d, c.n_heads, c.target_attention_dropout) for m in dims})
        self.fusion_head = MLPHead(3 * d, c.fusion_dim, c.fusion_dropout)
        self.unimodal_heads = nn.ModuleDict(
            {m: MLPHead(d, getattr(c, f"{m}_head_dim"), getattr(c, f"{m}_dropout")) for m in MODALITIES}
        )
        self.heads = self.task_heads(c.fusion_dim)
        self.ulgm = ULGM(MODALITIES)
        self.completed_epochs = 0

    def normalize(self, batch, masks: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """Audio and vision frames, AdaFN-restyled in training mode (unchanged in eval mode) with
        statistics over the frames of ``masks`` (default: the real ones), one alpha draw per
        example and direction."""
        audio, vision = batch.audio, batch.vision
        if not self.training:
            return {"audio": audio.features, "vision": vision.features}
        masks = {"audio": frame_mask(audio), "vision": frame_mask(vision)} if masks is None else masks
        alpha = self.alpha_draws(len(batch), audio.features.device) * self.config.alpha_scale
        return {
            "audio": adaptive_feature_normalization(audio.features, masks["audio"], vision.features, masks["vision"], alpha[0]),
            "vision": adaptive_feature_normalization(vision.features, masks["vision"], audio.features, masks["audio"], alpha[1]),
        }

    @staticmethod
    def alpha_draws(size: int, device: torch.device) -> torch.Tensor:
        """U(0, 1) draws (2, size): AdaFN's mixing weights before ``alpha_scale``, audio's then vision's."""
        return torch.rand(2, size, device=device)

    def forward(self, batch) -> ModelOutput:
        text = self.text_encoder(batch, keep_padding=self.config.official_padding)
        masks = {"text": text.mask, "audio": frame_mask(batch.audio), "vision": frame_mask(batch.vision)}
        # The frames attention, AdaFN and means read: the real ones, or all (official_padding).
        read = {m: torch.ones_like(mask) for m, mask in masks.items()} if self.config.official_padding else masks
        frames = self.normalize(batch, read)
        text_states = self.text_linear(text.states)
        vectors, text_vectors = {}, []
        for m in ("audio", "vision"):
            attended = attend(self.raw_attention[m], frames[m], frames[m], read[m])
            sequence = self.lstm_out[m](self.lstm_dropout[m](self.lstms[m](attended, masks[m])[0]))
            mask = masks[m]
            if self.config.official_padding:  # the official packed LSTM returns the longest real length
                mask = torch.ones_like(mask[:, : int(mask.sum(dim=1).max())])
                sequence = sequence[:, : mask.shape[1]]
            target, text_stream = self.gating[m](text_states, read["text"], sequence, mask)
            vectors[m] = masked_mean(target, mask)
            text_vectors.append(masked_mean(text_stream, read["text"]))
        vectors["text"] = torch.stack(text_vectors).mean(dim=0)
        fused, fusion_hidden = self.fusion_head(torch.cat([vectors[m] for m in MODALITIES], dim=-1))
        unimodal = {m: self.unimodal_heads[m](vectors[m]) for m in MODALITIES}
        return self.heads(fusion_hidden, ModelOutput(
            sentiment=fused,
            aux={
                "unimodal": {m: prediction for m, (prediction, _) in unimodal.items()},
                "features": {"fusion": fusion_hidden, **{m: hidden for m, (_, hidden) in unimodal.items()}},
                "present": {m: masks[m].any(dim=1) for m in MODALITIES},
            },
        ))

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        """Self-MM's loss (:func:`baselines.self_mm.ulgm_loss`)."""
        return ulgm_loss(self, output, targets)

    def training_state(self) -> dict:
        return {"ulgm": self.ulgm.state(), "completed_epochs": self.completed_epochs}

    def load_training_state(self, state: dict) -> None:
        self.ulgm.load_state(state["ulgm"])
        self.completed_epochs = state["completed_epochs"]

    def on_epoch_end(self, epoch: int) -> None:
        self.completed_epochs = epoch

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        c, encoder = self.config, self.text_encoder.pretrained
        subnet = {m: [*self.lstms[m].named_parameters(), *self.lstm_out[m].named_parameters()] for m in ("audio", "vision")}
        special = [
            ([] if encoder is None else list(encoder.named_parameters()), c.encoder_lr, c.encoder_weight_decay),
            (subnet["audio"], c.audio_lr, c.audio_weight_decay),
            (subnet["vision"], c.vision_lr, c.vision_weight_decay),
        ]
        return optimizer_groups(self, lr, weight_decay, special)
