"""UMDF: a unified self-distillation framework for MSA with uncertain missing modalities.

Li, Yang, et al. "A Unified Self-Distillation Framework for Multimodal Sentiment Analysis with
Uncertain Missing Modalities." AAAI 2024. No public code.

Architecture. Each modality is projected to ``d_model`` (text: precomputed token features or a
fine-tuned transformers encoder) and passes a Dynamic Feature Integration Module (DFIM):
frame-level self-enhancement (a sigmoid gate of the frame, Hadamard product, summed with the
frame) and selective filtering (a sigmoid gate from the frame and its utterance context,
Hadamard product), concatenated and projected back. The Multi-grained Cross-modal Interaction
Module (MCIM) then gives two representations from one shared Transformer encoder over one token
per modality: H_a from the coarse-grained path (the modalities' utterance vectors attend to
each other) and H_b from the fine-grained path (each modality's frames first attend to the
other modalities' frames, cross-modal attention, then are pooled to its token). Each
representation has its own regression classifier; the prediction is their mean.

Self-distillation (the paper's direction). In training the model sees each batch twice, inside
``forward``: the **teacher** view is the batch as given (complete modalities), the **student**
view a randomly degraded copy (each example draws a missing rate in [0, ``missing_rate``] and
drops each modality with it, keeping at least one: the harness's
:func:`msa_bench.inputs.corruption.drop_modalities`). The student learns from the teacher on features,
L_fea = MSE(H_student, stop-grad(H_teacher)) over H_a and H_b, and on logits,
L_logits = MSE(ŷ_student, stop-grad(ŷ_teacher)). Missing-modality training is thus part of the
model, not a harness setting. Evaluation uses one pass over the batch as given.

Loss: the L1 task losses of both classifiers on both views + ``feature_weight`` × L_fea +
``logit_weight`` × L_logits.

Unpublished details and the choices made here (simplest choices consistent with the paper):
- DFIM: enhanced = x + x * sigmoid(W_e x); filtered = x * sigmoid(W_f [x; mean(x)]);
  output = Linear([enhanced; filtered]).
- Absent modalities are masked out of both paths (their tokens are excluded from the encoder
  and from pooling). The student's missing rate (``missing_rate`` 0.5) is ours: the paper's
  exact training protocol is not something we could verify.
- One Transformer encoder (``n_layers`` layers) is shared by the two paths, with a learned
  modality embedding added to each token.
- Loss weights (0.1 each) and the MOSI/MOSEI hyperparameters are the simplest reasonable
  settings, and no paper numbers are listed because we could not verify them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

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
from msa_bench.models.fidelity import FidelityRow
from msa_bench.models.layers import attend
from msa_bench.inputs.corruption import drop_modalities

MODALITIES = ("text", "audio", "vision")


class DynamicFeatureIntegration(nn.Module):
    """DFIM: frame-level self-enhancement and selective filtering of one modality."""

    def __init__(self, d_model: int) -> None:
        super().__init__()
        self.enhance_gate = nn.Linear(d_model, d_model)
        self.filter_gate = nn.Linear(2 * d_model, d_model)
        self.merge = nn.Linear(2 * d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        enhanced = x + x * torch.sigmoid(self.enhance_gate(x))
        context = masked_mean(x, mask).unsqueeze(1).expand_as(x)
        filtered = x * torch.sigmoid(self.filter_gate(torch.cat([x, context], dim=-1)))
        return self.merge(torch.cat([enhanced, filtered], dim=-1)) * mask.unsqueeze(-1).to(x.dtype)


class ModalityTokenEncoder(nn.Module):
    """A Transformer encoder over one token per modality, masked by presence; pooled output."""

    def __init__(self, d_model: int, n_heads: int, n_layers: int, dropout: float) -> None:
        super().__init__()
        self.modality_embedding = nn.Parameter(torch.zeros(len(MODALITIES), d_model))
        self.layers = nn.ModuleList(
            nn.ModuleDict(
                {
                    "attention": nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True),
                    "norm1": nn.LayerNorm(d_model),
                    "feed_forward": nn.Sequential(nn.Linear(d_model, 2 * d_model), nn.ReLU(), nn.Linear(2 * d_model, d_model)),
                    "norm2": nn.LayerNorm(d_model),
                }
            )
            for _ in range(n_layers)
        )

    def forward(self, tokens: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        x = tokens + self.modality_embedding
        for layer in self.layers:
            x = layer["norm1"](x + attend(layer["attention"], x, x, present))
            x = layer["norm2"](x + layer["feed_forward"](x))
        return masked_mean(x, present)


@dataclass(frozen=True)
class UMDFConfig(ModelConfig):
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dropout: float = 0.1
    feature_weight: float = 0.1
    logit_weight: float = 0.1
    #: The student view's per-example missing rate is drawn from [0, missing_rate].
    missing_rate: float = 0.5
    text_encoder: str | None = None
    text_encoder_lr: float = 5e-5
    text_max_tokens: int = 50


_TRAIN = {"lr": 1e-4, "weight_decay": 1e-4, "max_epochs": 40, "patience": 8, "grad_clip": 1.0}


@register_model("umdf")
class UMDF(MSAModel):
    """Self-distillation between coarse- and fine-grained cross-modal views; see the module docstring."""

    config_class = UMDFConfig
    missing_modality_training = "a degraded student view (per-example missing rate ≤ {missing_rate:g}, inside the model)"
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
        FidelityRow("self-distillation direction", "the paper (AAAI 2024; no public code): complete-modality view "
                    "(teacher) → missing-modality view (student)",
                    "stop-gradient teacher on the batch as given, student on a degraded copy", "as described"),
        FidelityRow("missing-modality training", "the paper: inside the method",
                    "inside forward (drop_modalities), no harness flag", "as described"),
        FidelityRow("DFIM, MCIM, loss weights, missing rate", "the paper (details not released)",
                    "simplest choices consistent with the paper (module docstring)", "as described"),
    )

    def __init__(self, config: UMDFConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, d = config, config.d_model
        self.text_encoder = TextEncoder(spec.text_dim, c.text_encoder, out_dim=d, max_tokens=c.text_max_tokens)
        self.projections = nn.ModuleDict({m: nn.Linear(spec.dim(m), d) for m in ("audio", "vision")})
        self.dfim = nn.ModuleDict({m: DynamicFeatureIntegration(d) for m in MODALITIES})
        self.fine_attention = nn.ModuleDict(
            {m: nn.MultiheadAttention(d, c.n_heads, dropout=c.dropout, batch_first=True) for m in MODALITIES}
        )
        self.fine_norm = nn.LayerNorm(d)
        self.token_encoder = ModalityTokenEncoder(d, c.n_heads, c.n_layers, c.dropout)
        self.classifiers = nn.ModuleDict(
            {path: nn.Sequential(nn.Linear(d, d), nn.ReLU(), nn.Dropout(c.dropout), nn.Linear(d, 1)) for path in ("a", "b")}
        )
        self.heads = self.task_heads(self.classifiers["a"][0].in_features)

    def forward(self, batch) -> ModelOutput:
        teacher = self.represent(batch)
        aux = {"teacher": teacher}
        if self.training:
            seed = int(torch.randint(0, 2**62, (), device="cpu"))
            aux["student"] = self.represent(drop_modalities(batch, self.config.missing_rate, torch.Generator().manual_seed(seed)))
        fused = (teacher["h_a"] + teacher["h_b"]) / 2
        return self.heads(fused, ModelOutput(sentiment=(teacher["y_a"] + teacher["y_b"]) / 2, aux=aux))

    def represent(self, batch) -> dict[str, torch.Tensor]:
        """One view's coarse and fine representations (``h_a``, ``h_b``) and predictions."""
        text = self.text_encoder(batch)
        masks = {"text": text.mask, "audio": batch.audio.mask, "vision": batch.vision.mask}
        projected = {"text": text.states, **{m: self.projections[m](batch.modality(m).features) for m in ("audio", "vision")}}
        frames = {m: self.dfim[m](projected[m], masks[m]) for m in MODALITIES}
        present = torch.stack([masks[m].any(dim=1) for m in MODALITIES], dim=1)

        coarse = torch.stack([masked_mean(frames[m], masks[m]) for m in MODALITIES], dim=1)
        fine_tokens = []
        for m in MODALITIES:
            others = [o for o in MODALITIES if o != m]
            keys = torch.cat([frames[o] for o in others], dim=1)
            key_mask = torch.cat([masks[o] for o in others], dim=1)
            attended = self.fine_norm(frames[m] + attend(self.fine_attention[m], frames[m], keys, key_mask))
            fine_tokens.append(masked_mean(attended, masks[m]))
        h_a = self.token_encoder(coarse, present)
        h_b = self.token_encoder(torch.stack(fine_tokens, dim=1), present)
        return {"h_a": h_a, "h_b": h_b, "y_a": self.classifiers["a"](h_a).squeeze(-1), "y_b": self.classifiers["b"](h_b).squeeze(-1)}

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        c = self.config
        views = [output.aux["teacher"], *([output.aux["student"]] if "student" in output.aux else [])]
        known = ~torch.isnan(targets.sentiment)
        loss = output.sentiment.new_zeros(())
        if known.any():
            for view in views:
                loss = loss + sum(F.l1_loss(view[y][known], targets.sentiment[known]) for y in ("y_a", "y_b"))
        if len(views) == 2:
            teacher, student = views
            loss = loss + c.feature_weight * self.feature_distillation(teacher, student)
            loss = loss + c.logit_weight * self.logit_distillation(teacher, student)
        return loss

    @staticmethod
    def feature_distillation(teacher: dict, student: dict) -> torch.Tensor:
        """L_fea: MSE of the student's H_a and H_b to the teacher's, which gets no gradient."""
        return sum(F.mse_loss(student[h], teacher[h].detach()) for h in ("h_a", "h_b")) / 2

    @staticmethod
    def logit_distillation(teacher: dict, student: dict) -> torch.Tensor:
        """L_logits: MSE of the student's predictions to the teacher's, which gets no gradient."""
        return sum(F.mse_loss(student[y], teacher[y].detach()) for y in ("y_a", "y_b")) / 2

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return learning_rate_groups(self, lr, weight_decay, [(self.text_encoder.pretrained_parameters(), self.config.text_encoder_lr)])
