"""Unimodal baselines: text-only, audio-only and vision-only.

Each reads a single modality: an encoder over its real frames (frame mask) -- an LSTM's last
hidden state (``encoder="lstm"``) or the masked mean of linearly projected frames
(``encoder="mean"``, the cheap choice of the short synthetic schedule) -- then a small MLP and one
linear head per task. An example whose modality is absent (``present``
False) gets a zero representation, so its prediction is the heads' learned bias: the model's
best constant guess. They show how much each modality alone carries, and are the floor every
fusion model should beat.

Also home of two building blocks the reference fusion baselines reuse: :class:`SequenceEncoder`
(masked LSTM or mean pooling -> one vector); the model API's :class:`~msa_bench.models.TaskHeads` predict every task.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from msa_bench.inputs.batching import ModalityBatch
from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, TaskHeads, masked_mean, register_model
from msa_bench.models.layers import compact_frames


ENCODERS = ("lstm", "mean")


class SequenceEncoder(nn.Module):
    """A padded sequence -> one vector: the LSTM hidden state after the last real frame
    (``"lstm"``, frames packed so padding never enters the recurrence) or the masked mean of
    projected frames (``"mean"``). Absent examples (no real frame) get a zero vector.
    """

    def __init__(self, input_dim: int, hidden: int, dropout: float = 0.0, kind: str = "lstm") -> None:
        super().__init__()
        if kind not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {kind!r}")
        self.kind = kind
        self.norm = nn.LayerNorm(input_dim)
        if kind == "lstm":
            self.lstm = nn.LSTM(input_dim, hidden, batch_first=True)
        else:
            self.project = nn.Sequential(nn.Linear(input_dim, hidden), nn.ReLU())
        self.dropout = nn.Dropout(dropout)
        self.hidden = hidden

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.kind == "mean":
            return self.dropout(masked_mean(self.project(self.norm(features)), mask))
        features, lengths = compact_frames(features, mask)  # holes in the mask are skipped, not read
        packed = nn.utils.rnn.pack_padded_sequence(
            self.norm(features), lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False
        )
        _, (last, _) = self.lstm(packed)
        return self.dropout(last[-1] * (lengths > 0).unsqueeze(1).to(last.dtype))

    def encode(self, modality: ModalityBatch) -> torch.Tensor:
        """(B, hidden); zero where the modality is absent."""
        mask = modality.mask & modality.present.unsqueeze(1)
        return self.forward(modality.features, mask)


@dataclass(frozen=True)
class UnimodalConfig(ModelConfig):
    encoder: str = "lstm"
    hidden: int = 64
    mlp_hidden: int = 64
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {ENCODERS}, got {self.encoder!r}")
        if self.hidden < 1 or self.mlp_hidden < 1:
            raise ValueError(f"hidden sizes must be positive, got {self.hidden}, {self.mlp_hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


_TRAIN = {"lr": 1e-3, "batch_size": 32, "select_metric": "mae", "patience": 8, "max_epochs": 40}

UNIMODAL_DEFAULTS: dict[str, dict] = {
    "test": {"model": {"encoder": "mean", "hidden": 32, "mlp_hidden": 16}},
    "synthetic": {
        "model": {"encoder": "mean", "hidden": 32, "mlp_hidden": 32},
        "train": {**_TRAIN, "lr": 3e-3, "max_epochs": 6, "patience": 3},
    },
    "mosi": {"model": {"hidden": 64, "mlp_hidden": 64, "dropout": 0.2}, "train": _TRAIN},
    "mosei": {"model": {"hidden": 128, "mlp_hidden": 64, "dropout": 0.2}, "train": {**_TRAIN, "batch_size": 64}},
    "ravdess": {"model": {"hidden": 64, "mlp_hidden": 64, "dropout": 0.2}, "train": {**_TRAIN, "select_metric": "emotion_ua"}},
}


class UnimodalModel(MSAModel):
    """A model that reads one modality (set by subclasses in ``input_modalities``)."""

    config_class = UnimodalConfig
    default_configs = UNIMODAL_DEFAULTS
    supported_tasks = ("sentiment", "emotions", "emotion")

    @property
    def modality(self) -> str:
        return self.input_modalities[0]

    def __init__(self, config: UnimodalConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.encoder = SequenceEncoder(spec.dim(self.modality), config.hidden, config.dropout, config.encoder)
        self.mlp = nn.Sequential(nn.Linear(config.hidden, config.mlp_hidden), nn.ReLU(), nn.Dropout(config.dropout))
        self.heads = TaskHeads(config.mlp_hidden, self.tasks, spec)

    def forward(self, batch) -> ModelOutput:
        return self.heads(self.mlp(self.encoder.encode(batch.modality(self.modality))))


@register_model("text_only")
class TextOnly(UnimodalModel):
    input_modalities = ("text",)


@register_model("audio_only")
class AudioOnly(UnimodalModel):
    input_modalities = ("audio",)


@register_model("vision_only")
class VisionOnly(UnimodalModel):
    input_modalities = ("vision",)
