"""LF-DNN: late fusion of per-modality deep networks.

Each modality is mean-pooled over its real frames and passed through its own MLP (the
"subnetwork"); the three modality vectors are concatenated and a post-fusion MLP predicts every
task. The modalities meet only after each has been summarised: no cross-modal interaction
below the fusion layer. An absent modality contributes a zero vector (and its subnetwork's
output is zeroed), so the prediction rests on the modalities that are there. This is the late
fusion baseline of the MSA literature (e.g. the ``LF_DNN`` of MMSA).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.unimodal import TaskHeads
from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, masked_mean, register_model
from msa_bench.schema import MODALITIES


@dataclass(frozen=True)
class FusionSizesConfig(ModelConfig):
    """Per-modality hidden sizes, the post-fusion width and dropout, checked; LF-DNN's and TFN's
    configs are this with their own sizes."""

    text_hidden: int = 64
    audio_hidden: int = 16
    vision_hidden: int = 16
    post_fusion_dim: int = 64
    dropout: float = 0.2

    def __post_init__(self) -> None:
        for name in ("text_hidden", "audio_hidden", "vision_hidden", "post_fusion_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


@dataclass(frozen=True)
class LFDNNConfig(FusionSizesConfig):
    """LF-DNN's sizes: the defaults of :class:`FusionSizesConfig`."""


def subnetwork(input_dim: int, hidden: int, dropout: float) -> nn.Sequential:
    """Per-modality MLP over the mean-pooled frames."""
    return nn.Sequential(
        nn.LayerNorm(input_dim),
        nn.Dropout(dropout),
        nn.Linear(input_dim, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
    )


_TRAIN = {"lr": 1e-3, "batch_size": 32, "select_metric": "mae", "patience": 8, "max_epochs": 40}


@register_model("lf_dnn")
class LFDNN(MSAModel):
    config_class = LFDNNConfig
    supported_tasks = ("sentiment", "emotions", "emotion")
    default_configs = {
        "test": {"model": {"text_hidden": 8, "audio_hidden": 4, "vision_hidden": 4, "post_fusion_dim": 8}},
        "synthetic": {
            "model": {"text_hidden": 32, "audio_hidden": 32, "vision_hidden": 32, "post_fusion_dim": 32, "dropout": 0.1},
            "train": {**_TRAIN, "lr": 3e-3, "max_epochs": 6, "patience": 3},
        },
        "mosi": {"model": {}, "train": _TRAIN},
        "mosei": {"model": {"text_hidden": 128, "audio_hidden": 32, "vision_hidden": 32, "post_fusion_dim": 128}, "train": {**_TRAIN, "batch_size": 64}},
        "ravdess": {"model": {"text_hidden": 16, "audio_hidden": 64, "vision_hidden": 64}, "train": {**_TRAIN, "select_metric": "emotion_wa"}},
    }

    def __init__(self, config: LFDNNConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        sizes = {m: getattr(config, f"{m}_hidden") for m in MODALITIES}
        self.subnetworks = nn.ModuleDict({m: subnetwork(spec.dim(m), sizes[m], config.dropout) for m in MODALITIES})
        self.post_fusion = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(sum(sizes.values()), config.post_fusion_dim),
            nn.ReLU(),
        )
        self.heads = TaskHeads(config.post_fusion_dim, self.tasks, spec)

    def forward(self, batch) -> ModelOutput:
        parts = []
        for name, modality in batch.modalities():
            pooled = masked_mean(modality.features, modality.mask & modality.present.unsqueeze(1))
            hidden = self.subnetworks[name](pooled)
            parts.append(hidden * modality.present.unsqueeze(1).to(hidden.dtype))
        return self.heads(self.post_fusion(torch.cat(parts, dim=1)))
