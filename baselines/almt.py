"""ALMT: the Adaptive Language-guided Multimodal Transformer.

Zhang, Wang, Yin, Liu, Liu, Yu. "Learning Language-guided Adaptive Hyper-modality
Representation for Multimodal Sentiment Analysis." EMNLP 2023, pp. 756–767.
Official code: Haoyu-ha/ALMT (``models/almt.py``, ``models/almt_layer.py``), which this module
follows; ``tests/test_official_equivalence_sota.py`` loads its weights through
:func:`official_state_dict` and reproduces its outputs and intermediates.

Architecture: each modality is mapped by a Linear layer to 128 and, with 8 learnable tokens
prepended and learned positions added (tables of 8 + 50 / 375 / 500 rows for text / audio /
vision, the official MOSI lengths), goes through a one-layer pre-norm Transformer; the 8
token outputs are the modality's representation. The language representation passes through
two more Transformer layers, keeping every hidden state (3 in all). The Adaptive Hyper-modality
Learning (AHL) module runs 3 layers: layer i uses language state i as the query into the audio
and the vision tokens (separate keys/values, 8 heads of width 16) and adds the sum of both
attention outputs to the layer-normalised 8-token hyper-modality representation. A cross-modal
Transformer (2 layers on MOSI, 4 on MOSEI) lets the last language state, with a CLS token,
attend to the hyper-modality representation; the CLS output → Linear(128 → 1). MSE loss.
Training as the official ``train.py``: AdamW at 1e-4 for every parameter (BERT included),
weight decay 1e-4, batch 64, warm-up then cosine schedule.

The official code trains on MMSA's unaligned features (``unaligned_50.pkl``: 50 text tokens,
375 audio and 500 vision frames on MOSI; 500/500 on MOSEI); so does msa_bench.

Deviations from the official code (``fidelity``):

- Padding masks: the unimodal Transformers attend only to real frames and the tokens (the
  official code has no masks). An absent modality attends to no frame: its representation is
  its 8 learned tokens alone, so the language queries still steer AHL (and the prediction still
  reads the text) when audio and vision are both absent.
- The official code reports the best test epoch per metric (its README: MAE and Acc-2/F1 from
  different epochs); the harness selects one checkpoint on validation, with ``patience`` (the
  official code trains a fixed 200 epochs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, TextEncoder, learning_rate_groups, register_model
from msa_bench.models.fidelity import FidelityRow, rename_official
from msa_bench.models.layers import frame_mask

N_TOKENS = 8


@dataclass(frozen=True)
class ALMTConfig(ModelConfig):
    text_encoder: str | None = None
    encoder_lr: float = 1e-4
    dim: int = 128
    heads: int = 8
    dim_head: int = 64
    mlp_dim: int = 128
    ahl_depth: int = 3
    ahl_heads: int = 8
    ahl_dim_head: int = 16
    fusion_depth: int = 2
    #: Rows of each modality's learned position table beyond the 8 tokens (longest input).
    text_frames: int = 50
    audio_frames: int = 375
    vision_frames: int = 500


class Attention(nn.Module):
    """Multi-head attention with separate query/key/value inputs and an optional key mask."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.heads = heads
        inner = heads * dim_head
        self.q, self.k, self.v = (nn.Linear(dim, inner, bias=False) for _ in range(3))
        self.out = nn.Linear(inner, dim)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def attend(self, query, key, value, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        mask = None if key_mask is None else key_mask[:, None, None, :]
        heads = F.scaled_dot_product_attention(self._split(query), self._split(key), self._split(value), attn_mask=mask)
        return heads.transpose(1, 2).flatten(2)

    def forward(self, query, key, value, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.attend(self.q(query), self.k(key), self.v(value), key_mask))


class Layer(nn.Module):
    """Pre-norm attention (query/key/value normalised separately) + pre-norm GELU feed-forward."""

    def __init__(self, dim: int, heads: int, dim_head: int, mlp_dim: int):
        super().__init__()
        self.norm_q, self.norm_k, self.norm_v, self.norm_ff = (nn.LayerNorm(dim) for _ in range(4))
        self.attention = Attention(dim, heads, dim_head)
        self.ff = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, x: torch.Tensor, source: torch.Tensor | None = None, source_mask=None) -> torch.Tensor:
        source = x if source is None else source
        x = x + self.attention(self.norm_q(x), self.norm_k(source), self.norm_v(source), source_mask)
        return x + self.ff(self.norm_ff(x))


class TokenTransformer(nn.Module):
    """8 learnable tokens + the sequence + learned positions → ``depth`` self-attention layers;
    returns the token outputs (B, 8, dim)."""

    def __init__(self, config: ALMTConfig, depth: int, max_frames: int):
        super().__init__()
        self.tokens = nn.Parameter(torch.zeros(1, N_TOKENS, config.dim))
        self.positions = nn.Parameter(torch.randn(1, N_TOKENS + max_frames, config.dim))
        self.layers = nn.ModuleList(Layer(config.dim, config.heads, config.dim_head, config.mlp_dim) for _ in range(depth))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if x.shape[1] + N_TOKENS > self.positions.shape[1]:
            raise ValueError(
                f"sequence of {x.shape[1]} frames is longer than ALMT's position table ({self.positions.shape[1] - N_TOKENS} "
                "frames); raise the model's text_frames/audio_frames/vision_frames"
            )
        x = torch.cat([self.tokens.expand(len(x), -1, -1), x], dim=1)
        x = x + self.positions[:, : x.shape[1]]
        mask = torch.cat([mask.new_ones(len(x), N_TOKENS), mask], dim=1)
        for layer in self.layers:
            x = layer(x, source_mask=mask)
        return x[:, :N_TOKENS]


class HyperModalityLayer(nn.Module):
    """One AHL layer: language queries attend to audio and to vision; the sum of both is added
    to the layer-normalised h_hyper (as the official pre-norm wrapper does)."""

    def __init__(self, dim: int, heads: int, dim_head: int):
        super().__init__()
        self.norms = nn.ModuleDict({name: nn.LayerNorm(dim) for name in ("text", "audio", "vision", "hyper")})
        self.heads = heads
        self.q = nn.Linear(dim, heads * dim_head, bias=False)
        self.keys = nn.ModuleDict({m: nn.Linear(dim, heads * dim_head, bias=False) for m in ("audio", "vision")})
        self.values = nn.ModuleDict({m: nn.Linear(dim, heads * dim_head, bias=False) for m in ("audio", "vision")})
        self.out = nn.Linear(heads * dim_head, dim)

    def forward(self, text, others: dict[str, torch.Tensor], hyper) -> torch.Tensor:
        query = self.q(self.norms["text"](text)).unflatten(-1, (self.heads, -1)).transpose(1, 2)
        shift = 0.0
        for name, tokens in others.items():
            normed = self.norms[name](tokens)
            key = self.keys[name](normed).unflatten(-1, (self.heads, -1)).transpose(1, 2)
            value = self.values[name](normed).unflatten(-1, (self.heads, -1)).transpose(1, 2)
            attended = F.scaled_dot_product_attention(query, key, value).transpose(1, 2).flatten(2)
            shift = shift + attended
        return self.norms["hyper"](hyper) + self.out(shift)


def _layer_rules(official: str, ours: str) -> list[tuple[str, str]]:
    """One official pre-norm attention + feed-forward layer (``layers.N.0`` / ``layers.N.1``)."""
    return [
        (rf"{official}\.layers\.(\d+)\.0\.fn\.to_(q|k|v)\.(.+)", rf"{ours}.\1.attention.\2.\3"),
        (rf"{official}\.layers\.(\d+)\.0\.fn\.to_out\.0\.(.+)", rf"{ours}.\1.attention.out.\2"),
        (rf"{official}\.layers\.(\d+)\.0\.norm_(q|k|v)\.(.+)", rf"{ours}.\1.norm_\2.\3"),
        (rf"{official}\.layers\.(\d+)\.1\.norm\.(.+)", rf"{ours}.\1.norm_ff.\2"),
        (rf"{official}\.layers\.(\d+)\.1\.fn\.net\.0\.(.+)", rf"{ours}.\1.ff.0.\2"),
        (rf"{official}\.layers\.(\d+)\.1\.fn\.net\.3\.(.+)", rf"{ours}.\1.ff.2.\2"),
    ]


_AHL = {"norm1": "norms.text", "norm2": "norms.audio", "norm3": "norms.vision", "norm4": "norms.hyper",
        "fn.to_q": "q", "fn.to_k_ta": "keys.audio", "fn.to_k_tv": "keys.vision", "fn.to_v_ta": "values.audio",
        "fn.to_v_tv": "values.vision", "fn.to_out.0": "out"}

#: Official ``ALMT`` state-dict names → msa_bench names.
OFFICIAL_NAMES: tuple[tuple[str, str], ...] = (
    (r"bertmodel\.model\.(.+)", r"text.pretrained.\1"),
    *(
        rule
        for official, ours in (("l", "text"), ("a", "audio"), ("v", "vision"))
        for rule in (
            (rf"proj_{official}\.0\.(.+)", rf"inputs.{ours}.\1"),
            (rf"proj_{official}\.1\.extra_token", f"unimodal.{ours}.tokens"),
            (rf"proj_{official}\.1\.pos_embedding", f"unimodal.{ours}.positions"),
            *_layer_rules(rf"proj_{official}\.1\.encoder", f"unimodal.{ours}.layers"),
        )
    ),
    (r"l_encoder\.pos_embedding", "language_positions"),
    *_layer_rules(r"l_encoder\.encoder", "language"),
    (r"h_hyper", "hyper"),
    *((rf"h_hyper_layer\.layers\.(\d+)\.0\.{official.replace('.', chr(92) + '.')}\.(.+)", rf"ahl.\1.{ours}.\2")
      for official, ours in _AHL.items()),
    (r"fusion_layer\.extra_token", "cls"),
    (r"fusion_layer\.pos_embedding_s", "fusion_positions.hyper"),
    (r"fusion_layer\.pos_embedding_t", "fusion_positions.text"),
    *_layer_rules(r"fusion_layer\.CrossTransformerEncoder", "fusion"),
    (r"regression_layer\.0\.(.+)", r"head.\1"),
)


def official_state_dict(official: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official ``ALMT`` state dict under msa_bench names (renames only)."""
    return rename_official(official, OFFICIAL_NAMES, model="almt")


@register_model("almt")
class ALMT(MSAModel):
    config_class = ALMTConfig
    default_configs = {
        "mosi": {
            "model": {"text_encoder": "bert-base-uncased", "fusion_depth": 2},
            "train": {"lr": 1e-4, "weight_decay": 1e-4, "batch_size": 64, "max_epochs": 200, "patience": 20,
                      "optimizer": "adamw", "scheduler": "warmup_cosine"},
        },
        "mosei": {
            "model": {"text_encoder": "bert-base-uncased", "fusion_depth": 4},
            "train": {"lr": 1e-4, "weight_decay": 1e-4, "batch_size": 64, "max_epochs": 200, "patience": 20,
                      "optimizer": "adamw", "scheduler": "warmup_cosine"},
        },
        "ravdess": {
            "model": {"dim": 32, "heads": 4, "dim_head": 8, "mlp_dim": 32, "ahl_depth": 1, "ahl_heads": 4, "ahl_dim_head": 8,
                      "fusion_depth": 1, "text_frames": 8, "audio_frames": 600, "vision_frames": 8},
            "train": {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 32, "max_epochs": 40, "patience": 8,
                      "optimizer": "adamw", "scheduler": "warmup_cosine", "select_metric": "emotion_ua"},
        },
        "synthetic": {
            "model": {"dim": 32, "heads": 4, "dim_head": 8, "mlp_dim": 32, "ahl_heads": 4, "ahl_dim_head": 8,
                      "text_frames": 128, "audio_frames": 128, "vision_frames": 128},
            "train": {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 32, "max_epochs": 4, "patience": 3,
                      "optimizer": "adamw", "scheduler": "warmup_cosine"},
        },
        "test": {"model": {"dim": 16, "heads": 2, "dim_head": 8, "mlp_dim": 16, "ahl_heads": 2, "ahl_dim_head": 8,
                           "text_frames": 64, "audio_frames": 64, "vision_frames": 64, "fusion_depth": 1}},
    }
    #: Accuracies and F1 as fractions, like msa_bench.scoring.metrics.
    #: The official code reports the best test epoch per metric (checkpoints selected on the test
    #: split, its README note 4), so these are not comparable with validation-selected numbers.
    paper_results = {
        "mosi": {"source": "Zhang et al., EMNLP 2023, main results table (ALMT); test-split checkpoint selection "
                           "per metric in the official code", "mae": 0.683, "corr": 0.805, "acc7": 0.4942},  # Acc-7: round(clip(ŷ, ±3)), the official core/metric.py
        "mosei": {"source": "Zhang et al., EMNLP 2023, main results table (ALMT), as listed by Papers with Code "
                            "(the paper PDF was not reachable here); test-split checkpoint selection per metric in "
                            "the official code", "mae": 0.526, "corr": 0.779, "acc7": 0.5428},
    }
    fidelity = (
        FidelityRow("forward (projections, token Transformers, language encoder, AHL, cross Transformer) and its six "
                    "intermediates", "ALMT (almt.py, almt_layer.py)",
                    "same layers; official weights load through official_state_dict", "equal",
                    test="tests/test_official_equivalence_sota.py::test_almt_reproduces_the_official_outputs_and_intermediates"),
        FidelityRow("training step (fixture almt/)", "AdamW 1e-4 over every parameter, weight decay 1e-4, MSE, no clipping",
                    "Optimization from the mosi schedule", "equal", test="tests/test_official_training_sota.py::test_training_step_equals_the_official_trainer"),
        FidelityRow("MOSI hyperparameters (width 128, 8 heads, AHL 3 × 8 × 16, 2 fusion layers, position tables "
                    "8 + 50/375/500, batch 64, 200 epochs)", "configs/mosi.yaml", "the same values", "equal",
                    test="tests/test_official_schedules.py::test_mosi_schedules_are_the_official_configurations"),
        FidelityRow("warm-up schedule", "per epoch: base · (epoch - 1) / 20 in epochs 1-21 (0 in epoch 1), then cosine over 180",
                    "per optimizer step: base · (step + 1) / (warmup + 1) over the first 10 % of steps, then cosine",
                    "deviation", reason="the harness's schedules advance per optimizer step",
                    effect="the same base rate at the end of warm-up (the training test's position); during warm-up the "
                           "rate rises per step instead of per epoch, so epoch 1 does not run at 0"),
        FidelityRow("padding", "no masks (padding attended)", "masked; an absent modality is its 8 learned tokens alone",
                    "deviation", reason="predictions must not depend on padding or on absent modalities' zeros",
                    effect="none: padded inputs give the official outputs of the unpadded ones "
                           "(tests/test_official_equivalence_sota.py::"
                           "test_almt_padded_inputs_give_the_official_outputs_of_the_unpadded_ones)"),
        FidelityRow("checkpoint selection", "best test epoch per metric", "one checkpoint on validation",
                    "deviation", reason="test-split selection is not a fair benchmark",
                    effect="reported numbers are lower than the official per-metric best"),
        FidelityRow("training length", "200 epochs", "at most 200, stopping after 20 without a better validation score",
                    "deviation", reason="the harness stops early", effect="fewer epochs when validation stops improving"),
    )

    def __init__(self, config: ALMTConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        d = config.dim
        self.text = TextEncoder(spec.text_dim, config.text_encoder)
        in_dims = {"text": self.text.out_dim, "audio": spec.audio_dim, "vision": spec.vision_dim}
        self.inputs = nn.ModuleDict({m: nn.Linear(in_dims[m], d) for m in in_dims})
        self.unimodal = nn.ModuleDict(
            {m: TokenTransformer(config, depth=1, max_frames=getattr(config, f"{m}_frames")) for m in in_dims}
        )
        self.language = nn.ModuleList(
            Layer(d, config.heads, config.dim_head, config.mlp_dim) for _ in range(config.ahl_depth - 1)
        )
        self.language_positions = nn.Parameter(torch.randn(1, N_TOKENS, d))
        self.hyper = nn.Parameter(torch.ones(1, N_TOKENS, d))
        self.ahl = nn.ModuleList(HyperModalityLayer(d, config.ahl_heads, config.ahl_dim_head) for _ in range(config.ahl_depth))
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.fusion_positions = nn.ParameterDict(
            {"hyper": nn.Parameter(torch.randn(1, N_TOKENS + 1, d)), "text": nn.Parameter(torch.randn(1, N_TOKENS + 1, d))}
        )
        self.fusion = nn.ModuleList(Layer(d, config.heads, config.dim_head, config.mlp_dim) for _ in range(config.fusion_depth))
        self.head = nn.Linear(d, 1)
        self.heads = self.task_heads(self.head.in_features)

    def forward(self, batch) -> ModelOutput:
        text = self.text(batch)
        sequences = {"text": (text.states, text.mask)}
        for name in ("audio", "vision"):
            modality = batch.modality(name)
            sequences[name] = (modality.features, frame_mask(modality) & modality.present[:, None])
        # an absent modality is its 8 learned tokens alone (no frame is attended)
        tokens = {m: self.unimodal[m](self.inputs[m](x), mask) for m, (x, mask) in sequences.items()}
        hidden = tokens["text"] + self.language_positions
        language = [hidden]
        for layer in self.language:
            hidden = layer(hidden)
            language.append(hidden)
        others = {m: tokens[m] for m in ("audio", "vision")}
        hyper = self.hyper.expand(len(batch), -1, -1)
        for layer, query in zip(self.ahl, language):
            hyper = layer(query, others, hyper)
        cls = self.cls.expand(len(batch), -1, -1)
        source = torch.cat([cls, hyper], dim=1) + self.fusion_positions["hyper"]
        target = torch.cat([cls, language[-1]], dim=1) + self.fusion_positions["text"]
        for layer in self.fusion:
            target = layer(target, source)
        return self.heads(target[:, 0], ModelOutput(sentiment=self.head(target[:, 0]).squeeze(-1)))

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        known = ~torch.isnan(targets.sentiment)
        if not known.any():
            return output.sentiment.sum() * 0.0
        return F.mse_loss(output.sentiment[known].float(), targets.sentiment[known])

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return learning_rate_groups(self, lr, weight_decay, [(self.text.pretrained_parameters(), self.config.encoder_lr)])
