"""Training and scoring targets: the labels of a batch, kept apart from the model's inputs.

A model's ``forward`` receives a :class:`~msa_bench.inputs.batching.Batch` (inputs only). The labels of
the same examples travel as :class:`Targets` on the trainer's side and reach a model only
through ``compute_loss(output, targets)`` during training steps; evaluation never hands a model
an object that holds a label.

Labels that are not annotated are NaN (float labels) or :data:`MISSING_CLASS` (class labels).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

from msa_bench.data.schema import EKMAN_EMOTIONS

MISSING_CLASS = -1

#: Dataset columns that hold labels (never read by :mod:`msa_bench.inputs.batching`).
LABEL_COLUMNS: tuple[str, ...] = ("sentiment", "emotions", "emotion", "polarity")


@dataclass(frozen=True)
class Targets:
    """The labels of one batch, row-aligned with its :class:`~msa_bench.inputs.batching.Batch`."""

    ids: list[str]
    sentiment: torch.Tensor  # (B,) float, NaN = not annotated
    emotions: torch.Tensor  # (B, 6) float, NaN = not annotated
    emotion: torch.Tensor  # (B,) long, -1 = not annotated
    polarity: torch.Tensor  # (B,) long, -1 = not annotated

    def __len__(self) -> int:
        return len(self.ids)

    def to(self, device: torch.device | str) -> Targets:
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name in LABEL_COLUMNS:
            moved[name] = moved[name].to(device, non_blocking=True)
        return Targets(**moved)

    def pin_memory(self) -> Targets:
        """Page-locked copies (``DataLoader(pin_memory=True)`` calls this)."""
        return replace(self, **{name: getattr(self, name).pin_memory() for name in LABEL_COLUMNS})


def is_null(value) -> bool:
    """``None``, or the scalar NaN that ``datasets``' torch format gives for a null value."""
    if value is None:
        return True
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        value = float(value)
    return isinstance(value, float) and np.isnan(value)


def _float_label(examples: Sequence[dict], key: str) -> torch.Tensor:
    return torch.tensor([np.nan if is_null(e.get(key)) else float(e[key]) for e in examples], dtype=torch.float32)


def _class_label(examples: Sequence[dict], key: str) -> torch.Tensor:
    return torch.tensor([MISSING_CLASS if is_null(e.get(key)) else int(e[key]) for e in examples], dtype=torch.long)


def _emotions(examples: Sequence[dict]) -> torch.Tensor:
    missing = [np.nan] * len(EKMAN_EMOTIONS)
    rows = [missing if is_null(e.get("emotions")) else [float(x) for x in e["emotions"]] for e in examples]
    return torch.tensor(rows, dtype=torch.float32)


def collate_targets(examples: Sequence[dict]) -> Targets:
    """The :class:`Targets` of rows of the unified schema."""
    if not examples:
        raise ValueError("cannot collate an empty list of examples")
    return Targets(
        ids=[str(e["id"]) for e in examples],
        sentiment=_float_label(examples, "sentiment"),
        emotions=_emotions(examples),
        emotion=_class_label(examples, "emotion"),
        polarity=_class_label(examples, "polarity"),
    )
