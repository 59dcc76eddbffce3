"""AdaFN-AG: adaptive feature normalisation and attention gating, with Self-MM's ULGM.

Liu et al. "AdaFN-AG: Enhancing multimodal interaction with Adaptive Feature Normalization for
multimodal sentiment analysis." Intelligent Systems with Applications (2024), 200410.
Official code: Myid9606/AdaFN-AG.

Architecture. During training only, Adaptive Feature Normalization (AdaFN) re-styles audio with
vision's statistics and vision with audio's: per example, the modality's time-mean and standard
deviation per feature (mu_x, sigma_x) are mixed with the other modality's scalar mean and
standard deviation over time and features (mu_y, sigma_y),
mu_mix = (1 - alpha) mu_x + alpha mu_y (likewise sigma), x' = sigma_mix (x - mu_x) / sigma_x + mu_mix,
with alpha ~ U(0, 1) / 5 per example and no learned parameters. Audio and vision then pass LSTM
temporal encoders; text is the token sequence of the text path (precomputed features or a
fine-tuned transformers encoder). Each modality goes through attention gating: a BiGRU, then
self-attention (audio and vision add cross-attention with text as key/value); two sigmoid
gates mix the BiGRU and attention outputs, g1 * GRU + g2 * Attn, then LayerNorm (2 heads).
Masked mean pooling, concatenation, Linear + ReLU (128) and a linear output give the sentiment.
Self-MM's unimodal heads are trained on labels from Self-MM's ULGM (reused from
``baselines.self_mm``), weighted by tanh(|y_s - y_m|).

Loss: L1 on the fused prediction + ULGM's weighted unimodal L1 losses.

Choices where the paper leaves a detail open (simplest consistent choice):
- One alpha per example, shared by both directions (audio <- vision and vision <- audio); the
  statistics are computed over real frames only, and AdaFN is skipped for an example that lacks
  either modality. sigma = sqrt(var + 1e-6) (population variance).
- LSTM hidden sizes 16 (audio) and 32 (vision) as in Self-MM; the attention-gating width is
  ``d_model`` (BiGRU hidden ``d_model / 2`` per direction), with text projected to ``d_model``.
- For audio and vision the attention branch is self-attention + cross-attention to text (summed);
  the gates are sigmoid(Linear([GRU; Attn])).
- The unimodal heads are Self-MM's (Linear -> ReLU -> Linear -> ReLU -> Linear, hidden 32/16/32
  for text/audio/vision) on each modality's pooled gated vector; the fusion feature given to ULGM
  is the 128-unit hidden layer.
- Optimiser settings follow Self-MM (text encoder 5e-5, audio/vision encoders 5e-3, the rest
  1e-3, batch 32); no paper numbers are listed because we could not verify them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.self_mm import ULGM
from msa_bench.models import (
    DataSpec,
    ModelConfig,
    ModelOutput,
    MSAModel,
    TextEncoder,
    learning_rate_groups,
    masked_mean,
    register_model,
    task_loss,
)
from msa_bench.models.layers import LSTMEncoder, attend, gather_frames, reversed_real_frames

MODALITIES = ("text", "audio", "vision")


def _time_statistics(x: torch.Tensor, mask: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-feature mean and std over real frames: (B, 1, D) each."""
    weights = mask.unsqueeze(-1).to(x.dtype)
    count = weights.sum(dim=1, keepdim=True).clamp_min(1.0)
    mean = (x * weights).sum(dim=1, keepdim=True) / count
    variance = ((x - mean) ** 2 * weights).sum(dim=1, keepdim=True) / count
    return mean, torch.sqrt(variance + eps)


def _scalar_statistics(y: torch.Tensor, mask: torch.Tensor, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std over real frames and all features: (B, 1, 1) each."""
    weights = mask.unsqueeze(-1).to(y.dtype).expand_as(y)
    count = weights.sum(dim=(1, 2), keepdim=True).clamp_min(1.0)
    mean = (y * weights).sum(dim=(1, 2), keepdim=True) / count
    variance = ((y - mean) ** 2 * weights).sum(dim=(1, 2), keepdim=True) / count
    return mean, torch.sqrt(variance + eps)


def adaptive_feature_normalization(
    x: torch.Tensor, x_mask: torch.Tensor, y: torch.Tensor, y_mask: torch.Tensor, alpha: torch.Tensor, eps: float = 1e-6
) -> torch.Tensor:
    """AdaFN of ``x`` (B, L, Dx) towards ``y`` (B, L', Dy) with mixing weights ``alpha`` (B,).

    x' = sigma_mix (x - mu_x) / sigma_x + mu_mix on real frames of examples that have both
    modalities; padding stays zero and other examples are returned unchanged.
    """
    mu_x, sigma_x = _time_statistics(x, x_mask, eps)
    mu_y, sigma_y = _scalar_statistics(y, y_mask, eps)
    a = alpha.view(-1, 1, 1).to(x.dtype)
    mu_mix = (1 - a) * mu_x + a * mu_y
    sigma_mix = (1 - a) * sigma_x + a * sigma_y
    restyled = sigma_mix * (x - mu_x) / sigma_x + mu_mix
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
        forward, _ = self.forward_gru(x)
        reverse = reversed_real_frames(mask)
        backward, _ = self.backward_gru(gather_frames(x, reverse))
        outputs = torch.cat([forward, gather_frames(backward, reverse)], dim=-1)
        return outputs * mask.unsqueeze(-1).to(outputs.dtype)


class AttentionGating(nn.Module):
    """BiGRU -> self-attention (+ cross-attention to text); g1 * GRU + g2 * Attn; LayerNorm."""

    def __init__(self, in_dim: int, d_model: int, n_heads: int, dropout: float, cross: bool) -> None:
        super().__init__()
        self.gru = MaskedBiGRU(in_dim, d_model // 2)
        self.self_attention = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.cross_attention = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True) if cross else None
        self.gate_gru = nn.Linear(2 * d_model, d_model)
        self.gate_attention = nn.Linear(2 * d_model, d_model)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, text: torch.Tensor | None, text_mask: torch.Tensor | None):
        recurrent = self.gru(x, mask)
        attended = attend(self.self_attention, recurrent, recurrent, mask)
        if self.cross_attention is not None:
            attended = attended + attend(self.cross_attention, recurrent, text, text_mask)
        both = torch.cat([recurrent, attended], dim=-1)
        gated = torch.sigmoid(self.gate_gru(both)) * recurrent + torch.sigmoid(self.gate_attention(both)) * attended
        return self.norm(gated) * mask.unsqueeze(-1).to(gated.dtype)


class UnimodalHead(nn.Module):
    """Self-MM's unimodal head; returns the prediction and its first hidden layer (for ULGM)."""

    def __init__(self, in_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.first = nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, hidden), nn.ReLU())
        self.rest = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.first(x)
        return self.rest(hidden).squeeze(-1), hidden


@dataclass(frozen=True)
class AdaFNAGConfig(ModelConfig):
    d_model: int = 64
    n_heads: int = 2
    audio_hidden: int = 16
    vision_hidden: int = 32
    fusion_dim: int = 128
    text_head_dim: int = 32
    audio_head_dim: int = 16
    vision_head_dim: int = 32
    dropout: float = 0.1
    #: alpha ~ U(0, 1) * alpha_scale (1/5 in the paper).
    alpha_scale: float = 0.2
    text_encoder: str | None = None
    text_encoder_lr: float = 5e-5
    audio_vision_lr: float = 5e-3
    text_max_tokens: int = 50


_TRAIN = {"lr": 1e-3, "weight_decay": 1e-3, "batch_size": 32, "max_epochs": 100, "patience": 8, "optimizer": "adam"}


@register_model("adafn_ag")
class AdaFNAG(MSAModel):
    """Adaptive feature normalisation + attention gating + ULGM; see the module docstring."""

    config_class = AdaFNAGConfig
    default_configs = {
        "mosi": {"model": {"text_encoder": "bert-base-uncased"}, "train": dict(_TRAIN)},
        "mosei": {"model": {"text_encoder": "bert-base-uncased"}, "train": dict(_TRAIN)},
        "synthetic": {
            "model": {"d_model": 16, "fusion_dim": 16, "dropout": 0.0, "audio_vision_lr": 5e-3},
            "train": {"lr": 5e-3, "batch_size": 128, "max_epochs": 2, "patience": 2},
        },
        "test": {
            "model": {"d_model": 16, "audio_hidden": 6, "vision_hidden": 6, "fusion_dim": 16, "text_head_dim": 8,
                      "audio_head_dim": 6, "vision_head_dim": 6}
        },
    }

    def __init__(self, config: AdaFNAGConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, d = config, config.d_model
        self.text_encoder = TextEncoder(spec.text_dim, c.text_encoder, max_tokens=c.text_max_tokens)
        self.lstms = nn.ModuleDict(
            {"audio": LSTMEncoder(spec.audio_dim, c.audio_hidden), "vision": LSTMEncoder(spec.vision_dim, c.vision_hidden)}
        )
        self.text_projection = nn.Linear(self.text_encoder.out_dim, d)
        self.gating = nn.ModuleDict(
            {
                "text": AttentionGating(d, d, c.n_heads, c.dropout, cross=False),
                "audio": AttentionGating(c.audio_hidden, d, c.n_heads, c.dropout, cross=True),
                "vision": AttentionGating(c.vision_hidden, d, c.n_heads, c.dropout, cross=True),
            }
        )
        self.fusion = nn.Sequential(nn.Dropout(c.dropout), nn.Linear(3 * d, c.fusion_dim), nn.ReLU())
        self.output = nn.Linear(c.fusion_dim, 1)
        self.unimodal_heads = nn.ModuleDict(
            {m: UnimodalHead(d, getattr(c, f"{m}_head_dim"), c.dropout) for m in MODALITIES}
        )
        self.ulgm = ULGM(MODALITIES)
        self.completed_epochs = 0

    def normalize(self, batch) -> dict[str, torch.Tensor]:
        """Audio and vision frames, AdaFN-restyled in training mode (unchanged in eval mode)."""
        audio, vision = batch.audio, batch.vision
        if not self.training:
            return {"audio": audio.features, "vision": vision.features}
        alpha = torch.rand(len(batch), device=audio.features.device) * self.config.alpha_scale
        return {
            "audio": adaptive_feature_normalization(audio.features, audio.mask, vision.features, vision.mask, alpha),
            "vision": adaptive_feature_normalization(vision.features, vision.mask, audio.features, audio.mask, alpha),
        }

    def forward(self, batch) -> ModelOutput:
        text = self.text_encoder(batch)
        masks = {"text": text.mask, "audio": batch.audio.mask, "vision": batch.vision.mask}
        frames = self.normalize(batch)
        text_states = self.text_projection(text.states)
        sequences = {"text": text_states, **{m: self.lstms[m](frames[m], masks[m])[0] for m in ("audio", "vision")}}
        vectors = {
            m: masked_mean(self.gating[m](sequences[m], masks[m], text_states, masks["text"]), masks[m]) for m in MODALITIES
        }
        fusion_hidden = self.fusion(torch.cat([vectors[m] for m in MODALITIES], dim=-1))
        unimodal = {m: self.unimodal_heads[m](vectors[m]) for m in MODALITIES}
        return ModelOutput(
            sentiment=self.output(fusion_hidden).squeeze(-1),
            aux={
                "unimodal": {m: prediction for m, (prediction, _) in unimodal.items()},
                "features": {"fusion": fusion_hidden, **{m: hidden for m, (_, hidden) in unimodal.items()}},
                "present": {m: masks[m].any(dim=1) for m in MODALITIES},
            },
        )

    def compute_loss(self, output: ModelOutput, batch) -> torch.Tensor:
        loss = task_loss(output, batch, self.tasks)
        if not self.training:
            return loss
        return loss + self.ulgm.training_loss(output, batch, epoch=self.completed_epochs + 1)

    def on_epoch_end(self, epoch: int) -> None:
        self.completed_epochs += 1

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        special = [
            (self.text_encoder.pretrained_parameters(), self.config.text_encoder_lr),
            (self.lstms.parameters(), self.config.audio_vision_lr),
        ]
        return learning_rate_groups(self, lr, weight_decay, special)
