"""The one training protocol used by every model.

:func:`train_and_evaluate` builds a model (after seeding), trains it on the training split,
selects the best epoch by a validation metric (early stopping), and only then evaluates the
test split, exactly once, with that best checkpoint. Every test metric comes from that one
evaluation.

The test split is sealed by construction: the :class:`Trainer` holds it as a
:class:`SealedSplit`, and any read of it before training has finished raises
:class:`SealedSplitError`, which fails the run.

Runs are resumable: after each epoch the model, optimizer, scheduler, RNG states, early-stopping
state and best weights are written to ``<run_dir>/checkpoint.pt``; a run started again with the
same ``run_dir`` and config continues from there and ends with the same result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from msa_bench.batching import Batch, ModalityBatch, TorchDataset, collate
from msa_bench.atomic import atomic_write
from msa_bench.config_types import check_field_types
from msa_bench.errors import ConfigError
from msa_bench.metrics import (
    METRICS,
    NO_CLASS,
    bootstrap_ci,
    compute_metrics,
    emotion_class_metrics,
    emotions_metrics,
    predictions_frame,
    sentiment_metrics,
)
from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, count_parameters
from msa_bench.results import ResultRecord, current_git_commit
from msa_bench.schema import MODALITIES

#: The seeds of the protocol; results are reported as mean ± sample std over them.
DEFAULT_SEEDS: tuple[int, ...] = (1111, 1112, 1113, 1114, 1115)

#: Splits up to this Arrow size are read into memory once and re-batched each epoch; larger
#: splits stream from Arrow batch by batch.
IN_MEMORY_BYTES = 512 * 2**20

#: Batch size of every evaluation (validation, test, robustness): predictions do not depend on it.
EVAL_BATCH_SIZE = 256

OPTIMIZERS = ("adam", "adamw")
SCHEDULERS = ("none", "warmup_cosine")


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of the training protocol.

    ``select_metric`` is the validation criterion for early stopping and the best checkpoint
    (its direction comes from the metric registry). ``missing_modality_rate`` > 0 turns on
    training-time missing-modality augmentation: each training example draws a rate uniformly
    in [0, missing_modality_rate] and each of its modalities is then marked absent with that
    probability (at least one present modality is kept).
    """

    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 32
    max_epochs: int = 30
    patience: int = 8
    select_metric: str = "mae"
    grad_clip: float | None = None
    grad_accum_steps: int = 1
    missing_modality_rate: float = 0.0
    optimizer: str = "adam"
    scheduler: str = "none"
    warmup_ratio: float = 0.1
    num_workers: int = 0

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        for name in ("batch_size", "max_epochs", "patience", "grad_accum_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.grad_clip is not None and not self.grad_clip > 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip}")
        if not 0.0 <= self.missing_modality_rate <= 1.0:
            raise ValueError(f"missing_modality_rate must be in [0, 1], got {self.missing_modality_rate}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}")
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"scheduler must be one of {SCHEDULERS}, got {self.scheduler!r}")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        if not isinstance(self.num_workers, int) or self.num_workers < 0:
            raise ValueError(f"num_workers must be a non-negative integer, got {self.num_workers!r}")
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


# --------------------------------------------------------------------------- seeding, devices


def seed_everything(seed: int, device: torch.device | None = None) -> None:
    """Seed python, numpy and torch; on CUDA also ask for deterministic kernels.

    CPU kernels are deterministic for a given thread count already (and turning the flag on
    imports torch's compiler stack, seconds per process), so it is set on CUDA only.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if device is not None and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def _worker_init(worker_id: int) -> None:
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"``; a CUDA device that is not there is a clear error."""
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available; use --device cpu")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {str(device)!r}")
    return resolved


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op on CPU (CPU results stay exact and deterministic)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


# --------------------------------------------------------------------------- data


class SealedSplitError(RuntimeError):
    """Raised when the test split is read before training has finished."""


class SealedSplit:
    """The test split, unreadable until :meth:`unseal` is called at the end of training."""

    def __init__(self, split: datasets.Dataset) -> None:
        object.__setattr__(self, "_split", split)
        object.__setattr__(self, "_sealed", True)

    def unseal(self) -> datasets.Dataset:
        object.__setattr__(self, "_sealed", False)
        return self._split

    @property
    def sealed(self) -> bool:
        return self._sealed

    def _refuse(self, *_args, **_kwargs):
        raise SealedSplitError(
            "the test split is sealed until training has finished: model selection uses the "
            "validation split only, and the test split is evaluated once, at the end"
        )

    __len__ = __iter__ = __getitem__ = _refuse

    def __getattr__(self, name: str):
        self._refuse()


class InMemoryExamples(torch.utils.data.Dataset):
    """Every row of a small split, read from Arrow once (see :data:`IN_MEMORY_BYTES`)."""

    def __init__(self, split: datasets.Dataset) -> None:
        source = TorchDataset(split)
        self.dims = source.dims
        self.rows = source.__getitems__(list(range(len(source)))) if len(source) else []

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        return [self.rows[i] for i in indices]

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]


_EXAMPLES_CACHE: dict[str, torch.utils.data.Dataset] = {}


def examples_of(split: datasets.Dataset) -> torch.utils.data.Dataset:
    """The split as a torch dataset of rows: in memory when small (cached by fingerprint), else streamed."""
    if split.data.nbytes > IN_MEMORY_BYTES:
        return TorchDataset(split)
    key = split._fingerprint
    if key not in _EXAMPLES_CACHE:
        if len(_EXAMPLES_CACHE) >= 8:
            _EXAMPLES_CACHE.pop(next(iter(_EXAMPLES_CACHE)))
        _EXAMPLES_CACHE[key] = InMemoryExamples(split)
    return _EXAMPLES_CACHE[key]


def eval_batches(split: datasets.Dataset, batch_size: int) -> list[Batch]:
    """The split in its stored order as a list of padded batches (collated once)."""
    examples = examples_of(split)
    dims = examples.dims
    return [
        collate(examples.__getitems__(list(range(start, min(start + batch_size, len(examples))))), dims)
        for start in range(0, len(examples), batch_size)
    ]


def train_loader(split: datasets.Dataset, config: TrainConfig, seed: int, epoch: int) -> torch.utils.data.DataLoader:
    """Shuffled training batches; the order depends only on (seed, epoch), so resuming is exact."""
    examples = examples_of(split)
    return torch.utils.data.DataLoader(
        examples,
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed * 10_007 + epoch),
        num_workers=config.num_workers,
        worker_init_fn=_worker_init,
        collate_fn=partial(collate, dims=examples.dims),
    )


def drop_modalities(batch: Batch, max_rate: float, generator: torch.Generator) -> Batch:
    """Training-time augmentation: mark whole modalities absent (see :class:`TrainConfig`)."""
    n = len(batch)
    rates = torch.rand(n, generator=generator) * max_rate
    draws = torch.rand(n, len(MODALITIES), generator=generator) < rates.unsqueeze(1)
    present = torch.stack([batch.modality(m).present for m in MODALITIES], dim=1)
    keep = present & ~draws
    keep = torch.where(keep.any(dim=1, keepdim=True), keep, present)
    for k, name in enumerate(MODALITIES):
        batch = batch.with_modality(name, absent_where(batch.modality(name), ~keep[:, k]))
    return batch


def absent_where(modality: ModalityBatch, absent: torch.Tensor) -> ModalityBatch:
    """``modality`` with the examples in ``absent`` (B,) marked absent (mask False, features 0)."""
    absent = absent.to(modality.mask.device)
    mask = modality.mask & ~absent.unsqueeze(1)
    features = modality.features * mask.unsqueeze(-1).to(modality.features.dtype)
    return ModalityBatch(features=features, mask=mask, present=modality.present & ~absent)


# --------------------------------------------------------------------------- predictions


def predict(
    model: MSAModel,
    batches: Sequence[Batch],
    device: torch.device,
    transform: Callable[[Batch], Batch] | None = None,
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Run ``model`` over ``batches`` (each optionally transformed first): ids and the
    ``predictions_frame`` columns (labels and predictions) of the tasks the model predicts."""
    model.eval()
    ids: list[str] = []
    parts: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for batch in batches:
            if transform is not None:
                batch = transform(batch)
            with autocast(device):
                output = model(batch.to(device))
            ids += batch.ids
            for key, value in _task_columns(model.tasks, output, batch).items():
                parts.setdefault(key, []).append(value)
    return ids, {key: np.concatenate(values) for key, values in parts.items()}


def predictions_of(
    model: MSAModel,
    batches: Sequence[Batch],
    device: torch.device,
    transform: Callable[[Batch], Batch] | None = None,
) -> pd.DataFrame:
    """The predictions table (:func:`msa_bench.metrics.predictions_frame`) of ``model`` on ``batches``."""
    ids, columns = predict(model, batches, device, transform)
    return predictions_frame(ids, **columns)


def _task_columns(tasks: Sequence[str], output: ModelOutput, batch: Batch) -> dict[str, np.ndarray]:
    def numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().float().cpu().numpy()

    columns: dict[str, np.ndarray] = {}
    if "sentiment" in tasks:
        columns["sentiment_true"] = numpy(batch.sentiment)
        columns["sentiment_pred"] = numpy(output.sentiment).reshape(-1)
    if "emotions" in tasks:
        columns["emotions_true"] = numpy(batch.emotions)
        columns["emotions_pred"] = numpy(output.emotions)
    if "emotion" in tasks:
        columns["emotion_true"] = batch.emotion.cpu().numpy()
        columns["emotion_pred"] = output.emotion_logits.detach().float().argmax(dim=-1).cpu().numpy()
    return columns


def metrics_of_columns(columns: dict[str, np.ndarray]) -> dict[str, float]:
    """The same metrics as :func:`msa_bench.metrics.compute_metrics`, straight from
    :func:`predict` columns (no table; used for the many validation and robustness evaluations)."""
    metrics: dict[str, float] = {}
    if "sentiment_true" in columns and not np.isnan(columns["sentiment_true"]).all():
        metrics.update(sentiment_metrics(columns["sentiment_true"], columns["sentiment_pred"]))
    if "emotions_true" in columns and not np.isnan(columns["emotions_true"]).any(axis=1).all():
        metrics.update(emotions_metrics(columns["emotions_true"], columns["emotions_pred"]))
    if "emotion_true" in columns and (columns["emotion_true"] != NO_CLASS).any():
        metrics.update(emotion_class_metrics(columns["emotion_true"], columns["emotion_pred"]))
    return metrics


# --------------------------------------------------------------------------- the trainer


@dataclass
class EpochSummary:
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


#: A callback gets the trainer and the summary of the epoch that just ended.
Callback = Callable[["Trainer", EpochSummary], None]


@dataclass
class TrainState:
    """What a checkpoint restores besides the model/optimizer/scheduler weights."""

    epoch: int = 0
    best_value: float = math.nan
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[dict] = field(default_factory=list)


class Trainer:
    """Trains one model with one seed; see the module docstring for the protocol."""

    def __init__(
        self,
        model: MSAModel,
        config: TrainConfig,
        train: datasets.Dataset,
        validation: datasets.Dataset,
        test: SealedSplit,
        *,
        seed: int,
        device: torch.device,
        run_dir: Path | None = None,
        callbacks: Sequence[Callback] = (),
        progress: bool = True,
    ) -> None:
        if not isinstance(test, SealedSplit):
            raise TypeError("the trainer takes the test split only as a SealedSplit")
        self.model = model.to(device)
        self.config = config
        self.train_split = train
        self.validation_batches = eval_batches(validation, EVAL_BATCH_SIZE)
        self.test_split = test
        self.seed = seed
        self.device = device
        self.run_dir = None if run_dir is None else Path(run_dir)
        self.callbacks = tuple(callbacks)
        self.progress = progress
        self.higher_is_better = higher_is_better(config.select_metric)
        self.optimizer = self._optimizer()
        self.scheduler = self._scheduler()
        self.state = TrainState()
        self.best_model: dict[str, torch.Tensor] = _copy_state(self.model)
        self.finished = False

    # ---- setup

    def _optimizer(self) -> torch.optim.Optimizer:
        groups = self.model.parameter_groups(self.config.lr, self.config.weight_decay)
        optimizer_class = torch.optim.AdamW if self.config.optimizer == "adamw" else torch.optim.Adam
        return optimizer_class(groups, lr=self.config.lr, weight_decay=self.config.weight_decay)

    def _scheduler(self) -> torch.optim.lr_scheduler.LambdaLR | None:
        if self.config.scheduler == "none":
            return None
        batches = math.ceil(len(self.train_split) / self.config.batch_size)
        total = max(1, math.ceil(batches / self.config.grad_accum_steps) * self.config.max_epochs)
        warmup = int(self.config.warmup_ratio * total)
        return torch.optim.lr_scheduler.LambdaLR(self.optimizer, partial(_warmup_cosine, warmup=warmup, total=total))

    # ---- the loop

    def fit(self) -> TrainState:
        """Train until early stopping or ``max_epochs``; leaves the model at its best epoch."""
        self._resume()
        while self.state.epoch < self.config.max_epochs and self.state.bad_epochs < self.config.patience:
            epoch = self.state.epoch + 1
            train_loss = self._train_epoch(epoch)
            self.model.on_epoch_end(epoch)
            val_metrics = metrics_of_columns(predict(self.model, self.validation_batches, self.device)[1])
            if self.config.select_metric not in val_metrics:
                raise ValueError(
                    f"select_metric {self.config.select_metric!r} is not computed for this model and dataset "
                    f"(available: {sorted(val_metrics)})"
                )
            val_value = val_metrics[self.config.select_metric]
            self._update_best(epoch, train_loss, val_value)
            self._save_checkpoint()
            summary = EpochSummary(epoch, train_loss, val_value, self.state.best_value, self.state.best_epoch)
            if self.progress:
                tqdm.write(summary.line(self.config.max_epochs, self.config.select_metric))
            for callback in self.callbacks:
                callback(self, summary)
        self.model.load_state_dict(self.best_model)
        self.finished = True
        return self.state

    def _train_epoch(self, epoch: int) -> float:
        self.model.train()
        augment = torch.Generator().manual_seed(self.seed * 10_007 + epoch + 1)
        loader = train_loader(self.train_split, self.config, self.seed, epoch)
        accum = self.config.grad_accum_steps
        total, count = 0.0, 0
        self.optimizer.zero_grad(set_to_none=True)
        bar = tqdm(loader, desc=f"epoch {epoch}", leave=False, disable=not self.progress)
        for step, batch in enumerate(bar, start=1):
            if self.config.missing_modality_rate > 0:
                batch = drop_modalities(batch, self.config.missing_modality_rate, augment)
            batch = batch.to(self.device)
            with autocast(self.device):
                output = self.model(batch)
                loss = self.model.compute_loss(output, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss {loss.item()} at epoch {epoch}, step {step}")
            (loss / accum).backward()
            if step % accum == 0 or step == len(loader):
                self._step()
            total += loss.item() * len(batch)
            count += len(batch)
            bar.set_postfix(loss=f"{total / count:.4f}")
        return total / max(count, 1)

    def _step(self) -> None:
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.scheduler is not None:
            self.scheduler.step()

    def _update_best(self, epoch: int, train_loss: float, val_value: float) -> None:
        state = self.state
        if _improves(val_value, state.best_value, self.higher_is_better):
            state.best_value, state.best_epoch, state.bad_epochs = float(val_value), epoch, 0
            self.best_model = _copy_state(self.model)
        else:
            state.bad_epochs += 1
        state.epoch = epoch
        state.history.append({"epoch": epoch, "train_loss": float(train_loss), "val": float(val_value)})

    # ---- the test split, once

    def test_predictions(self) -> pd.DataFrame:
        """Unseal the test split and predict it with the best checkpoint (only after :meth:`fit`)."""
        if not self.finished:
            raise SealedSplitError("the test split can be evaluated only after fit() has finished")
        test = self.test_split.unseal()
        return predictions_of(self.model, eval_batches(test, EVAL_BATCH_SIZE), self.device)

    # ---- checkpoints

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "checkpoint.pt"

    def _save_checkpoint(self) -> None:
        if self.checkpoint_path is None:
            return
        self.run_dir.mkdir(parents=True, exist_ok=True)
        payload = {
            "config": json.dumps(dataclasses.asdict(self.config), sort_keys=True),
            "seed": self.seed,
            "model": self.model.state_dict(),
            "best_model": self.best_model,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "state": dataclasses.asdict(self.state),
            "rng": _rng_state(),
        }
        atomic_write(self.checkpoint_path, lambda temporary: torch.save(payload, temporary))

    def _resume(self) -> None:
        path = self.checkpoint_path
        if path is None or not path.is_file():
            return
        payload = torch.load(path, map_location=self.device, weights_only=True)
        config = json.dumps(dataclasses.asdict(self.config), sort_keys=True)
        if payload["config"] != config or payload["seed"] != self.seed:
            raise ConfigError(
                f"{path}: checkpoint of a run with a different config or seed, so it cannot be resumed; "
                "remove the file or pass another --run-dir"
            )
        self.model.load_state_dict(payload["model"])
        self.best_model = payload["best_model"]
        self.optimizer.load_state_dict(payload["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(payload["scheduler"])
        self.state = TrainState(**payload["state"])
        _set_rng_state(payload["rng"])
        if self.progress:
            tqdm.write(f"resumed from {path} after epoch {self.state.epoch}")


def _warmup_cosine(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / (warmup + 1)
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def _improves(value: float, best: float, higher: bool) -> bool:
    if math.isnan(value):
        return False
    if math.isnan(best):
        return True
    return value > best if higher else value < best


def _copy_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _rng_state() -> dict:
    """Every RNG state, as tensors and plain values (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


# --------------------------------------------------------------------------- one run


@dataclass
class TrainedRun:
    """A finished run: the model at its best epoch, its test predictions and measurements."""

    model: MSAModel
    model_name: str
    dataset_name: str
    seed: int
    device: str
    config: dict
    test_predictions: pd.DataFrame
    metrics: dict[str, float]
    ci: dict
    history: list[dict]
    dataset_fingerprint: str
    n_parameters: int
    wall_time_s: float
    peak_memory_mb: float


def train_and_evaluate(
    model_class: type[MSAModel],
    model_config: ModelConfig,
    dataset: datasets.DatasetDict,
    train_config: TrainConfig,
    *,
    seed: int,
    dataset_name: str,
    device: str | torch.device = "cpu",
    run_dir: Path | None = None,
    callbacks: Sequence[Callback] = (),
    progress: bool = True,
    model_name: str | None = None,
) -> TrainedRun:
    """Seed, build, train (validation-only selection), then evaluate the test split once."""
    started = time.perf_counter()
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        torch.cuda.reset_peak_memory_stats(resolved)
    seed_everything(seed, resolved)
    model = model_class(model_config, DataSpec.from_dataset(dataset))
    if not model.tasks:
        raise ValueError(
            f"{model_class.__name__} predicts {model_class.supported_tasks} but {dataset_name} is labelled "
            f"for {DataSpec.from_dataset(dataset).tasks}: nothing to train"
        )
    sealed = SealedSplit(dataset["test"])
    trainer = Trainer(
        model,
        train_config,
        dataset["train"],
        dataset["validation"],
        sealed,
        seed=seed,
        device=resolved,
        run_dir=run_dir,
        callbacks=callbacks,
        progress=progress,
    )
    trainer.fit()
    predictions = trainer.test_predictions()
    return TrainedRun(
        model=trainer.model,
        model_name=model_name or getattr(model_class, "registered_name", model_class.__name__),
        dataset_name=dataset_name,
        seed=seed,
        device=str(resolved),
        config={"model": dataclasses.asdict(model_config), "train": dataclasses.asdict(train_config)},
        test_predictions=predictions,
        metrics=compute_metrics(predictions),
        ci=bootstrap_ci(predictions),
        history=trainer.state.history,
        dataset_fingerprint=dataset_fingerprint(dataset),
        n_parameters=count_parameters(trainer.model),
        wall_time_s=time.perf_counter() - started,
        peak_memory_mb=peak_memory_mb(resolved),
    )


def dataset_fingerprint(dataset: datasets.DatasetDict) -> str:
    """One hash of the train, validation and test splits' ``datasets`` fingerprints."""
    parts = [f"{name}={dataset[name]._fingerprint}" for name in ("train", "validation", "test")]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA memory allocated on ``device``; on CPU the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def make_record(run: TrainedRun, robustness: dict | None = None, paper_results: dict | None = None):
    """The :class:`~msa_bench.results.ResultRecord` of a finished run."""
    return ResultRecord(
        model=run.model_name,
        dataset=run.dataset_name,
        seed=run.seed,
        kind="full",
        metrics=run.metrics,
        ci=run.ci,
        robustness=robustness or {},
        dataset_fingerprint=run.dataset_fingerprint,
        config={**run.config, "dataset": run.dataset_name},
        git_commit=current_git_commit(),
        device=run.device,
        wall_time_s=run.wall_time_s,
        n_parameters=run.n_parameters,
        peak_memory_mb=run.peak_memory_mb,
        paper_results=paper_results or {},
    )
