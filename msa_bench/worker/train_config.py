"""The training protocol's hyperparameters (:class:`TrainConfig`), one frozen dataclass."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from msa_bench.util.config_types import check_field_types
from msa_bench.scoring.metrics import METRICS
from msa_bench.inputs.normalization import MODES as NORMALIZE_MODES

OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("none", "warmup_cosine", "plateau")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of the training protocol.

    ``select_metric`` is the validation criterion for early stopping and the best checkpoint
    (its direction comes from the metric registry). ``missing_modality_rate`` > 0 turns on
    training-time missing-modality augmentation: each training example draws a rate uniformly
    in [0, missing_modality_rate] and each of its modalities is then marked absent with that
    probability (at least one present modality is kept). ``missing_frame_rate`` > 0 is LNLN's
    training (the ``"lnln"`` track of :data:`msa_bench.harness.robustness.TRACKS`): each training
    example draws a rate uniformly in [0, missing_frame_rate] and each of its frames, tokens and
    words is then dropped, unannounced (:mod:`msa_bench.inputs.corruption`), with that probability.

    ``grad_clip`` clips the gradient norm, ``grad_clip_value`` each gradient value (MISA's
    official code clips by value). ``scheduler="plateau"`` multiplies the learning rates by
    ``plateau_factor`` after ``plateau_patience`` epochs without a better validation
    ``select_metric``. ``head_loss_weight`` weights the standard losses of the tasks a model
    predicts through the shared task heads (:class:`msa_bench.models.TaskHeads`).
    ``normalize``: per-feature standardisation of every modality, fitted on the training split
    (:mod:`msa_bench.inputs.normalization`): ``"standard"``, ``"none"``, or ``"auto"`` (standard on every
    dataset except the synthetic one, whose features are generated on one scale).
    ``compile``: training steps run the model's forward through ``torch.compile`` (off by
    default: the first steps pay the compilation, and eager CPU results are exactly repeatable).
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    max_epochs: int = 30
    patience: int = 8
    select_metric: str = "mae"
    grad_clip: float | None = None
    grad_clip_value: float | None = None
    grad_accum_steps: int = 1
    missing_modality_rate: float = 0.0
    missing_frame_rate: float = 0.0
    optimizer: str = "adam"
    scheduler: str = "none"
    warmup_ratio: float = 0.1
    plateau_factor: float = 0.1
    plateau_patience: int = 20
    head_loss_weight: float = 1.0
    num_workers: int = 0
    normalize: str = "auto"
    compile: bool = False

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        for name in ("batch_size", "max_epochs", "patience", "grad_accum_steps", "plateau_patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip}")
        if self.grad_clip_value is not None and not self.grad_clip_value > 0:
            raise ValueError(f"grad_clip_value must be positive or None, got {self.grad_clip_value}")
        if not 0.0 < self.plateau_factor < 1.0:
            raise ValueError(f"plateau_factor must be in (0, 1), got {self.plateau_factor}")
        if not self.head_loss_weight >= 0:
            raise ValueError(f"head_loss_weight must be >= 0, got {self.head_loss_weight}")
        for name in ("missing_modality_rate", "missing_frame_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, got {self.num_workers!r}")
        if self.normalize not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be one of {NORMALIZE_MODES}, got {self.normalize!r}")
        higher_is_better(self.select_metric)

    @classmethod
    def from_dict(cls, values: dict | None) -> TrainConfig:
        """A config from a mapping; unknown keys are an error naming the valid ones."""
        values = dict(values or {})
        valid = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - valid)
        if unknown:
            raise ValueError(f"TrainConfig has no field(s) {unknown}; valid fields: {sorted(valid)}")
        check_field_types(cls, values, "train")
        return cls(**values)


def higher_is_better(metric: str) -> bool:
    """Direction of a registered metric (raises naming the known metrics if unknown)."""
    return METRICS.get(metric).higher_is_better
