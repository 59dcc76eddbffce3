"""DiffFusion: text-queried cross-modal fusion with differential attention.

Differential attention from Ye et al., "Differential Transformer" (arXiv:2410.05258, 2024;
ICLR 2025), used as the cross-modal fusion operator the way the MSA survey describes
("text queries speech and vision, with configurable weights per modality").

Architecture. Each modality is projected to ``d_model``. A learned fusion token is prepended
to the text sequence; this sequence is the query stream. Every fusion layer ``l`` (1-based)
runs one differential cross-attention from the query stream to audio and one to vision,

    attn = softmax(Q1 K1^T / sqrt(d)) - lambda * softmax(Q2 K2^T / sqrt(d)),
    lambda = exp(lq1 . lk1) - exp(lq2 . lk2) + lambda_init,
    lambda_init = 0.8 - 0.6 * exp(-0.3 * (l - 1)),

with per-head RMS normalisation of ``attn @ V`` and the output scaled by ``1 - lambda_init``
(as in the paper). The two cross-attention outputs are mixed with learned per-modality weights
(softmax over two logits) and added to the query stream, followed by a feed-forward block
(pre-norm residual blocks). The masked mean of the final query stream feeds a two-layer head.
With ``recurrent=True`` the fused query stream is fed back through the same layer stack
``recurrent_steps`` times (weight sharing, step by step), the recurrent variant.
``diff_fusion_std`` is the same model with standard multi-head cross-attention in place of the
differential one (``differential=False``): 2·n_heads heads of the differential heads' query/key
size (the Differential Transformer paper's Transformer baseline), no per-head RMSNorm, no
(1 - lambda_init) scaling and no lambda parameters, so every parameter is used.

The differential attention block equals the official ``MultiheadDiffAttn`` (microsoft/unilm
``Diff-Transformer/multihead_diffattn.py``, commit 768a3c8) used non-causally without rotary
positions: its weights load through :func:`official_attention_state_dict` and reproduce the
official outputs (``tests/test_official_equivalence.py``). As there, the per-head RMSNorm runs
in float32 even under bf16 autocast.

Choices (the fusion model itself is the survey's description, with no public code):
- Attention is non-causal and padding-masked; a row whose key modality is absent gets a zero
  cross-attention output (no attention over padding, no NaN).
- The learned fusion token makes the model predict from audio and vision when the transcript is
  absent (text is the only query otherwise).
- No positional encodings: the cross-attention pools over frames and the text stream is only
  pooled, so order information is not used (simplest choice).
- Per-head normalisation is ``torch.nn.RMSNorm`` (eps 1e-5) with a learnable scale on float32
  input, as in the official Differential Transformer code; lambda vectors are initialised
  N(0, 0.1^2) as there.
- The recurrent variant reuses layer indices (and so lambda_init) on every pass.
- MOSI/MOSEI hyperparameters are not published for this model: the defaults below are the
  simplest settings of the same size as the other attention baselines, and there are no
  paper numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
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
from msa_bench.models.fidelity import FidelityRow, rename_official
from msa_bench.models.layers import attend


def lambda_init_for_layer(layer: int) -> float:
    """Differential Transformer's depth schedule: 0.8 - 0.6 exp(-0.3 (layer - 1)), layer from 1."""
    if layer < 1:
        raise ValueError(f"layer index starts at 1, got {layer}")
    return 0.8 - 0.6 * math.exp(-0.3 * (layer - 1))


class DifferentialCrossAttention(nn.Module):
    """Multi-head differential cross-attention (non-causal, key-padding masked).

    ``2 * n_heads`` query/key heads of size ``head_dim`` are paired into ``n_heads`` differential
    heads whose values have size ``2 * head_dim`` (so the parameter count equals standard
    attention of width ``d_model``), as the official ``MultiheadDiffAttn``.
    """

    def __init__(self, d_model: int, n_heads: int, layer: int) -> None:
        super().__init__()
        if d_model % (2 * n_heads):
            raise ValueError(f"d_model ({d_model}) must be divisible by 2 * n_heads ({2 * n_heads})")
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads // 2
        self.lambda_init = lambda_init_for_layer(layer)
        self.query = nn.Linear(d_model, d_model, bias=False)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.lambda_q1, self.lambda_k1, self.lambda_q2, self.lambda_k2 = (
            nn.Parameter(torch.randn(self.head_dim) * 0.1) for _ in range(4)
        )
        self.head_norm = nn.RMSNorm(2 * self.head_dim, eps=1e-5)

    def lambda_value(self) -> torch.Tensor:
        """The re-parameterised lambda."""
        return (
            torch.exp(torch.dot(self.lambda_q1, self.lambda_k1).float())
            - torch.exp(torch.dot(self.lambda_q2, self.lambda_k2).float())
            + self.lambda_init
        )

    def normalise_heads(self, heads: torch.Tensor) -> torch.Tensor:
        """Per-head RMSNorm on float32 input (also under autocast), back in the input's dtype."""
        with torch.autocast(device_type=heads.device.type, enabled=False):
            return self.head_norm(heads.float()).to(heads.dtype)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """``query`` (B, Lq, d) attends to ``keys`` (B, Lk, d) where ``key_mask`` (B, Lk) is True."""
        batch, q_len, d_model = query.shape
        k_len = keys.shape[1]
        q = self.query(query).view(batch, q_len, 2 * self.n_heads, self.head_dim).transpose(1, 2)
        k = self.key(keys).view(batch, k_len, 2 * self.n_heads, self.head_dim).transpose(1, 2)
        v = self.value(keys).view(batch, k_len, self.n_heads, 2 * self.head_dim).transpose(1, 2)
        has_keys = key_mask.any(dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.head_dim)
        scores = scores.masked_fill(~key_mask[:, None, None, :], float("-inf"))
        # An example without this modality would softmax over nothing: give it uniform weights
        # over the zero padding instead, and zero its output below.
        scores = scores.masked_fill(~has_keys[:, None, None, None], 0.0)
        weights = scores.float().softmax(dim=-1).to(scores.dtype).view(batch, self.n_heads, 2, q_len, k_len)
        attention = weights[:, :, 0] - self.lambda_value().to(weights.dtype) * weights[:, :, 1]
        heads = self.normalise_heads(attention @ v) * (1.0 - self.lambda_init)
        output = self.out(heads.transpose(1, 2).reshape(batch, q_len, d_model))
        return output * has_keys[:, None, None].to(output.dtype)


class StandardCrossAttention(nn.Module):
    """Standard multi-head cross-attention, ``diff_fusion_std``'s: ``2 * n_heads`` heads of
    ``d_model / (2 n_heads)`` (the Differential Transformer paper's Transformer baseline), no
    biases like the differential block, padded keys masked, zero output without keys."""

    def __init__(self, d_model: int, n_heads: int) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(d_model, 2 * n_heads, bias=False, batch_first=True)

    def forward(self, query: torch.Tensor, keys: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        return attend(self.attention, query, keys, key_mask)


class FusionLayer(nn.Module):
    """Text (query stream) <- audio and vision differential cross-attention, then feed-forward."""

    def __init__(self, d_model: int, n_heads: int, layer: int, dropout: float, differential: bool) -> None:
        super().__init__()
        self.query_norm = nn.LayerNorm(d_model)
        self.key_norms = nn.ModuleDict({m: nn.LayerNorm(d_model) for m in ("audio", "vision")})
        self.attention = nn.ModuleDict(
            {
                m: DifferentialCrossAttention(d_model, n_heads, layer) if differential else StandardCrossAttention(d_model, n_heads)
                for m in ("audio", "vision")
            }
        )
        self.modality_logits = nn.Parameter(torch.zeros(2))
        self.feed_forward = nn.Sequential(
            nn.LayerNorm(d_model),
            nn.Linear(d_model, 4 * d_model),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(4 * d_model, d_model),
        )
        self.dropout = nn.Dropout(dropout)

    def forward(self, stream: torch.Tensor, keys: dict[str, tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
        query = self.query_norm(stream)
        weights = self.modality_logits.softmax(dim=0)
        fused = sum(
            weight * self.attention[m](query, self.key_norms[m](keys[m][0]), keys[m][1])
            for weight, m in zip(weights, ("audio", "vision"))
        )
        stream = stream + self.dropout(fused)
        return stream + self.dropout(self.feed_forward(stream))


@dataclass(frozen=True)
class DiffFusionConfig(ModelConfig):
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    dropout: float = 0.1
    #: False gives standard multi-head attention (``diff_fusion_std``).
    differential: bool = True
    #: Feed the fused stream back through the layer stack ``recurrent_steps`` times.
    recurrent: bool = False
    recurrent_steps: int = 2
    #: Text path: None = precomputed token features; else a transformers checkpoint (name or
    #: local path) fine-tuned with its own learning rate.
    text_encoder: str | None = None
    text_encoder_lr: float = 5e-5
    text_max_tokens: int = 50

    def __post_init__(self) -> None:
        if self.n_layers < 1 or self.recurrent_steps < 1:
            raise ValueError(f"n_layers and recurrent_steps must be >= 1, got {self.n_layers}, {self.recurrent_steps}")


_TRAIN_PAPER_SIZE = {"lr": 1e-4, "weight_decay": 1e-4, "max_epochs": 40, "patience": 8, "grad_clip": 1.0}


@register_model("diff_fusion")
class DiffFusion(MSAModel):
    """Differential-attention cross-modal fusion (see the module docstring)."""

    config_class = DiffFusionConfig
    default_configs = {
        "mosi": {"model": {}, "train": {**_TRAIN_PAPER_SIZE, "batch_size": 32}},
        "mosei": {"model": {"n_layers": 3}, "train": {**_TRAIN_PAPER_SIZE, "batch_size": 64}},
        "ravdess": {"model": {"d_model": 32, "n_heads": 2, "n_layers": 1},
                    "train": {**_TRAIN_PAPER_SIZE, "lr": 1e-3, "batch_size": 32, "select_metric": "emotion_ua"}},
        "synthetic": {
            "model": {"d_model": 16, "n_heads": 2, "n_layers": 1, "dropout": 0.0},
            "train": {"lr": 5e-3, "batch_size": 128, "max_epochs": 5, "patience": 5},
        },
        "test": {"model": {"d_model": 16, "n_heads": 2, "n_layers": 2, "dropout": 0.0}},
    }
    fidelity = (
        FidelityRow("differential attention, lambda, per-head RMSNorm (fixture diff_attn/)",
                    "unilm MultiheadDiffAttn at 768a3c8, non-causal mask",
                    "DifferentialCrossAttention with official weights via official_attention_state_dict", "equal",
                    test="tests/test_official_equivalence.py::test_differential_attention_equals_the_official_block"),
        FidelityRow("queries and keys from separate streams, masked keys", "the same layer, causal: query i attends to keys 0..i",
                    "query frame x_i against keys x_0..x_i (another tensor, reversed), and against all keys with later ones masked",
                    "equal", test="tests/test_official_equivalence.py::test_differential_attention_equals_the_official_block_causally_and_across_streams"),
        FidelityRow("causality", "causal mask when none is given (a decoder layer)", "non-causal, padded keys masked",
                    "deviation", reason="cross-modal fusion attends over a whole other modality",
                    effect="none on the attention itself: masked as causal, it gives the official causal outputs"),
        FidelityRow("rotary positions", "rotary embedding of q and k", "none", "deviation",
                    reason="cross-attention between modalities with different frame rates has no shared positions",
                    effect="none where the rotary tables are the identity (the fixture's); otherwise no position information"),
        FidelityRow("fusion model around the attention", "survey description (no public code): text queries speech and "
                    "vision with configurable weights per modality",
                    "fusion token + text queries audio and vision, learned modality weights", "as described"),
    )

    def __init__(self, config: DiffFusionConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c = config
        self.text_encoder = TextEncoder(spec.text_dim, c.text_encoder, out_dim=c.d_model, max_tokens=c.text_max_tokens)
        self.projections = nn.ModuleDict({m: nn.Linear(spec.dim(m), c.d_model) for m in ("audio", "vision")})
        self.fusion_token = nn.Parameter(torch.zeros(1, 1, c.d_model))
        self.layers = nn.ModuleList(
            FusionLayer(c.d_model, c.n_heads, layer, c.dropout, c.differential) for layer in range(1, c.n_layers + 1)
        )
        self.final_norm = nn.LayerNorm(c.d_model)
        self.head = nn.Sequential(nn.Linear(c.d_model, c.d_model), nn.GELU(), nn.Linear(c.d_model, 1))
        self.heads = self.task_heads(self.head[0].in_features)

    def forward(self, batch) -> ModelOutput:
        text = self.text_encoder(batch)
        keys = {m: (self.projections[m](batch.modality(m).features), batch.modality(m).mask) for m in ("audio", "vision")}
        token = self.fusion_token.expand(len(batch), -1, -1)
        stream = torch.cat([token, text.states], dim=1)
        stream_mask = torch.cat([text.mask.new_ones(len(batch), 1), text.mask], dim=1)
        for _ in range(self.config.recurrent_steps if self.config.recurrent else 1):
            for layer in self.layers:
                stream = layer(stream, keys)
        pooled = masked_mean(self.final_norm(stream), stream_mask)
        return self.heads(pooled, ModelOutput(sentiment=self.head(pooled).squeeze(-1)))

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return learning_rate_groups(self, lr, weight_decay, [(self.text_encoder.pretrained_parameters(), self.config.text_encoder_lr)])


@dataclass(frozen=True)
class DiffFusionStdConfig(DiffFusionConfig):
    differential: bool = False


@register_model("diff_fusion_std")
class DiffFusionStd(DiffFusion):
    """DiffFusion with standard multi-head cross-attention (2·n_heads heads, no RMSNorm, no lambda)."""

    config_class = DiffFusionStdConfig
    fidelity = (
        FidelityRow("attention", "Differential Transformer paper's Transformer baseline (no code for the fusion model): "
                    "standard softmax attention, twice the heads at the differential heads' query/key size",
                    "nn.MultiheadAttention, 2·n_heads heads of d_model / (2·n_heads), no bias, no differential parts, "
                    "every parameter used", "as described",
                    test="tests/test_official_equivalence.py::test_diff_fusion_std_is_standard_attention_with_every_parameter_used"),
        FidelityRow("fusion model around the attention", "survey description (no public code): text queries speech and "
                    "vision with configurable weights per modality",
                    "fusion token + text queries audio and vision, learned modality weights", "as described"),
    )


def official_attention_state_dict(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official ``MultiheadDiffAttn`` state dict (unilm Diff-Transformer, 768a3c8) as a
    :class:`DifferentialCrossAttention`'s: renames only (its ``lambda_init`` is the layer's depth
    + 1 here, not a tensor)."""
    rules = (
        (r"q_proj\.weight", "query.weight"),
        (r"k_proj\.weight", "key.weight"),
        (r"v_proj\.weight", "value.weight"),
        (r"out_proj\.weight", "out.weight"),
        (r"subln\.weight", "head_norm.weight"),
        (r"(lambda_[qk][12])", r"\1"),
    )
    return rename_official(official, rules, model="diff_fusion")
