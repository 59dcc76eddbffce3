"""The public model API: what a baseline or a user's submission implements.

A model is an ``MSAModel`` subclass (a ``torch.nn.Module``) with a frozen config dataclass,
registered by name with :func:`register_model`. It is built as ``Model(config, spec)`` where
``spec`` (:class:`DataSpec`) gives the dataset's feature dimensions and labelled tasks, and its
``forward(batch)`` returns a :class:`ModelOutput` with predictions for every task the dataset
is labelled for.

Inputs and labels never meet in a model: ``forward`` receives a
:class:`~msa_bench.inputs.batching.Batch` (features, masks, transcripts, ids) and nothing else; the
labels (:class:`~msa_bench.data.targets.Targets`) reach a model only through
``compute_loss(output, targets)`` in training steps.

Tasks: a model predicts its *own* tasks (``supported_tasks``, with its own losses) and the rest
of the dataset's tasks through shared :class:`TaskHeads` over its fused representation
(``self.heads = self.task_heads(fused_dim)`` in ``__init__``, ``return self.heads(fused,
output)`` at the end of ``forward``). The trainer adds the standard loss of every head task
(:func:`task_loss`, weighted by ``TrainConfig.head_loss_weight``) to ``compute_loss``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import datasets
import torch
import torch.nn.functional as F
from torch import nn

from msa_bench.inputs.batching import Batch
from msa_bench.util.config_types import check_field_types
from msa_bench.models.fidelity import FidelityRow
from msa_bench.util.registry import Registry
from msa_bench.data.schema import EKMAN_EMOTIONS, EMOTION_CLASSES, MODALITIES, feature_dims
from msa_bench.data.targets import MISSING_CLASS, Targets

#: Tasks a dataset can be labelled for and a model can predict.
TASKS: tuple[str, ...] = ("sentiment", "emotions", "emotion")

#: The name of every model's main training pass (:attr:`MSAModel.stage` outside extra stages).
MAIN_STAGE = "main"


@dataclass(frozen=True)
class DataSpec:
    """What a model is told about its dataset: feature dimensions and labelled tasks."""

    text_dim: int
    audio_dim: int
    vision_dim: int
    tasks: tuple[str, ...] = ("sentiment",)
    n_emotions: int = len(EKMAN_EMOTIONS)
    n_emotion_classes: int = len(EMOTION_CLASSES)

    def dim(self, modality: str) -> int:
        return getattr(self, f"{modality}_dim")

    @classmethod
    def from_dataset(cls, dataset: datasets.Dataset | datasets.DatasetDict) -> DataSpec:
        """Dimensions from the features; tasks from which labels the training split has."""
        train = dataset["train"] if isinstance(dataset, datasets.DatasetDict) else dataset
        dims = feature_dims(train.features)
        tasks = tuple(
            task
            for task, column in (("sentiment", "sentiment"), ("emotions", "emotions"), ("emotion", "emotion"))
            if len(train) and any(value is not None for value in train.select_columns([column])[:256][column])
        )
        return cls(text_dim=dims["text"], audio_dim=dims["audio"], vision_dim=dims["vision"], tasks=tasks)


@dataclass
class ModelOutput:
    """Predictions of one forward pass; ``None`` for a task the model does not predict.

    ``sentiment`` (B,) scores; ``emotions`` (B, 6) Ekman intensities; ``emotion_logits``
    (B, n_emotion_classes); ``aux`` anything a model wants to pass to its own ``compute_loss``.
    """

    sentiment: torch.Tensor | None = None
    emotions: torch.Tensor | None = None
    emotion_logits: torch.Tensor | None = None
    aux: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ModelConfig:
    """Base class of model configs (frozen dataclasses of model hyperparameters)."""


@dataclass(frozen=True)
class TrainingStage:
    """An extra optimisation pass a model runs over the training split in every epoch, before its
    main pass: ``parameter_groups`` are its own optimizer's groups (the trainer's optimizer class;
    clipping as the main pass), ``batch_fraction`` the leading share of the epoch's batches it
    sees. During the pass ``model.stage`` is ``name`` and ``compute_loss`` returns that stage's
    loss (e.g. MMIM's estimator pass on −lld before the main pass)."""

    name: str
    parameter_groups: list[dict]
    batch_fraction: float = 1.0

    def __post_init__(self) -> None:
        if self.name == MAIN_STAGE:
            raise ValueError(f"a training stage cannot be called {MAIN_STAGE!r} (the main pass)")
        if not 0.0 < self.batch_fraction <= 1.0:
            raise ValueError(f"stage {self.name!r}: batch_fraction must be in (0, 1], got {self.batch_fraction}")


def task_loss(output: ModelOutput, targets: Targets, tasks: Sequence[str] = TASKS) -> torch.Tensor:
    """The standard training loss: L1 on sentiment, MSE on emotion intensities and
    cross-entropy on the emotion class, each over annotated examples only, summed over
    ``tasks`` (those of them that ``output`` predicts)."""
    device = next(t.device for t in (output.sentiment, output.emotions, output.emotion_logits) if t is not None)
    total = torch.zeros((), device=device)
    if "sentiment" in tasks and output.sentiment is not None:
        known = ~torch.isnan(targets.sentiment)
        if known.any():
            total = total + F.l1_loss(output.sentiment[known].float(), targets.sentiment[known])
    if "emotions" in tasks and output.emotions is not None:
        known = ~torch.isnan(targets.emotions).any(dim=1)
        if known.any():
            total = total + F.mse_loss(output.emotions[known].float(), targets.emotions[known])
    if "emotion" in tasks and output.emotion_logits is not None:
        if (targets.emotion != MISSING_CLASS).any():
            total = total + F.cross_entropy(output.emotion_logits.float(), targets.emotion, ignore_index=MISSING_CLASS)
    return total


class TaskHeads(nn.Module):
    """One linear head per task over a fused representation (B, input_dim).

    ``forward(fused, output)`` fills the tasks of ``output`` (a new :class:`ModelOutput` when
    ``None``) that the model left empty; a head set with no task has no parameters.
    """

    def __init__(self, input_dim: int, tasks: Sequence[str], spec: DataSpec) -> None:
        super().__init__()
        sizes = {"sentiment": 1, "emotions": spec.n_emotions, "emotion": spec.n_emotion_classes}
        self.heads = nn.ModuleDict({task: nn.Linear(input_dim, sizes[task]) for task in tasks})

    def forward(self, fused: torch.Tensor, output: ModelOutput | None = None) -> ModelOutput:
        output = ModelOutput() if output is None else output
        if "sentiment" in self.heads and output.sentiment is None:
            output.sentiment = self.heads["sentiment"](fused).squeeze(-1)
        if "emotions" in self.heads and output.emotions is None:
            output.emotions = self.heads["emotions"](fused)
        if "emotion" in self.heads and output.emotion_logits is None:
            output.emotion_logits = self.heads["emotion"](fused)
        return output


class MSAModel(nn.Module):
    """Base class of every msa_bench model.

    Subclasses set ``config_class`` and implement ``forward``. Optional overrides:
    ``compute_loss`` (multi-loss models; it receives labels, ``forward`` never does; a model
    with several terms records them, unweighted, in ``output.aux["losses"]``),
    ``parameter_groups`` (per-group learning rates and weight decays; a parameter left out on
    purpose is listed by ``untrained_parameters``), ``training_stages`` (extra passes per epoch with their own optimizers, see
    :class:`TrainingStage`), ``on_epoch_end`` (per-epoch state updates, e.g. Self-MM's label
    generation), and ``training_state`` / ``load_training_state`` for state a model keeps
    outside its parameters (label memories, counters), so that a resumed run is exact. Class
    attributes ``default_configs`` and ``paper_results`` carry per-dataset
    hyperparameters and published numbers as data.

    ``own_tasks`` are the dataset's tasks the model predicts itself; ``head_tasks`` the rest,
    predicted by :class:`TaskHeads` (see the module docstring); ``tasks`` all of them.
    """

    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    #: dataset name -> {"model": {...}, "train": {...}} overrides of the defaults.
    default_configs: ClassVar[dict[str, dict]] = {}
    #: dataset name -> {"source": "...", metric name: value} as published.
    paper_results: ClassVar[dict[str, dict]] = {}
    #: Components compared with the official code (``msa_bench.models.fidelity``).
    fidelity: ClassVar[tuple[FidelityRow, ...]] = ()
    #: Tasks this model can predict.
    supported_tasks: ClassVar[tuple[str, ...]] = ("sentiment",)
    #: Modalities the model reads; on a dataset with none of them it can only predict a constant,
    #: so a board leaves it out there.
    input_modalities: ClassVar[tuple[str, ...]] = MODALITIES
    #: How the model trains with missing modalities inside itself, if it does (a format string
    #: over its config fields; leaderboard tables tag such models "trained with ...").
    missing_modality_training: ClassVar[str] = ""

    def __init__(self, config: ModelConfig, spec: DataSpec) -> None:
        super().__init__()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.spec = spec
        self.own_tasks = tuple(t for t in self.supported_tasks if t in spec.tasks)
        self.head_tasks = tuple(t for t in spec.tasks if t not in self.own_tasks)
        self.tasks = tuple(t for t in TASKS if t in spec.tasks)
        #: The training pass under way (:data:`MAIN_STAGE` or a :class:`TrainingStage` name).
        self.stage = MAIN_STAGE

    def task_heads(self, fused_dim: int) -> TaskHeads:
        """Heads for :attr:`head_tasks` over a (B, fused_dim) fused representation."""
        return TaskHeads(fused_dim, self.head_tasks, self.spec)

    def forward(self, batch: Batch) -> ModelOutput:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute_loss(self, output: ModelOutput, targets: Targets) -> torch.Tensor:
        """The loss of the model's own tasks (the trainer adds the head tasks' losses)."""
        return task_loss(output, targets, self.own_tasks)

    def training_state(self) -> dict:
        """State outside the parameters that training changes (tensors and plain values only)."""
        return {}

    def load_training_state(self, state: dict) -> None:
        """Restore :meth:`training_state` when a run resumes from a checkpoint."""

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": lr, "weight_decay": weight_decay}]

    def training_stages(self) -> tuple[TrainingStage, ...]:
        """Extra passes run before the main pass of every epoch (none by default)."""
        return ()

    def untrained_parameters(self) -> list[nn.Parameter]:
        """Trainable parameters no optimizer group holds on purpose (an official trainer that
        never steps them): they get gradients (which count in norm clipping) and keep their
        values. Every other trainable parameter is in exactly one group of
        :meth:`parameter_groups` or of a :meth:`training_stages` stage."""
        return []

    def enter_stage(self, name: str) -> None:
        """Called by the trainer as each pass begins (``name``: :data:`MAIN_STAGE` or a stage's)."""
        self.stage = name

    def on_epoch_end(self, epoch: int) -> None:
        """Called after each training epoch (before validation)."""


MODELS: Registry[type[MSAModel]] = Registry("model", entry_point_group="msa_bench.models")


def register_model(name: str):
    """Class decorator registering an ``MSAModel`` subclass under ``name``."""

    def decorator(cls: type[MSAModel]) -> type[MSAModel]:
        if not (isinstance(cls, type) and issubclass(cls, MSAModel)):
            raise TypeError(f"@register_model({name!r}) must decorate an MSAModel subclass, got {cls!r}")
        if not (dataclasses.is_dataclass(cls.config_class)):
            raise TypeError(f"{cls.__name__}.config_class must be a dataclass")
        cls.registered_name = name
        MODELS.register(name, cls)
        return cls

    return decorator


def build_config(model_class: type[MSAModel], overrides: dict | None = None) -> ModelConfig:
    """The model's config with ``overrides``; unknown keys are an error naming the valid ones."""
    overrides = dict(overrides or {})
    valid = {f.name for f in dataclasses.fields(model_class.config_class)}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise ValueError(f"{model_class.__name__} has no config field(s) {unknown}; valid fields: {sorted(valid)}")
    check_field_types(model_class.config_class, overrides, "model")
    return model_class.config_class(**overrides)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def learning_rate_groups(
    model: nn.Module, lr: float, weight_decay: float, special: Sequence[tuple[Iterable[nn.Parameter], float]] = ()
) -> list[dict]:
    """Optimizer groups for :meth:`MSAModel.parameter_groups`: each ``(parameters, rate)`` of
    ``special`` at its own rate (the first pair naming a parameter wins), every other trainable
    parameter at ``lr``; empty groups are left out.

    >>> learning_rate_groups(model, 1e-3, 0.0, [(model.text.pretrained_parameters(), 5e-5)])  # doctest: +SKIP
    """
    rate_of: dict[int, float] = {}
    for parameters, rate in special:
        for p in parameters:
            rate_of.setdefault(id(p), rate)
    by_rate: dict[float, list[nn.Parameter]] = {lr: []}
    for p in model.parameters():
        if p.requires_grad:
            by_rate.setdefault(rate_of.get(id(p), lr), []).append(p)
    return [{"params": ps, "lr": rate, "weight_decay": weight_decay} for rate, ps in by_rate.items() if ps]


def masked_mean(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over real frames (B, L, D) -> (B, D); zeros where a row has no frame."""
    weights = mask.unsqueeze(-1).to(features.dtype)
    return (features * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)


__all__ = [
    "MAIN_STAGE",
    "MODELS",
    "TASKS",
    "DataSpec",
    "MSAModel",
    "ModelConfig",
    "ModelOutput",
    "TaskHeads",
    "TrainingStage",
    "build_config",
    "count_parameters",
    "learning_rate_groups",
    "masked_mean",
    "register_model",
    "task_loss",
]
