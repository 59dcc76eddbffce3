"""EF-LSTM: early fusion LSTM.

The three modalities are joined frame by frame (concatenated features) and one LSTM reads the
joint sequence; its last hidden state feeds an MLP and the task heads. Early fusion needs the
modalities on one time axis. Word-aligned data already is; for unaligned data (each modality
with its own frame rate and length) every modality of an example is resampled to the same
``steps`` time steps by area interpolation over its real frames: step ``t`` averages the frames
covering the fraction [t/steps, (t+1)/steps) of the sequence, weighted by overlap (this both
pools long sequences and stretches short ones). An absent modality contributes zeros, and
three presence flags are appended to every step so the LSTM knows which inputs are real.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.unimodal import TaskHeads
from msa_bench.batching import ModalityBatch
from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, register_model
from msa_bench.schema import MODALITIES


@dataclass(frozen=True)
class EFLSTMConfig(ModelConfig):
    steps: int = 50
    hidden: int = 64
    mlp_hidden: int = 64
    dropout: float = 0.2

    def __post_init__(self) -> None:
        for name in ("steps", "hidden", "mlp_hidden"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def resample(modality: ModalityBatch, steps: int) -> torch.Tensor:
    """(B, L, D) frames -> (B, steps, D) by area interpolation over each example's real frames.

    Real frames are taken in order (the mask need not be a prefix); an example with no real
    frame (absent) gives zeros.
    """
    mask = modality.mask & modality.present.unsqueeze(1)
    lengths = mask.sum(dim=1, keepdim=True).to(modality.features.dtype)  # (B, 1)
    position = (mask.cumsum(dim=1) - 1).to(modality.features.dtype)  # index among real frames
    start = position.unsqueeze(1)  # (B, 1, L)
    step = torch.arange(steps, device=mask.device, dtype=modality.features.dtype).view(1, steps, 1)
    scale = (lengths / steps).unsqueeze(2)  # frames per step, (B, 1, 1)
    overlap = (torch.minimum(start + 1, (step + 1) * scale) - torch.maximum(start, step * scale)).clamp_min(0)
    overlap = overlap * mask.unsqueeze(1).to(overlap.dtype)
    weights = overlap / overlap.sum(dim=2, keepdim=True).clamp_min(1e-12)
    return weights @ modality.features


_TRAIN = {"lr": 1e-3, "batch_size": 32, "select_metric": "mae", "patience": 8, "max_epochs": 40}


@register_model("ef_lstm")
class EFLSTM(MSAModel):
    config_class = EFLSTMConfig
    supported_tasks = ("sentiment", "emotions", "emotion")
    default_configs = {
        "test": {"model": {"steps": 6, "hidden": 8, "mlp_hidden": 8}},
        "synthetic": {
            "model": {"steps": 12, "hidden": 32, "mlp_hidden": 32, "dropout": 0.1},
            "train": {**_TRAIN, "lr": 3e-3, "max_epochs": 6, "patience": 3},
        },
        "mosi": {"model": {}, "train": _TRAIN},
        "mosei": {"model": {"hidden": 128}, "train": {**_TRAIN, "batch_size": 64}},
        "ravdess": {"model": {"steps": 32}, "train": {**_TRAIN, "select_metric": "emotion_wa"}},
    }

    def __init__(self, config: EFLSTMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        input_dim = sum(spec.dim(m) for m in MODALITIES) + len(MODALITIES)
        self.norm = nn.LayerNorm(input_dim)
        self.lstm = nn.LSTM(input_dim, config.hidden, batch_first=True)
        self.mlp = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.hidden, config.mlp_hidden), nn.ReLU())
        self.heads = TaskHeads(config.mlp_hidden, self.tasks, spec)

    def forward(self, batch) -> ModelOutput:
        steps = self.config.steps
        parts = [resample(modality, steps) for _, modality in batch.modalities()]
        flags = torch.stack([m.present for _, m in batch.modalities()], dim=1).to(parts[0].dtype)
        parts.append(flags.unsqueeze(1).expand(-1, steps, -1))
        _, (last, _) = self.lstm(self.norm(torch.cat(parts, dim=2)))
        return self.heads(self.mlp(last[-1]))
