"""One optimisation step as the harness takes it, apart from the epoch loop.

:class:`Optimization` holds what a step needs: the optimizer over the model's
``parameter_groups`` (and one per extra :class:`~msa_bench.models.TrainingStage`), the
learning-rate schedule, the training loss, clipping and the update. The
:class:`~msa_bench.worker.trainer.Trainer` drives it over the epochs; the official
training-step tests (``tests/test_official_training*.py``) drive the same object on one batch, so
what they compare with the official trainers is the code that trains the leaderboard's models.
"""

from __future__ import annotations

import math
from functools import partial

import torch

from msa_bench.data.targets import Targets
from msa_bench.inputs.batching import Batch
from msa_bench.models import MAIN_STAGE, ModelOutput, MSAModel, task_loss
from msa_bench.util.runtime import autocast
from msa_bench.worker.train_config import TrainConfig


class TrainingFailed(RuntimeError):
    """Training produced nothing to select: a non-finite loss, or no finite validation score."""


def training_loss(model: MSAModel, output: ModelOutput, targets: Targets, head_loss_weight: float) -> torch.Tensor:
    """A training step's loss: the model's own ``compute_loss`` (when the dataset labels a task the
    model predicts itself) plus the weighted standard loss of the tasks its shared heads predict."""
    loss = model.compute_loss(output, targets) if model.own_tasks else None
    if model.head_tasks:
        heads = head_loss_weight * task_loss(output, targets, model.head_tasks)
        loss = heads if loss is None else loss + heads
    return loss


class Optimization:
    """The optimizers, schedule and step of one model under one :class:`TrainConfig`.

    ``forward`` is what runs the model (the model itself, or its ``torch.compile`` d version);
    ``batches_per_epoch`` sizes the per-step schedule; ``higher_is_better`` is the plateau
    schedule's direction (the selection metric's).
    """

    def __init__(
        self,
        model: MSAModel,
        config: TrainConfig,
        *,
        batches_per_epoch: int,
        higher_is_better: bool = False,
        forward=None,
        device: torch.device | None = None,
    ) -> None:
        self.model = model
        self.config = config
        self.forward = model if forward is None else forward
        self.device = torch.device("cpu") if device is None else device
        self.optimizer = self._optimizer(model.parameter_groups(config.lr, config.weight_decay))
        self.stages = model.training_stages()
        self.stage_optimizers = {stage.name: self._optimizer(stage.parameter_groups) for stage in self.stages}
        self.scheduler = self._scheduler(batches_per_epoch, higher_is_better)

    def _optimizer(self, groups: list[dict]) -> torch.optim.Optimizer:
        optimizer_class = torch.optim.AdamW if self.config.optimizer == "adamw" else torch.optim.Adam
        return optimizer_class(groups, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def _scheduler(self, batches_per_epoch: int, higher_is_better: bool):
        config = self.config
        if config.scheduler == "plateau":
            return torch.optim.lr_scheduler.ReduceLROnPlateau(
                self.optimizer, mode="max" if higher_is_better else "min", factor=config.plateau_factor,
                patience=config.plateau_patience,
            )
        if config.scheduler == "warmup_cosine":
            total = max(1, math.ceil(batches_per_epoch / config.grad_accum_steps) * config.max_epochs)
            warmup = int(config.warmup_ratio * total)
            return torch.optim.lr_scheduler.LambdaLR(self.optimizer, partial(warmup_cosine, warmup=warmup, total=total))
        return None

    def optimizer_of(self, stage: str) -> torch.optim.Optimizer:
        """The optimizer that steps in the pass ``stage`` (:data:`MAIN_STAGE` or a stage name)."""
        return self.optimizer if stage == MAIN_STAGE else self.stage_optimizers[stage]

    def backward(self, batch: Batch, targets: Targets, scale: float = 1.0) -> tuple[torch.Tensor, ModelOutput]:
        """One forward pass of a prepared batch (normalised, augmented, on the device), the loss of
        the pass under way (``model.stage``) and its backward pass scaled by ``scale``; returns
        the unscaled loss and the output. Gradients accumulate until :meth:`update`."""
        with autocast(self.device):
            output = self.forward(batch)
            loss = training_loss(self.model, output, targets, self.config.head_loss_weight)
        if not torch.isfinite(loss):
            raise TrainingFailed(f"the training loss became {loss.item()}")
        if not loss.requires_grad:
            if self.model.stage == MAIN_STAGE:
                raise TrainingFailed("the training loss does not depend on any trainable parameter")
            return loss, output  # a stage with nothing to fit on this data (MMIM's estimators on text alone)
        (loss * scale).backward()
        return loss, output

    def update(self) -> None:
        """Clip the gradients of every parameter (also those the pass's optimizer does not
        update, as the official trainers do), step the optimizer of the pass under way, clear
        every gradient; the per-step schedule advances with the main pass."""
        if self.config.grad_clip_value is not None:
            torch.nn.utils.clip_grad_value_(self.model.parameters(), self.config.grad_clip_value)
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer_of(self.model.stage).step()
        self.model.zero_grad(set_to_none=True)
        if self.model.stage == MAIN_STAGE and isinstance(self.scheduler, torch.optim.lr_scheduler.LambdaLR):
            self.scheduler.step()

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "stage_optimizers": {name: optimizer.state_dict() for name, optimizer in self.stage_optimizers.items()},
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        for name, optimizer in self.stage_optimizers.items():
            optimizer.load_state_dict(state["stage_optimizers"][name])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """The learning-rate factor of step ``step``: linear warm-up over ``warmup`` steps, then a
    half cosine to 0 at ``total``."""
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
