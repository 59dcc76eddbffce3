"""MulT: the Multimodal Transformer for unaligned multimodal language sequences.

Tsai, Bai, Liang, Kolter, Morency, Salakhutdinov. "Multimodal Transformer for Unaligned
Multimodal Language Sequences." ACL 2019. Official code: yaohungt/Multimodal-Transformer.

Architecture: each modality is projected to a common width ``d`` by a temporal convolution
(kernel 1 as in the official defaults). For every ordered pair (source → target) a crossmodal
Transformer lets the target sequence attend to the source sequence (pre-LayerNorm blocks,
sinusoidal positions, feed-forward 4·d). The two crossmodal outputs of each target are
concatenated (2·d) and passed through a self-attention Transformer; the last real time step of
the three targets (6·d) goes through a residual two-layer MLP and a linear output.

Deviations from the official code:

- Padding: keys at padded frames are masked (``key_padding_mask``) and the "last" step is each
  example's last real frame (the official code reads position −1 of zero-padded sequences).
- An absent source contributes a zero crossmodal output; an absent target's final state is zero.
- Defaults are the official code's defaults (d 30, 5 layers, 5 heads); the paper's appendix
  tunes some of them per dataset. Validation-only checkpoint selection by the harness.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, TextEncoder, register_model
from msa_bench.models.layers import attend, frame_mask, last_real_step, sinusoidal_positions

MODALITIES = ("text", "audio", "vision")


@dataclass(frozen=True)
class MulTConfig(ModelConfig):
    text_encoder: str | None = None
    dim: int = 30
    heads: int = 5
    layers: int = 5
    #: Layers of the self-attention Transformers after the crossmodal ones; None = max(layers, 3) as officially.
    memory_layers: int | None = None
    attn_dropout: float = 0.1
    attn_dropout_audio: float = 0.0
    attn_dropout_vision: float = 0.0
    relu_dropout: float = 0.1
    res_dropout: float = 0.1
    embed_dropout: float = 0.25
    out_dropout: float = 0.0


class _Block(nn.Module):
    """Pre-LayerNorm attention block: the query sequence attends to a (possibly other) source."""

    def __init__(self, dim: int, heads: int, attn_dropout: float, relu_dropout: float, res_dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=attn_dropout, batch_first=True)
        self.query_norm, self.source_norm, self.ff_norm = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.ReLU(), nn.Dropout(relu_dropout), nn.Linear(4 * dim, dim))
        self.dropout = nn.Dropout(res_dropout)

    def forward(self, x: torch.Tensor, source: torch.Tensor | None, source_mask: torch.Tensor) -> torch.Tensor:
        query = self.query_norm(x)
        keys = query if source is None else self.source_norm(source)
        x = x + self.dropout(attend(self.attention, query, keys, source_mask))
        return x + self.dropout(self.ff(self.ff_norm(x)))


class _Encoder(nn.Module):
    """Scaled input + sinusoidal positions, ``layers`` blocks, final LayerNorm (crossmodal when a source is given)."""

    def __init__(self, dim: int, heads: int, layers: int, config: MulTConfig, attn_dropout: float):
        super().__init__()
        self.dim = dim
        self.blocks = nn.ModuleList(
            _Block(dim, heads, attn_dropout, config.relu_dropout, config.res_dropout) for _ in range(layers)
        )
        self.embed_dropout = nn.Dropout(config.embed_dropout)
        self.norm = nn.LayerNorm(dim)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed_dropout(math.sqrt(self.dim) * x + sinusoidal_positions(x.shape[1], self.dim, x.device))

    def forward(self, x, mask, source=None, source_mask=None) -> torch.Tensor:
        x = self._embed(x)
        source = None if source is None else self._embed(source)
        for block in self.blocks:
            x = block(x, source, mask if source is None else source_mask)
        return self.norm(x)


@register_model("mult")
class MulT(MSAModel):
    config_class = MulTConfig
    default_configs = {
        "mosi": {"train": {"lr": 1e-3, "batch_size": 24, "grad_clip": 0.8, "max_epochs": 40, "patience": 10}},
        "mosei": {"train": {"lr": 1e-3, "batch_size": 24, "grad_clip": 0.8, "max_epochs": 40, "patience": 10}},
        "synthetic": {
            "model": {"dim": 16, "heads": 2, "layers": 1, "memory_layers": 1, "attn_dropout": 0.0, "relu_dropout": 0.0,
                      "res_dropout": 0.0, "embed_dropout": 0.1},
            "train": {"lr": 2e-3, "batch_size": 32, "grad_clip": 0.8, "max_epochs": 3, "patience": 3},
        },
        "test": {"model": {"dim": 8, "heads": 2, "layers": 1, "memory_layers": 1}},
    }
    #: Unaligned setting (as msa_bench's data); accuracies and F1 as fractions, like msa_bench.metrics.
    # Binary accuracy and F1 leave out zero labels: the official code evaluates with
    # eval_mosei_senti(..., exclude_zero=True) (src/train.py, src/eval_metrics.py).
    paper_results = {
        "mosi": {"source": "Tsai et al., ACL 2019, Table 1 (MulT, unaligned CMU-MOSI)", "mae": 0.889, "corr": 0.686,
                 "acc2_non0": 0.811, "f1_non0": 0.810, "acc7": 0.391},
        "mosei": {"source": "Tsai et al., ACL 2019, Table 2 (MulT, unaligned CMU-MOSEI)", "mae": 0.591,
                  "corr": 0.694, "acc2_non0": 0.816, "f1_non0": 0.816, "acc7": 0.507},
    }

    def __init__(self, config: MulTConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        d = config.dim
        self.text = TextEncoder(spec.text_dim, config.text_encoder)
        in_dims = {"text": self.text.out_dim, "audio": spec.audio_dim, "vision": spec.vision_dim}
        self.projections = nn.ModuleDict({m: nn.Conv1d(in_dims[m], d, kernel_size=1, bias=False) for m in MODALITIES})
        self.text_dropout = nn.Dropout(config.embed_dropout)
        attn_dropout = {"text": config.attn_dropout, "audio": config.attn_dropout_audio, "vision": config.attn_dropout_vision}
        self.crossmodal = nn.ModuleDict(
            {
                f"{source}_to_{target}": _Encoder(d, config.heads, config.layers, config, attn_dropout[source])
                for target in MODALITIES
                for source in MODALITIES
                if source != target
            }
        )
        self.memory = nn.ModuleDict(
            {m: _Encoder(2 * d, config.heads, config.memory_layers or max(config.layers, 3), config, config.attn_dropout) for m in MODALITIES}
        )
        self.proj1, self.proj2 = nn.Linear(6 * d, 6 * d), nn.Linear(6 * d, 6 * d)
        self.out = nn.Linear(6 * d, 1)
        self.heads = self.task_heads(self.out.in_features)

    def forward(self, batch) -> ModelOutput:
        text = self.text(batch)
        inputs = {"text": (self.text_dropout(text.states), text.mask)}
        for name in ("audio", "vision"):
            modality = batch.modality(name)
            inputs[name] = (modality.features, frame_mask(modality))
        sequences = {
            m: (self.projections[m](x.transpose(1, 2)).transpose(1, 2), mask) for m, (x, mask) in inputs.items()
        }
        last_states = []
        for target in MODALITIES:
            x, mask = sequences[target]
            crossed = [
                self.crossmodal[f"{source}_to_{target}"](x, mask, *sequences[source])
                for source in MODALITIES
                if source != target
            ]
            fused = self.memory[target](torch.cat(crossed, dim=-1), mask)
            last_states.append(last_real_step(fused, mask))
        last = torch.cat(last_states, dim=-1)
        hidden = self.proj2(F.dropout(F.relu(self.proj1(last)), self.config.out_dropout, self.training)) + last
        return self.heads(hidden, ModelOutput(sentiment=self.out(hidden).squeeze(-1)))
