"""EF-LSTM: early fusion LSTM, as MMSA's ``EF_LSTM``.

The three modalities are joined frame by frame (concatenated features) and a ``num_layers``
LSTM reads the joint sequence; its last layer's final hidden state goes through dropout ->
Linear -> ReLU -> dropout and the task heads. Early fusion needs the modalities on one time
axis of a fixed length ``steps`` (MMSA's aligned ``seq_len``; its ``BatchNorm1d(seq_len)``
normalises each time step). Word-aligned data already is; for unaligned data (each modality
with its own frame rate and length) every modality of an example is resampled to ``steps``
time steps by area interpolation over its real frames: step ``t`` averages the frames covering
the fraction [t/steps, (t+1)/steps) of the sequence, weighted by overlap (this both pools long
sequences and stretches short ones; a sequence of exactly ``steps`` real frames is unchanged).
An absent modality contributes zeros; ``presence_flags=True`` (an msa_bench option, off by
default as in the official code) appends three presence flags to every step so the LSTM knows
which inputs are real.

Equal to MMSA's ``EF_LSTM`` (commit a94e65d) on aligned, unpadded inputs: the official weights
load through :func:`official_state_dict` and reproduce its outputs
(``tests/test_official_equivalence.py``); the differences are listed in ``fidelity``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from msa_bench.inputs.batching import ModalityBatch
from msa_bench.models import DataSpec, MSAModel, ModelConfig, ModelOutput, TaskHeads, register_model
from msa_bench.models.fidelity import FidelityRow, rename_official
from msa_bench.data.schema import MODALITIES


@dataclass(frozen=True)
class EFLSTMConfig(ModelConfig):
    """``hidden`` is the LSTM and the post-LSTM layer's width (MMSA's ``hidden_dims``); ``dropout``
    is applied between LSTM layers and around the post-LSTM layer."""

    steps: int = 50
    hidden: int = 128
    num_layers: int = 4
    dropout: float = 0.5
    presence_flags: bool = False

    def __post_init__(self) -> None:
        for name in ("steps", "hidden", "num_layers"):
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
    if mask.shape[1] == steps and bool(mask.all()):
        return modality.features  # aligned input of exactly ``steps`` real frames: the identity
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
        "test": {"model": {"steps": 6, "hidden": 8, "num_layers": 1, "dropout": 0.0}},
        "synthetic": {
            "model": {"steps": 12, "hidden": 32, "num_layers": 1, "dropout": 0.1, "presence_flags": True},
            "train": {**_TRAIN, "lr": 3e-3, "max_epochs": 6, "patience": 3},
        },
        # MMSA config_regression.json ef_lstm.
        "mosi": {"model": {}, "train": {**_TRAIN, "weight_decay": 5e-3}},
        "mosei": {"model": {"hidden": 256, "num_layers": 2, "dropout": 0.4},
                  "train": {**_TRAIN, "batch_size": 128, "lr": 5e-3, "weight_decay": 1e-4}},
        "ravdess": {"model": {"steps": 32, "hidden": 64, "num_layers": 1, "dropout": 0.2, "presence_flags": True},
                    "train": {**_TRAIN, "select_metric": "emotion_ua"}},
    }
    fidelity = (
        FidelityRow("forward pass (fixture ef_lstm/)", "MMSA EF_LSTM at a94e65d",
                    "EFLSTM with official weights via official_state_dict", "equal",
                    test="tests/test_official_equivalence.py::test_ef_lstm_equals_mmsa"),
        FidelityRow("training step (fixture ef_lstm/)", "MMSA trainer: Adam (lr 1e-3, L2 5e-3), L1, BatchNorm1d(seq_len) "
                    "over time steps in train mode", "Optimization from the mosi schedule", "equal",
                    test="tests/test_official_training.py::test_training_step_equals_the_official_trainer"),
        FidelityRow("time axis", "word-aligned sequences of seq_len steps", "area resampling of real frames to steps",
                    "deviation", reason="lets unaligned data in",
                    effect="none on aligned input of steps frames, and repeated or padded frames resample back to it "
                           "(tests/test_official_equivalence.py::test_ef_lstm_resampling_path_gives_the_official_outputs)"),
        FidelityRow("presence flags", "none", "none by default; presence_flags=True appends 3 flags per step", "equal",
                    test="tests/test_official_equivalence.py::test_ef_lstm_equals_mmsa"),
        FidelityRow("MOSI hyperparameters (4 LSTM layers)", "config_regression.json ef_lstm (mosi)", "same values", "equal",
                    test="tests/test_official_schedules.py::test_mosi_schedules_are_the_official_configurations"),
        FidelityRow("MOSEI hyperparameters (2 LSTM layers)", "config_regression.json ef_lstm (mosei)", "same values",
                    "equal", test="tests/test_official_schedules.py::test_schedules_transcribed_from_the_official_code"),
    )

    def __init__(self, config: EFLSTMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        input_dim = sum(spec.dim(m) for m in MODALITIES) + (len(MODALITIES) if config.presence_flags else 0)
        self.norm = nn.BatchNorm1d(config.steps)
        self.lstm = nn.LSTM(input_dim, config.hidden, num_layers=config.num_layers, batch_first=True,
                            dropout=config.dropout if config.num_layers > 1 else 0.0)
        self.mlp = nn.Sequential(
            nn.Dropout(config.dropout), nn.Linear(config.hidden, config.hidden), nn.ReLU(), nn.Dropout(config.dropout)
        )
        self.heads = TaskHeads(config.hidden, self.tasks, spec)

    def forward(self, batch) -> ModelOutput:
        steps = self.config.steps
        parts = [resample(modality, steps) for _, modality in batch.modalities()]
        if self.config.presence_flags:
            flags = torch.stack([m.present for _, m in batch.modalities()], dim=1).to(parts[0].dtype)
            parts.append(flags.unsqueeze(1).expand(-1, steps, -1))
        _, (last, _) = self.lstm(self.norm(torch.cat(parts, dim=2)))
        return self.heads(self.mlp(last[-1]))


def official_state_dict(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MMSA's ``EF_LSTM`` state dict (regression) as this module's: renames only."""
    rules = (
        (r"(norm|lstm)\.(.*)", r"\1.\2"),
        (r"linear\.(.*)", r"mlp.1.\1"),
        (r"out\.(.*)", r"heads.heads.sentiment.\1"),
    )
    return rename_official(official, rules, model="ef_lstm")
