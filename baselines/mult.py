"""MulT: the Multimodal Transformer for unaligned multimodal language sequences.

Tsai, Bai, Liang, Kolter, Morency, Salakhutdinov. "Multimodal Transformer for Unaligned
Multimodal Language Sequences." ACL 2019. Official code: yaohungt/Multimodal-Transformer.

Architecture: each modality is projected to a common width ``d`` by a temporal convolution
without padding (kernel 1 as in the official code; MMSA's port uses 5/5/5 on MOSI, so a kernel
``k`` shortens a sequence by ``k - 1``); an input already ``d`` wide is used as it is. For every
ordered pair (source -> target) a crossmodal Transformer lets the target sequence attend to the
source sequence: inputs scaled by sqrt(d) plus fairseq sinusoidal positions (positions 1..L,
sines then cosines), pre-LayerNorm blocks in which ONE LayerNorm normalises the query and the
key/value streams, feed-forward 4·d, a final LayerNorm. By default the attention carries the
official ``--attn_mask`` mask (``causal=True``): query step i sees key steps j <= i + |Lk - Lq|.
The two crossmodal outputs of each target are concatenated (2·d) and passed through a
self-attention Transformer (max(layers, 3) layers); the last time step of the three targets
(6·d) goes through a residual two-layer MLP and a linear output.

Both official variants are configurations of this model, each proven on its fixture
(``tests/test_official_equivalence.py``, weights through :func:`official_state_dict`): the
default is yaohungt's (d 30, positions, text dropout = embed dropout); MMSA's ``MULT`` is
``positions=False`` with its kernels, widths and separate ``text_dropout``.
msa_bench-only behaviour (listed in ``fidelity``): keys at padded frames are masked
(``key_padding_mask``), the "last" step is each example's last real frame, positions follow the
frame mask (the official code gives position 0 to any frame whose first channel is exactly 0),
an absent source adds nothing to the attention, so its crossmodal stream carries the target
through the residual path and feed-forward layers alone (a model without its second modality
still reads the first). ``causal=False`` is the non-causal
variant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, TextEncoder, register_model
from msa_bench.models.fidelity import FidelityRow, rename_official
from msa_bench.models.layers import attention_padding, frame_mask, last_real_step

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
    #: Dropout on the text features before the projection; None = embed_dropout (yaohungt), MMSA sets its own.
    text_dropout: float | None = None
    out_dropout: float = 0.0
    #: The official ``--attn_mask`` (on by default there): query step i attends to key steps j <= i + |Lk - Lq|.
    causal: bool = True
    #: fairseq sinusoidal positions (yaohungt); MMSA's port has none.
    positions: bool = True
    kernel_text: int = 1
    kernel_audio: int = 1
    kernel_vision: int = 1

    def __post_init__(self) -> None:
        if self.dim % self.heads or (2 * self.dim) % self.heads:
            raise ValueError(f"dim {self.dim} (and 2 * dim) must be divisible by heads {self.heads}")
        if self.positions and self.dim < 4:
            raise ValueError(f"fairseq positions need dim >= 4 (their frequencies divide by dim / 2 - 1), got {self.dim}")
        for name in ("kernel_text", "kernel_audio", "kernel_vision"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")


def fairseq_positions(mask: torch.Tensor, dim: int) -> torch.Tensor:
    """(B, L, dim) fairseq sinusoidal embeddings: frame t has position t + 1, embedded as
    [sin(p·w), cos(p·w)] with w_i = 10000^(-i / (dim/2 - 1)) (zero column for odd dim); frames
    outside ``mask`` get position 0, a zero vector."""
    half = dim // 2
    frequency = torch.exp(torch.arange(half, device=mask.device, dtype=torch.float32) * -(math.log(10000.0) / (half - 1)))
    position = torch.arange(1, mask.shape[1] + 1, device=mask.device, dtype=torch.float32)
    angles = position[:, None] * frequency[None, :]
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    table = F.pad(table, (0, dim - 2 * half))
    return table.unsqueeze(0) * mask.unsqueeze(-1).to(table.dtype)


def crossmodal_mask(query_mask: torch.Tensor, key_mask: torch.Tensor, causal: bool) -> torch.Tensor:
    """(B, 1, Lq, Lk) boolean attention mask (one for all heads), True = blocked: padded keys and, when
    ``causal``, the official future mask: query step i sees key steps j <= i + |Lk - Lq|, with
    each example's real lengths (the official code, which has no padding, uses the tensor
    lengths). A row left with no key keeps the real keys only, so attention stays finite."""
    blocked = attention_padding(key_mask)[:, None, :].expand(-1, query_mask.shape[1], -1)
    if causal:
        offset = (key_mask.sum(dim=1) - query_mask.sum(dim=1)).abs()  # (B,)
        query_step = torch.arange(query_mask.shape[1], device=key_mask.device)
        key_step = torch.arange(key_mask.shape[1], device=key_mask.device)
        future = key_step[None, None, :] > query_step[None, :, None] + offset[:, None, None]
        combined = blocked | future
        blocked = torch.where(combined.all(dim=-1, keepdim=True), blocked, combined)
    return blocked.unsqueeze(1)


class _Block(nn.Module):
    """Pre-LayerNorm attention block; ``norm`` normalises the query and the key/value streams (one
    LayerNorm, as officially), ``ff_norm`` the feed-forward input."""

    def __init__(self, dim: int, heads: int, attn_dropout: float, relu_dropout: float, res_dropout: float):
        super().__init__()
        self.attention = nn.MultiheadAttention(dim, heads, dropout=attn_dropout, batch_first=True)
        self.norm, self.ff_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.ReLU(), nn.Dropout(relu_dropout), nn.Linear(4 * dim, dim))
        self.dropout = nn.Dropout(res_dropout)

    def forward(self, x, key, value, blocked: torch.Tensor, attended_rows: torch.Tensor | None = None) -> torch.Tensor:
        """``attended_rows`` (B, 1, 1): 1 where the attention output is added, 0 where the example
        has no source frames (then only the residual stream and the feed-forward run)."""
        query = self.norm(x)
        key, value = (query, query) if key is None else (self.norm(key), self.norm(value))
        attended = self.dropout(self._attend(query, key, value, blocked))
        x = x + (attended if attended_rows is None else attended * attended_rows)
        return x + self.dropout(self.ff(self.ff_norm(x)))

    def _attend(self, query, key, value, blocked: torch.Tensor) -> torch.Tensor:
        """``self.attention``'s computation through ``scaled_dot_product_attention`` with one
        (B, 1, Lq, Lk) mask for all heads: ``nn.MultiheadAttention`` needs the mask repeated per
        head, which made attention about a fifth slower on CPU at MOSI lengths."""
        attention = self.attention
        heads = attention.num_heads
        weights, biases = attention.in_proj_weight.chunk(3), attention.in_proj_bias.chunk(3)
        q, k, v = (F.linear(t, w, b).unflatten(-1, (heads, -1)).transpose(1, 2)
                   for t, w, b in zip((query, key, value), weights, biases))
        dropout = attention.dropout if self.training else 0.0
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=~blocked, dropout_p=dropout)
        return attention.out_proj(attended.transpose(1, 2).flatten(2))


class _Encoder(nn.Module):
    """Scaled input (+ positions), ``layers`` blocks, final LayerNorm; crossmodal when a source is
    given (its key and value streams get their own embedding dropout, as officially)."""

    def __init__(self, dim: int, heads: int, layers: int, config: MulTConfig, attn_dropout: float):
        super().__init__()
        self.dim, self.heads, self.causal, self.positions = dim, heads, config.causal, config.positions
        self.blocks = nn.ModuleList(
            _Block(dim, heads, attn_dropout, config.relu_dropout, config.res_dropout) for _ in range(layers)
        )
        self.embed_dropout = nn.Dropout(config.embed_dropout)
        self.norm = nn.LayerNorm(dim)

    def _embed(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = math.sqrt(self.dim) * x
        return x + fairseq_positions(mask, self.dim).to(x.dtype) if self.positions else x

    def forward(self, x, mask, source=None, source_mask=None) -> torch.Tensor:
        embedded = self._embed(x, mask)
        x = self.embed_dropout(embedded)
        key = value = None
        if source is not None:
            source = self._embed(source, source_mask)
            key, value = self.embed_dropout(source), self.embed_dropout(source)
        blocked = crossmodal_mask(mask, mask if source is None else source_mask, self.causal)
        attended_rows = None if source is None else source_mask.any(dim=1).to(x.dtype)[:, None, None]
        for block in self.blocks:
            x = block(x, key, value, blocked, attended_rows)
        return self.norm(x)


def convolved_mask(mask: torch.Tensor, kernel: int) -> torch.Tensor:
    """The frame mask after an unpadded convolution of width ``kernel``: a window is real when
    all its frames are."""
    return mask if kernel == 1 else mask.unfold(1, kernel, 1).all(dim=-1)


@register_model("mult")
class MulT(MSAModel):
    config_class = MulTConfig
    # yaohungt main.py / src/train.py: Adam lr 1e-3, batch 24, clip 0.8, 40 epochs keeping the best
    # validation loss (no early stop), ReduceLROnPlateau(factor 0.1, patience --when 20) on it.
    _OFFICIAL_TRAIN = {"lr": 1e-3, "batch_size": 24, "grad_clip": 0.8, "max_epochs": 40, "patience": 40,
                       "select_metric": "mae", "scheduler": "plateau", "plateau_factor": 0.1, "plateau_patience": 20}
    default_configs = {
        "mosi": {"train": _OFFICIAL_TRAIN},
        "mosei": {"train": _OFFICIAL_TRAIN},
        "ravdess": {
            "model": {"dim": 32, "heads": 4, "layers": 2, "memory_layers": 1, "embed_dropout": 0.1},
            "train": {"lr": 1e-3, "batch_size": 32, "grad_clip": 0.8, "max_epochs": 20, "patience": 5, "select_metric": "emotion_ua"},
        },
        "synthetic": {
            "model": {"dim": 16, "heads": 2, "layers": 1, "memory_layers": 1, "attn_dropout": 0.0, "relu_dropout": 0.0,
                      "res_dropout": 0.0, "embed_dropout": 0.1},
            "train": {"lr": 2e-3, "batch_size": 32, "grad_clip": 0.8, "max_epochs": 3, "patience": 3},
        },
        "test": {"model": {"dim": 8, "heads": 2, "layers": 1, "memory_layers": 1}},
    }
    fidelity = (
        FidelityRow("forward pass (fixture mult_yaohungt/)", "yaohungt MULTModel at a670936",
                    "MulT defaults with official weights via official_state_dict", "equal",
                    test="tests/test_official_equivalence.py::test_mult_equals_each_official_variant"),
        FidelityRow("forward pass (fixture mult_mmsa/)", "MMSA MULT at a94e65d",
                    "MulT with positions=False, MMSA kernels/width/text_dropout", "equal",
                    test="tests/test_official_equivalence.py::test_mult_equals_each_official_variant"),
        FidelityRow("training step (fixture mult_mmsa/)", "MMSA trainer: Adam lr 2e-3, clip_grad_value_ 0.6, L1",
                    "Optimization with MMSA's lr and value clipping as train overrides (our mosi schedule is yaohungt's)",
                    "equal", test="tests/test_official_training.py::test_training_step_equals_the_official_trainer"),
        FidelityRow("crossmodal mask", "--attn_mask (store_false, on): triu(1 + |Lk - Lq|) future mask",
                    "causal=True by default (Lk, Lq: each example's real lengths); causal=False is a non-causal variant",
                    "equal", test="tests/test_official_equivalence.py::test_mult_causal_mask_changes_the_output_and_can_be_switched_off"),
        FidelityRow("LayerNorm before attention", "one LayerNorm for query and key/value", "same", "equal",
                    test="tests/test_official_equivalence.py::test_mult_equals_each_official_variant"),
        FidelityRow("positions", "fairseq sinusoidal, positions 1..L; 0 where the first channel is exactly 0",
                    "fairseq sinusoidal, positions 1..L; 0 on padded frames", "deviation",
                    reason="a real frame whose first feature is 0 keeps its position",
                    effect="none on frames without an exact 0 in their first channel"),
        FidelityRow("padding", "none (attends to padded frames, reads position -1)",
                    "padded keys masked, last real frame read", "deviation",
                    reason="padding must not change the prediction",
                    effect="none on unpadded input; padding one modality changes nothing "
                           "(tests/test_official_equivalence.py::test_mult_causal_offset_ignores_padding_of_one_modality)"),
        FidelityRow("absent source modality", "not handled", "no attention term: the target passes through the residual stream",
                    "deviation", reason="missing-modality evaluation; single-modality datasets",
                    effect="none when every modality is present"),
        FidelityRow("MOSI schedule", "yaohungt main.py: Adam 1e-3, batch 24, clip norm 0.8, ReduceLROnPlateau 0.1 / 20, "
                    "d 30, 5 heads, 5 levels, its dropouts", "the same values", "equal", test="tests/test_official_schedules.py::test_schedules_transcribed_from_the_official_code"),
        FidelityRow("emotion tasks", "not in the official code", "shared task heads on the residual MLP output",
                    "deviation", reason="msa_bench also scores MOSEI/RAVDESS emotions",
                    effect="none on sentiment-only datasets (no emotion head is built)"),
    )
    #: Unaligned setting (as msa_bench's data); accuracies and F1 as fractions, like msa_bench.scoring.metrics.
    # Binary accuracy and F1 leave out zero labels: the official code evaluates with
    # eval_mosei_senti(..., exclude_zero=True) (src/train.py, src/eval_metrics.py).
    paper_results = {
        "mosi": {"source": "Tsai et al., ACL 2019, Table 1 (MulT, unaligned CMU-MOSI); Acc-2/F1 Non0 (official "
                           "eval_mosei_senti exclude_zero=True), Acc-7 rounds predictions clipped to [-3, 3]", "mae": 0.889, "corr": 0.686,
                 "acc2_non0": 0.811, "f1_non0": 0.810, "acc7": 0.391},
        "mosei": {"source": "Tsai et al., ACL 2019, Table 2 (MulT, unaligned CMU-MOSEI); Acc-2/F1 Non0 (official "
                            "eval_mosei_senti exclude_zero=True), Acc-7 rounds predictions clipped to [-3, 3]", "mae": 0.591,
                  "corr": 0.694, "acc2_non0": 0.816, "f1_non0": 0.816, "acc7": 0.507},
    }

    def __init__(self, config: MulTConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        d = config.dim
        self.text = TextEncoder(spec.text_dim, config.text_encoder)
        in_dims = {"text": self.text.out_dim, "audio": spec.audio_dim, "vision": spec.vision_dim}
        self.kernels = {m: getattr(config, f"kernel_{m}") for m in MODALITIES}
        # As officially, an input already d wide is used as it is (no projection).
        self.projections = nn.ModuleDict(
            {m: nn.Conv1d(in_dims[m], d, kernel_size=self.kernels[m], bias=False) for m in MODALITIES if in_dims[m] != d}
        )
        text_dropout = config.embed_dropout if config.text_dropout is None else config.text_dropout
        self.text_dropout = nn.Dropout(text_dropout)
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

    def _project(self, name: str, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if name not in self.projections:
            return x, mask
        return self.projections[name](x.transpose(1, 2)).transpose(1, 2), convolved_mask(mask, self.kernels[name])

    def features(self, batch) -> dict[str, torch.Tensor]:
        """Each target's last state (MMSA's ``Feature_t/a/v``) and their concatenation (``fusion``)."""
        text = self.text(batch)
        inputs = {"text": (self.text_dropout(text.states), text.mask)}
        for name in ("audio", "vision"):
            modality = batch.modality(name)
            inputs[name] = (modality.features, frame_mask(modality))
        sequences = {m: self._project(m, x, mask) for m, (x, mask) in inputs.items()}
        last = {}
        for target in MODALITIES:
            x, mask = sequences[target]
            crossed = [
                self.crossmodal[f"{source}_to_{target}"](x, mask, *sequences[source])
                for source in MODALITIES
                if source != target
            ]
            last[target] = last_real_step(self.memory[target](torch.cat(crossed, dim=-1), mask), mask)
        last["fusion"] = torch.cat([last[m] for m in MODALITIES], dim=-1)
        return last

    def forward(self, batch) -> ModelOutput:
        last = self.features(batch)["fusion"]
        hidden = self.proj2(F.dropout(F.relu(self.proj1(last)), self.config.out_dropout, self.training)) + last
        return self.heads(hidden, ModelOutput(sentiment=self.out(hidden).squeeze(-1)))


_SHORT = {"l": "text", "a": "audio", "v": "vision"}


def official_state_dict(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """yaohungt's ``MULTModel`` or MMSA's ``MULT`` state dict (all three targets, regression)
    as this module's: renames; the unused ``version``/``_float_tensor`` buffers are dropped, and
    so is a projection the official forward skips (input already ``d`` wide)."""
    rules = [(r"trans_\w+\.(version|embed_positions\._float_tensor)", "")]
    for short, name in _SHORT.items():
        weight = official.get(f"proj_{short}.weight")
        if weight is not None and weight.shape[0] == weight.shape[1]:  # input already d wide: skipped officially
            rules.append((rf"proj_{short}\.weight", ""))
        rules.append((rf"proj_{short}\.weight", f"projections.{name}.weight"))
        rules.append((rf"trans_{short}_mem\.(.*)", rf"memory.{name}.\1"))
        for source_short, source in _SHORT.items():
            if source_short != short:
                rules.append((rf"trans_{short}_with_{source_short}\.(.*)", rf"crossmodal.{source}_to_{name}.\1"))
    block = [
        (r"(.*)\.layers\.(\d+)\.self_attn\.(.*)", r"\1.blocks.\2.attention.\3"),
        (r"(.*)\.layers\.(\d+)\.layer_norms\.0\.(.*)", r"\1.blocks.\2.norm.\3"),
        (r"(.*)\.layers\.(\d+)\.layer_norms\.1\.(.*)", r"\1.blocks.\2.ff_norm.\3"),
        (r"(.*)\.layers\.(\d+)\.fc1\.(.*)", r"\1.blocks.\2.ff.0.\3"),
        (r"(.*)\.layers\.(\d+)\.fc2\.(.*)", r"\1.blocks.\2.ff.3.\3"),
        (r"(.*)\.layer_norm\.(.*)", r"\1.norm.\2"),
        (r"(.*)", r"\1"),
    ]
    renamed = rename_official(official, [*rules, (r"(proj1|proj2)\.(.*)", r"\1.\2"), (r"out_layer\.(.*)", r"out.\1")],
                              model="mult")
    return rename_official(renamed, block, model="mult")

