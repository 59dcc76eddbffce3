"""CDML: modality consistency and difference information with multi-task learning.

Fang, Liang, Li, Guan. "Learning Modality Consistency and Difference Information with
Multitask Learning for Multimodal Sentiment Analysis." Future Internet 16(6):213 (2024),
open access. No public code.

Architecture. Each modality is encoded to ``d_model`` (text: precomputed token features or a
fine-tuned transformers encoder). Cross-modal Transformers give every modality context from the
other two (its frames query the concatenated frames of the others; ``n_layers`` blocks of
cross-attention, Add&Norm, feed-forward, Add&Norm). Each modality's masked-mean vector is split
into a modality-consistent part (one encoder shared by all modalities) and a modality-specific
(difference) part (one encoder per modality). The consistent part is trained adversarially: a
modality discriminator behind a gradient-reversal layer tries to tell which modality a
consistent vector came from, so the shared encoder learns to make them indistinguishable. The
specific parts get multi-task unimodal objectives: a sentiment head per modality. A
joint-representation translation module maps each modality pair's representation into the
other's (text->audio, text->vision, audio->vision) with a reconstruction loss. An attention
network scores each present modality and assigns it a dynamic softmax weight; the fused vector
is the weighted sum of the modalities' [consistent; specific] vectors, fed to a two-layer head.

Loss: L1 on the fused prediction + ``unimodal_weight`` x mean unimodal L1 +
``adversarial_weight`` x discriminator cross-entropy + ``translation_weight`` x translation MSE.

Unpublished details and the choices made here (simplest choices consistent with the paper):
- Audio/vision encoders are a linear projection + LayerNorm per frame.
- The cross-modal Transformer of a modality attends to the concatenation of the other two
  modalities' frames (one block stack per target modality).
- Unimodal objectives use the multimodal label as the target for every modality (no unimodal
  labels exist in MOSI/MOSEI; no label generation is described).
- Translation targets are detached (a target does not move towards its translation), and only
  rows where both modalities of a pair are present contribute.
- The gradient-reversal coefficient is 1; loss weights 0.1 (adversarial, translation) and
  1.0 (unimodal); MOSI/MOSEI hyperparameters below are the simplest reasonable settings, and
  no paper numbers are listed because we could not verify them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.djmf import CrossModalBlock
from msa_bench.models.fidelity import FidelityRow
from msa_bench.models import (
    DataSpec,
    ModelConfig,
    ModelOutput,
    MSAModel,
    TextEncoder,
    learning_rate_groups,
    masked_mean,
    register_model,
)

MODALITIES = ("text", "audio", "vision")
TRANSLATION_PAIRS = (("text", "audio"), ("text", "vision"), ("audio", "vision"))


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return -grad


def reverse_gradient(x: torch.Tensor) -> torch.Tensor:
    """Identity forward, negated gradient backward (the gradient-reversal layer)."""
    return _ReverseGradient.apply(x)


@dataclass(frozen=True)
class CDMLConfig(ModelConfig):
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dropout: float = 0.1
    unimodal_weight: float = 1.0
    adversarial_weight: float = 0.1
    translation_weight: float = 0.1
    text_encoder: str | None = None
    text_encoder_lr: float = 5e-5
    text_max_tokens: int = 50


_TRAIN = {"lr": 1e-4, "weight_decay": 1e-4, "max_epochs": 40, "patience": 8, "grad_clip": 1.0}


@register_model("cdml")
class CDML(MSAModel):
    """Consistency (adversarial) + difference (unimodal multi-task) learning; see the module docstring."""

    config_class = CDMLConfig
    default_configs = {
        "mosi": {"model": {}, "train": {**_TRAIN, "batch_size": 32}},
        "mosei": {"model": {}, "train": {**_TRAIN, "batch_size": 64}},
        "ravdess": {"model": {"d_model": 32, "n_heads": 2, "n_layers": 1},
                    "train": {**_TRAIN, "lr": 1e-3, "batch_size": 32, "select_metric": "emotion_ua"}},
        "synthetic": {
            "model": {"d_model": 16, "n_heads": 2, "n_layers": 1, "dropout": 0.0},
            "train": {"lr": 5e-3, "batch_size": 128, "max_epochs": 3, "patience": 3},
        },
        "test": {"model": {"d_model": 16, "n_heads": 2, "n_layers": 1, "dropout": 0.0}},
    }

    fidelity = (
        FidelityRow("cross-modal Transformers, consistent/specific split, adversarial discriminator, translation, "
                    "dynamic weights", "the paper (Future Internet 2024; no public code)",
                    "implemented with the choices in the module docstring", "as described"),
        FidelityRow("cross-modal block", "not published", "DJMF's CrossModalBlock (post-norm attention + FFN)",
                    "as described"),
        FidelityRow("unimodal targets", "not described", "the multimodal label (MOSI/MOSEI have no unimodal labels)",
                    "as described"),
    )

    def __init__(self, config: CDMLConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, d = config, config.d_model
        self.text_encoder = TextEncoder(spec.text_dim, c.text_encoder, out_dim=d, max_tokens=c.text_max_tokens)
        self.encoders = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(spec.dim(m), d), nn.LayerNorm(d)) for m in ("audio", "vision")}
        )
        self.context = nn.ModuleDict(
            {m: nn.ModuleList(CrossModalBlock(d, c.n_heads, c.dropout) for _ in range(c.n_layers)) for m in MODALITIES}
        )
        self.consistent = nn.Sequential(nn.Linear(d, d), nn.ReLU())
        self.specific = nn.ModuleDict({m: nn.Sequential(nn.Linear(d, d), nn.ReLU()) for m in MODALITIES})
        self.discriminator = nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, len(MODALITIES)))
        self.unimodal_heads = nn.ModuleDict({m: nn.Linear(d, 1) for m in MODALITIES})
        self.translators = nn.ModuleDict(
            {f"{a}_{b}": nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Linear(d, d)) for a, b in TRANSLATION_PAIRS}
        )
        self.modality_attention = nn.Sequential(nn.Linear(2 * d, d), nn.Tanh(), nn.Linear(d, 1, bias=False))
        self.head = nn.Sequential(nn.Linear(2 * d, d), nn.ReLU(), nn.Dropout(c.dropout), nn.Linear(d, 1))
        self.heads = self.task_heads(self.head[0].in_features)

    def forward(self, batch) -> ModelOutput:
        text = self.text_encoder(batch)
        sequences = {"text": text.states, **{m: self.encoders[m](batch.modality(m).features) for m in ("audio", "vision")}}
        masks = {"text": text.mask, "audio": batch.audio.mask, "vision": batch.vision.mask}
        present = torch.stack([masks[m].any(dim=1) for m in MODALITIES], dim=1)  # (B, 3)

        vectors = {}
        for m in MODALITIES:
            others = [o for o in MODALITIES if o != m]
            keys = torch.cat([sequences[o] for o in others], dim=1)
            key_mask = torch.cat([masks[o] for o in others], dim=1)
            x = sequences[m]
            for block in self.context[m]:
                x = block(x, keys, key_mask)
            vectors[m] = masked_mean(x, masks[m])

        consistent = torch.stack([self.consistent(vectors[m]) for m in MODALITIES], dim=1)  # (B, 3, d)
        specific = torch.stack([self.specific[m](vectors[m]) for m in MODALITIES], dim=1)
        joint = torch.cat([consistent, specific], dim=-1)  # (B, 3, 2d)
        scores = self.modality_attention(joint).squeeze(-1).masked_fill(~present, float("-inf"))
        weights = torch.where(present.any(dim=1, keepdim=True), scores, torch.zeros_like(scores)).softmax(dim=1)
        fused = (weights.unsqueeze(-1) * joint * present.unsqueeze(-1)).sum(dim=1)
        return self.heads(fused, ModelOutput(
            sentiment=self.head(fused).squeeze(-1),
            aux={
                "present": present,
                "modality_weights": weights,
                "discriminator_logits": self.discriminator(reverse_gradient(consistent)),
                "unimodal": torch.cat([self.unimodal_heads[m](specific[:, i]) for i, m in enumerate(MODALITIES)], dim=1),
                "translations": {
                    (a, b): (self.translators[f"{a}_{b}"](vectors[a]), vectors[b].detach()) for a, b in TRANSLATION_PAIRS
                },
            },
        ))

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        aux, c = output.aux, self.config
        present = aux["present"]
        known = ~torch.isnan(targets.sentiment)
        total = output.sentiment.new_zeros(())
        if known.any():
            total = total + F.l1_loss(output.sentiment[known], targets.sentiment[known])
            rows = present & known.unsqueeze(1)
            if rows.any():
                target = targets.sentiment.unsqueeze(1).expand_as(aux["unimodal"])
                total = total + c.unimodal_weight * F.l1_loss(aux["unimodal"][rows], target[rows])
        if present.any():
            labels = torch.arange(len(MODALITIES), device=present.device).expand_as(present)
            total = total + c.adversarial_weight * F.cross_entropy(aux["discriminator_logits"][present], labels[present])
        for (a, b), (translated, target) in aux["translations"].items():
            both = present[:, MODALITIES.index(a)] & present[:, MODALITIES.index(b)]
            if both.any():
                total = total + c.translation_weight * F.mse_loss(translated[both], target[both])
        return total

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return learning_rate_groups(self, lr, weight_decay, [(self.text_encoder.pretrained_parameters(), self.config.text_encoder_lr)])
