"""VTAF: attention-based visual-text fusion network (text and vision; audio ignored by design).

The attention-based multimodal fusion network for visual-text sentiment analysis as described
in the MSA survey this benchmark follows (originally image-text; here the "image regions" are a
clip's video frames). No public code.

Architecture. Text (precomputed token features or a fine-tuned transformers encoder, projected
to ``d_model``) passes a BiLSTM and masked multi-head self-attention. Multi-head attention with
the text tokens as queries over the visual frames aligns vision to the text. The initial
alignment combines the two by addition (``alignment="add"``) or by concatenation followed by a
linear layer (``alignment="concat"``). The multimodal correlation-acquisition module computes
the fine-grained text x visual correlation matrix C = T P^T / sqrt(d) and from it C_T (each
token's correlated visual content) and C_P (each frame's correlated text content);
T' = T + tanh(C_T) and P' = P + tanh(C_P) (element-wise addition). The masked means of T' and
P' are concatenated and pass fully connected layers; a softmax layer gives the polarity
(negative / neutral / positive) and a regression head gives the sentiment score.

Outputs: ``sentiment`` is the regression head; the polarity logits are in
``aux["polarity_logits"]`` (softmax them for probabilities). Loss: L1 on sentiment +
``polarity_weight`` x cross-entropy on polarity (each only where annotated).

Unpublished details and the choices made here (simplest choices consistent with the paper):
- The sentiment regression head is added for this benchmark (the original predicts polarity
  only); both heads share the fused features.
- The correlation matrix is the scaled dot product between the aligned text states and the
  projected frames; C_T and C_P are its row/column softmax-weighted sums (padding masked).
- Vision frames are projected by a linear layer (no region detector: frames play the regions).
- One BiLSTM layer (hidden ``d_model / 2`` per direction), one self-attention layer.
- Hyperparameters for MOSI/MOSEI are not published: the simplest reasonable settings are used,
  and no paper numbers are listed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msa_bench.data.targets import MISSING_CLASS
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
from msa_bench.models.fidelity import FidelityRow
from msa_bench.models.layers import LSTMEncoder, attend
from msa_bench.data.schema import POLARITY_CLASSES


def masked_softmax(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim where ``valid``; all-zero weights for a row with nothing valid."""
    has_any = valid.any(dim=-1, keepdim=True)
    scores = scores.masked_fill(~valid, float("-inf")).masked_fill(~has_any, 0.0)
    return scores.softmax(dim=-1) * has_any.to(scores.dtype)


@dataclass(frozen=True)
class VTAFConfig(ModelConfig):
    d_model: int = 64
    n_heads: int = 4
    dropout: float = 0.1
    #: Initial alignment of text and text-aligned vision: "add" or "concat".
    alignment: str = "add"
    polarity_weight: float = 1.0
    text_encoder: str | None = None
    text_encoder_lr: float = 5e-5
    text_max_tokens: int = 50

    def __post_init__(self) -> None:
        if self.alignment not in ("add", "concat"):
            raise ValueError(f"alignment must be 'add' or 'concat', got {self.alignment!r}")
        if self.d_model % 2:
            raise ValueError(f"d_model must be even (BiLSTM halves), got {self.d_model}")


_TRAIN = {"lr": 1e-3, "weight_decay": 1e-4, "max_epochs": 40, "patience": 8, "grad_clip": 1.0}


@register_model("vtaf")
class VTAF(MSAModel):
    """Visual-text attention fusion with correlation acquisition; see the module docstring."""

    config_class = VTAFConfig
    input_modalities = ("text", "vision")
    fidelity = (
        FidelityRow("text encoder (BiLSTM + self-attention), text-queried attention over the frames, add or concat "
                    "alignment, correlation matrix C = T P^T / sqrt(d) with C_T / C_P, fused heads",
                    "the MSA survey's description of the visual-text fusion network (no public code)",
                    "implemented with the choices in the module docstring", "as described"),
        FidelityRow("image regions", "regions of one image", "a clip's video frames, projected by a linear layer",
                    "as described"),
        FidelityRow("sentiment regression head", "polarity classification only",
                    "a regression head beside the polarity head, sharing the fused features", "deviation",
                    reason="the benchmark scores continuous sentiment",
                    effect="the polarity head is unchanged; the loss adds L1 on sentiment"),
        FidelityRow("audio", "not used", "not used (input_modalities text and vision)", "as described"),
    )
    default_configs = {
        "mosi": {"model": {}, "train": {**_TRAIN, "batch_size": 32}},
        "mosei": {"model": {}, "train": {**_TRAIN, "batch_size": 64}},
        "synthetic": {
            "model": {"d_model": 32, "n_heads": 2, "dropout": 0.0},
            "train": {"lr": 5e-3, "batch_size": 128, "max_epochs": 6, "patience": 6},
        },
        "test": {"model": {"d_model": 16, "n_heads": 2, "dropout": 0.0}},
    }

    def __init__(self, config: VTAFConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, d = config, config.d_model
        self.text_encoder = TextEncoder(spec.text_dim, c.text_encoder, out_dim=d, max_tokens=c.text_max_tokens)
        self.text_lstm = LSTMEncoder(d, d // 2, bidirectional=True)
        self.text_attention = nn.MultiheadAttention(d, c.n_heads, dropout=c.dropout, batch_first=True)
        self.text_norm = nn.LayerNorm(d)
        self.vision_projection = nn.Linear(spec.vision_dim, d)
        self.vision_attention = nn.MultiheadAttention(d, c.n_heads, dropout=c.dropout, batch_first=True)
        self.alignment = nn.Linear(2 * d, d) if c.alignment == "concat" else None
        self.fusion = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Dropout(c.dropout))
        self.polarity_head = nn.Linear(d, len(POLARITY_CLASSES))
        self.sentiment_head = nn.Linear(d, 1)
        self.heads = self.task_heads(self.sentiment_head.in_features)

    def forward(self, batch) -> ModelOutput:
        text = self.text_encoder(batch)
        text_mask, vision_mask = text.mask, batch.vision.mask
        states, _ = self.text_lstm(text.states, text_mask)
        states = self.text_norm(states + attend(self.text_attention, states, states, text_mask))
        frames = self.vision_projection(batch.vision.features) * vision_mask.unsqueeze(-1)
        aligned_vision = attend(self.vision_attention, states, frames, vision_mask)
        if self.alignment is None:
            aligned = states + aligned_vision
        else:
            aligned = self.alignment(torch.cat([states, aligned_vision], dim=-1))
        text_prime, vision_prime = self.correlate(aligned, text_mask, frames, vision_mask)
        fused = self.fusion(torch.cat([masked_mean(text_prime, text_mask), masked_mean(vision_prime, vision_mask)], dim=-1))
        return self.heads(fused, ModelOutput(
            sentiment=self.sentiment_head(fused).squeeze(-1), aux={"polarity_logits": self.polarity_head(fused)}
        ))

    @staticmethod
    def correlate(
        text: torch.Tensor, text_mask: torch.Tensor, vision: torch.Tensor, vision_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Correlation acquisition: T' = T + tanh(C_T), P' = P + tanh(C_P) from C = T P^T / sqrt(d)."""
        correlation = text @ vision.transpose(1, 2) / math.sqrt(text.shape[-1])  # (B, Lt, Lv)
        c_text = masked_softmax(correlation, vision_mask.unsqueeze(1)) @ vision
        c_vision = masked_softmax(correlation.transpose(1, 2), text_mask.unsqueeze(1)) @ text
        return text + torch.tanh(c_text), vision + torch.tanh(c_vision)

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        total = task_loss(output, targets, self.own_tasks)
        if (targets.polarity != MISSING_CLASS).any():
            logits = output.aux["polarity_logits"]
            total = total + self.config.polarity_weight * F.cross_entropy(logits, targets.polarity, ignore_index=MISSING_CLASS)
        return total

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return learning_rate_groups(self, lr, weight_decay, [(self.text_encoder.pretrained_parameters(), self.config.text_encoder_lr)])
