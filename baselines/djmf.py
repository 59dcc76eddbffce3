"""DJMF: a discriminative joint multi-task framework (sentiment regression + emotion recognition).

Zheng, Gong, Wen, Zhang. "A discriminative joint multi-task framework for multimodal sentiment
analysis based on intra- and inter-task dynamics." Expert Systems with Applications 242 (2024),
122728. No public code.

Architecture. Text (precomputed token features or a fine-tuned transformers encoder), acoustic
and visual sequences are encoded to ``d_model``. A Dual Bidirectional Encoder stacks ``n_layers``
levels of four interaction blocks, TA, AT, TV and VT: a block is cross-modal attention with the
queries from the first modality and keys/values from the second, Add&Norm, a feed-forward
network and Add&Norm. Text keeps two streams (one interacting with audio, one with vision).
Each level's four outputs are pooled into one shared level feature (the pyramid levels, shared
by both tasks: inter-task dynamics). Each task owns a feature pyramid network over those levels
(intra-task dynamics): a bottom-up path that max-pools each level with the projected level
below, then a top-down path that feeds each level back into the one below; the task's fused
feature is the max over the pyramid's levels. A regression head predicts sentiment and a
second head the six emotion intensities (MOSEI's anger, disgust, fear, happiness, sadness,
surprise).

Declared deviation: the regularisers. The paper's abstract says that "in the fusion process"
two categories of regularisers give distinct fusion results "by reducing redundancy and
task-irrelevant information"; their formulas are not in any source we could read (no public
code, the article is not open access), so they are not implemented. In their place msa_bench
uses one mutual-information regulariser of its own: an InfoNCE lower bound, maximised, that
ties the masked-mean text input representation to the audio and to the vision one, before the
encoder. It maximises shared information rather than reducing redundancy, and acts on the
inputs, not on the fusion; ``mi_weight=0`` removes it.

Loss: L1 on sentiment + MSE on emotion intensities (each only where annotated, via
``task_loss``; on datasets without emotion labels the emotion loss is absent) +
``mi_weight`` x (InfoNCE loss).

Unpublished details and the choices made here (simplest choices consistent with the paper):
- Acoustic and visual encoders: a linear projection + LayerNorm per frame; text: the shared
  ``TextEncoder`` projected to ``d_model``.
- Each level feature: the masked means of the four block outputs, concatenated, then a linear
  layer. Bottom-up: b_1 = f_1, b_l = max(f_l, W_l b_(l-1)); top-down: p_L = b_L,
  p_l = b_l + U_l p_(l+1); task feature: element-wise max over p_1..p_L.
- MI estimator: InfoNCE with a bilinear critic over the batch between the masked-mean
  text representation and each of audio/vision (only over rows where both are present).
- The emotion head is Linear → ReLU → Linear regressing the intensities (MSE), not a classifier.
- Loss weights (``mi_weight`` 0.1, emotions weighted 1) and MOSI/MOSEI hyperparameters are not
  published in a form we could verify: the configs below are the simplest reasonable settings
  and there are no paper numbers here.
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
    task_loss,
)
from msa_bench.models.fidelity import FidelityRow
from msa_bench.models.layers import attend

# ---------------------------------------------------------------------------------------------
# Building blocks also reused by other part-2 baselines (cdml, diff_fusion, umdf, vtaf).


class CrossModalBlock(nn.Module):
    """Cross-modal Transformer block: queries from one modality, keys/values from another,
    Add&Norm, feed-forward, Add&Norm (post-norm, as in the original Transformer)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(d_model, n_heads, dropout=dropout, batch_first=True)
        self.norm1 = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(
            nn.Linear(d_model, 2 * d_model), nn.ReLU(), nn.Dropout(dropout), nn.Linear(2 * d_model, d_model)
        )
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        x = self.norm1(query + self.dropout(attend(self.attention, query, keys, key_mask)))
        return self.norm2(x + self.dropout(self.feed_forward(x)))


def info_nce(x: torch.Tensor, y: torch.Tensor, critic: nn.Bilinear, rows: torch.Tensor) -> torch.Tensor:
    """InfoNCE loss (the negative of an MI lower bound up to log N) between paired rows of
    ``x`` and ``y`` where ``rows`` is True; zero when fewer than two such rows."""
    x, y = x[rows], y[rows]
    if len(x) < 2:
        return x.new_zeros(())
    n = len(x)
    scores = critic(x.unsqueeze(1).expand(n, n, -1).reshape(n * n, -1), y.repeat(n, 1)).view(n, n)
    return F.cross_entropy(scores, torch.arange(n, device=x.device))


# ---------------------------------------------------------------------------------------------


class DualBidirectionalLayer(nn.Module):
    """One level of the Dual Bidirectional Encoder: TA, AT, TV, VT interaction blocks."""

    def __init__(self, d_model: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.blocks = nn.ModuleDict({name: CrossModalBlock(d_model, n_heads, dropout) for name in ("ta", "at", "tv", "vt")})

    def forward(self, streams: dict[str, torch.Tensor], masks: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {
            "text_a": self.blocks["ta"](streams["text_a"], streams["audio"], masks["audio"]),
            "audio": self.blocks["at"](streams["audio"], streams["text_a"], masks["text"]),
            "text_v": self.blocks["tv"](streams["text_v"], streams["vision"], masks["vision"]),
            "vision": self.blocks["vt"](streams["vision"], streams["text_v"], masks["text"]),
        }


class TaskPyramid(nn.Module):
    """A task's own feature pyramid over the shared level features (bottom-up max, top-down)."""

    def __init__(self, d_model: int, n_levels: int) -> None:
        super().__init__()
        self.bottom_up = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(n_levels - 1))
        self.top_down = nn.ModuleList(nn.Linear(d_model, d_model) for _ in range(n_levels - 1))

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        bottom_up = [levels[0]]
        for level, lateral in zip(levels[1:], self.bottom_up):
            bottom_up.append(torch.maximum(level, lateral(bottom_up[-1])))
        pyramid = [bottom_up[-1]]
        for level, feedback in zip(reversed(bottom_up[:-1]), reversed(self.top_down)):
            pyramid.append(level + feedback(pyramid[-1]))
        return torch.stack(pyramid).amax(dim=0)


@dataclass(frozen=True)
class DJMFConfig(ModelConfig):
    d_model: int = 64
    n_heads: int = 4
    #: L, the number of Dual Bidirectional Encoder levels (= pyramid levels).
    n_layers: int = 3
    dropout: float = 0.1
    mi_weight: float = 0.1
    text_encoder: str | None = None
    text_encoder_lr: float = 5e-5
    text_max_tokens: int = 50

    def __post_init__(self) -> None:
        if self.n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {self.n_layers}")


_TRAIN = {"lr": 1e-4, "weight_decay": 1e-4, "max_epochs": 40, "patience": 8, "grad_clip": 1.0}


@register_model("djmf")
class DJMF(MSAModel):
    """Joint sentiment regression and emotion-intensity recognition (see the module docstring)."""

    config_class = DJMFConfig
    supported_tasks = ("sentiment", "emotions")
    default_configs = {
        "mosi": {"model": {}, "train": {**_TRAIN, "batch_size": 32}},
        "mosei": {"model": {}, "train": {**_TRAIN, "batch_size": 64}},
        "ravdess": {"model": {"d_model": 32, "n_heads": 2, "n_layers": 1},
                    "train": {**_TRAIN, "lr": 1e-3, "batch_size": 32, "select_metric": "emotion_ua"}},
        "synthetic": {
            "model": {"d_model": 16, "n_heads": 2, "n_layers": 2, "dropout": 0.0},
            "train": {"lr": 5e-3, "batch_size": 128, "max_epochs": 3, "patience": 3},
        },
        "test": {"model": {"d_model": 16, "n_heads": 2, "n_layers": 2, "dropout": 0.0}},
    }

    fidelity = (
        FidelityRow("dual bidirectional encoder, shared levels, per-task pyramids, joint sentiment + emotion heads",
                    "the paper (ESWA 2024; no public code)",
                    "implemented with the choices in the module docstring; both heads are Linear → ReLU → Linear",
                    "as described"),
        FidelityRow("regularisers", "two categories in the fusion process: reduce redundancy and task-irrelevant "
                    "information (formulas unpublished in any source we could read)",
                    "one InfoNCE (maximised) between the text and the audio/vision input representations; mi_weight=0 "
                    "removes it", "as described"),
    )

    def __init__(self, config: DJMFConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c = config
        self.text_encoder = TextEncoder(spec.text_dim, c.text_encoder, out_dim=c.d_model, max_tokens=c.text_max_tokens)
        self.encoders = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(spec.dim(m), c.d_model), nn.LayerNorm(c.d_model)) for m in ("audio", "vision")}
        )
        self.layers = nn.ModuleList(DualBidirectionalLayer(c.d_model, c.n_heads, c.dropout) for _ in range(c.n_layers))
        self.level_fusion = nn.ModuleList(nn.Linear(4 * c.d_model, c.d_model) for _ in range(c.n_layers))
        self.pyramids = nn.ModuleDict({task: TaskPyramid(c.d_model, c.n_layers) for task in ("sentiment", "emotions")})
        self.sentiment_head = nn.Sequential(nn.Linear(c.d_model, c.d_model), nn.ReLU(), nn.Linear(c.d_model, 1))
        self.emotion_head = nn.Sequential(
            nn.Linear(c.d_model, c.d_model), nn.ReLU(), nn.Linear(c.d_model, spec.n_emotions)
        )
        self.mi_critics = nn.ModuleDict({m: nn.Bilinear(c.d_model, c.d_model, 1) for m in ("audio", "vision")})
        self.heads = self.task_heads(self.sentiment_head[0].in_features)

    def forward(self, batch) -> ModelOutput:
        text = self.text_encoder(batch)
        masks = {"text": text.mask, "audio": batch.audio.mask, "vision": batch.vision.mask}
        audio = self.encoders["audio"](batch.audio.features)
        vision = self.encoders["vision"](batch.vision.features)
        streams = {"text_a": text.states, "audio": audio, "text_v": text.states, "vision": vision}
        stream_masks = {"text_a": masks["text"], "audio": masks["audio"], "text_v": masks["text"], "vision": masks["vision"]}
        levels = []
        for layer, fuse in zip(self.layers, self.level_fusion):
            streams = layer(streams, masks)
            pooled = [masked_mean(streams[name], stream_masks[name]) for name in ("text_a", "audio", "text_v", "vision")]
            levels.append(fuse(torch.cat(pooled, dim=-1)))
        text_vector = masked_mean(text.states, masks["text"])
        mi_loss = sum(
            info_nce(text_vector, masked_mean(features, masks[m]), self.mi_critics[m], text.present & batch.modality(m).present)
            for m, features in (("audio", audio), ("vision", vision))
        )
        return self.heads(levels[-1], ModelOutput(
            sentiment=self.sentiment_head(self.pyramids["sentiment"](levels)).squeeze(-1),
            emotions=self.emotion_head(self.pyramids["emotions"](levels)),
            aux={"mi_loss": mi_loss},
        ))

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        return task_loss(output, targets, self.own_tasks) + self.config.mi_weight * output.aux["mi_loss"]

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return learning_rate_groups(self, lr, weight_decay, [(self.text_encoder.pretrained_parameters(), self.config.text_encoder_lr)])
