"""The training loop: fit one model on the training split, select by the validation split.

The :class:`Trainer` never holds the test split: it is built from the training and validation
splits only and returns the model at its best validation epoch; the caller
(:func:`msa_bench.harness.training.train_and_evaluate`) scores the test split once, afterwards.
Callbacks receive a read-only :class:`EpochSummary`, never the trainer or the model.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from tqdm.auto import tqdm

from msa_bench.inputs.corruption import drop_modalities, missing, unk_token
from msa_bench.worker.checkpoints import CHECKPOINT_NAME, load_checkpoint, save_checkpoint
from msa_bench.worker.evaluation import metrics_of_columns, predict
from msa_bench.inputs.loader import EVAL_BATCH_SIZE, eval_batches, train_loader
from msa_bench.models import MAIN_STAGE, MSAModel
from msa_bench.inputs.normalization import normalize_inputs
from msa_bench.data.schema import MODALITIES
from msa_bench.worker.optimization import Optimization, TrainingFailed, training_loss
from msa_bench.worker.train_config import TrainConfig, higher_is_better

__all__ = ["Callback", "EpochSummary", "Trainer", "TrainingFailed", "training_loss"]


@dataclass(frozen=True)
class EpochSummary:
    """What a callback learns about an epoch that just ended (a frozen copy)."""

    epoch: int
    train_loss: float
    val_value: float
    best_value: float
    best_epoch: int

    def line(self, max_epochs: int, metric: str) -> str:
        return (
            f"epoch {self.epoch}/{max_epochs}  train loss {self.train_loss:.4f}  "
            f"val {metric} {self.val_value:.4f}  best {self.best_value:.4f} (epoch {self.best_epoch})"
        )


#: A callback gets the summary of the epoch that just ended.
Callback = Callable[[EpochSummary], None]


@dataclass
class TrainState:
    """What a checkpoint restores besides the model/optimizer/scheduler weights."""

    epoch: int = 0
    best_value: float = math.nan
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)


class Trainer:
    """Trains one model with one seed on ``train``, selecting its best epoch on ``validation``."""

    def __init__(
        self,
        model: MSAModel,
        config: TrainConfig,
        train: datasets.Dataset,
        validation: datasets.Dataset,
        *,
        seed: int,
        device: torch.device,
        run_dir: Path | None = None,
        identity: dict | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool = True,
    ) -> None:
        self.model = model.to(device)
        self.run_identity = dict(identity or {})
        self.forward = torch.compile(self.model) if config.compile else self.model
        self.config = config
        self.train_split = train
        self.validation_batches = eval_batches(validation, EVAL_BATCH_SIZE)
        self.seed = seed
        self.device = device
        self.checkpoint_path = None if run_dir is None else Path(run_dir) / CHECKPOINT_NAME
        self.callbacks = tuple(callbacks)
        self.progress = progress
        self.higher_is_better = higher_is_better(config.select_metric)
        self.optimization = Optimization(
            self.model, config, batches_per_epoch=math.ceil(len(train) / config.batch_size),
            higher_is_better=self.higher_is_better, forward=self.forward, device=device,
        )
        self.state = TrainState()
        self.best_model: dict[str, torch.Tensor] = _copy_state(self.model)

    # ---- the loop

    def fit(self) -> MSAModel:
        """Train until early stopping or ``max_epochs``; return the model at its best epoch."""
        self._resume()
        metric = self.config.select_metric
        while self.state.epoch < self.config.max_epochs and self.state.bad_epochs < self.config.patience:
            epoch = self.state.epoch + 1
            train_loss = self._train_epoch(epoch)
            self.model.on_epoch_end(epoch)
            val_metrics = metrics_of_columns(predict(self.model, self.validation_batches, self.device)[1])
            if metric not in val_metrics:
                raise ValueError(
                    f"select_metric {metric!r} is not computed for this model and dataset (available: {sorted(val_metrics)})"
                )
            val_value = val_metrics[metric]
            self._update_best(epoch, train_loss, val_value)
            scheduler = self.optimization.scheduler
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau) and not math.isnan(val_value):
                scheduler.step(val_value)
            self._save_checkpoint()
            summary = EpochSummary(epoch, train_loss, val_value, self.state.best_value, self.state.best_epoch)
            if self.progress:
                tqdm.write(summary.line(self.config.max_epochs, metric))
            for callback in self.callbacks:
                callback(summary)
        if self.state.best_epoch == 0:
            raise TrainingFailed(
                f"validation {metric} was NaN at every epoch (1 to {self.state.epoch}): nothing to select, "
                "so the run is stopped instead of testing the untrained weights"
            )
        self.model.load_state_dict(self.best_model)
        return self.model

    def _train_epoch(self, epoch: int) -> float:
        """The model's extra training stages, then its main pass; the main pass's mean loss."""
        self.model.train()
        try:
            for index, stage in enumerate(self.optimization.stages, start=1):
                self.model.enter_stage(stage.name)
                self._train_pass(epoch, stage.batch_fraction, index)
            self.model.enter_stage(MAIN_STAGE)
            return self._train_pass(epoch, 1.0, 0)
        finally:
            self.model.enter_stage(MAIN_STAGE)

    def _train_pass(self, epoch: int, batch_fraction: float, index: int) -> float:
        augment = torch.Generator().manual_seed(self.seed * 10_007 + epoch + 1 + 1_000_003 * index)
        loader = train_loader(
            self.train_split, self.config.batch_size, self.seed, epoch, self.config.num_workers, self.device.type == "cuda"
        )
        batches = min(len(loader), math.ceil(batch_fraction * len(loader)))
        accum = self.config.grad_accum_steps
        total, count = 0.0, 0
        self.model.zero_grad(set_to_none=True)
        label = f"epoch {epoch}" if self.model.stage == MAIN_STAGE else f"epoch {epoch} ({self.model.stage})"
        bar = tqdm(loader, desc=label, total=batches, leave=False, disable=not self.progress)
        for step, (batch, targets) in enumerate(bar, start=1):
            if step > batches:
                break
            batch = normalize_inputs(self.model, batch)  # before augmentation, as at test time
            if self.config.missing_modality_rate > 0:
                batch = drop_modalities(batch, self.config.missing_modality_rate, augment)
            if self.config.missing_frame_rate > 0:
                rates = torch.rand(len(batch), generator=augment) * self.config.missing_frame_rate
                batch = missing(MODALITIES, rates, augment, "unannounced", unk_token(self.model))(batch)
            try:
                loss, _ = self.optimization.backward(batch.to(self.device), targets.to(self.device), 1.0 / accum)
            except TrainingFailed as failure:
                raise TrainingFailed(f"{failure} at {label}, step {step}") from None
            if step % accum == 0 or step == batches:
                self.optimization.update()
            total += loss.item() * len(batch)
            count += len(batch)
            bar.set_postfix(loss=f"{total / count:.4f}")
        return total / max(count, 1)

    def _update_best(self, epoch: int, train_loss: float, val_value: float) -> None:
        state = self.state
        if _improves(val_value, state.best_value, self.higher_is_better):
            state.best_value, state.best_epoch, state.bad_epochs = float(val_value), epoch, 0
            self.best_model = _copy_state(self.model)
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        state.history.append({"epoch": epoch, "train_loss": float(train_loss), "val": float(val_value)})

    # ---- checkpoints

    def _identity(self) -> dict:
        """What a checkpoint must match to be resumed: the configs, the seed and the caller's
        identity of the run (dataset fingerprint, feature dimensions, model code)."""
        return {
            "train": dataclasses.asdict(self.config),
            "model": dataclasses.asdict(self.model.config),
            "seed": self.seed,
            **self.run_identity,
        }

    def _save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        save_checkpoint(
            self.checkpoint_path,
            {
                "identity": self._identity(),
                "model": self.model.state_dict(),
                "model_training_state": self.model.training_state(),
                "best_model": self.best_model,
                "optimization": self.optimization.state_dict(),
                "state": dataclasses.asdict(self.state),
            },
        )

    def _resume(self) -> None:
        if self.checkpoint_path is None:
            return
        payload = load_checkpoint(self.checkpoint_path, self._identity(), self.device)
        if payload is None:
            return
        self.model.load_state_dict(payload["model"])
        self.model.load_training_state(payload["model_training_state"])
        self.best_model = payload["best_model"]
        self.optimization.load_state_dict(payload["optimization"])
        self.state = TrainState(**payload["state"])
        if self.progress:
            tqdm.write(f"resumed from {self.checkpoint_path} after epoch {self.state.epoch}")


def _improves(value: float, best: float, higher: bool) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(best):
        return True
    return value > best if higher else value < best


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}
