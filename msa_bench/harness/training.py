"""One run of the protocol: seed, build, train with validation-only selection, test once.

:func:`train_and_evaluate` builds a model (after seeding), hands the training and validation
splits to a :class:`~msa_bench.worker.trainer.Trainer`, which selects the best epoch by a validation
metric (early stopping) and returns those weights, and only then predicts the test split, once.
Every test metric comes from that one evaluation. The trainer never holds the test split.

Runs are resumable: after each epoch the trainer checkpoints to ``<run_dir>/checkpoint.pt``
(:mod:`msa_bench.worker.checkpoints`); a run started again with the same ``run_dir`` and configs
continues from there and ends with the same result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import resource
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import pandas as pd
import torch

from msa_bench.worker.evaluation import predictions_of
from msa_bench.inputs.loader import eval_batches
from msa_bench.scoring.metrics import bootstrap_ci, compute_metrics
from msa_bench.models import TASKS, DataSpec, ModelConfig, MSAModel, count_parameters
from msa_bench.inputs.normalization import attach_scaler, resolve_mode
from msa_bench.records.record import ResultRecord, current_git_commit, environment
from msa_bench.util.runtime import resolve_device, seed_everything
from msa_bench.data.schema import MODALITIES, MSAMetadata
from msa_bench.harness.train_config import TrainConfig
from msa_bench.worker.trainer import Callback, Trainer

#: The seeds of the protocol; results are reported as mean ± sample std over them.
DEFAULT_SEEDS: tuple[int, ...] = (1111, 1112, 1113, 1114, 1115)


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
    best_epoch: int
    dataset_fingerprint: str
    n_parameters: int
    wall_time_s: float
    peak_memory_mb: float
    #: The feature scaler's statistics (:mod:`msa_bench.inputs.normalization`), or ``{"method": "none"}``.
    normalization: dict = dataclasses.field(default_factory=lambda: {"method": "none"})


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
    schedule: str = "custom",
) -> TrainedRun:
    """Seed, build, train (validation-only selection), then evaluate the test split once.

    The trainer is given the training and validation splits only; the test split is read here,
    once, after it has returned the selected weights. ``schedule`` names the training schedule
    (the ``default_configs`` entry used, see :func:`msa_bench.harness.protocol.schedule_name`).
    """
    started = time.perf_counter()
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        torch.cuda.reset_peak_memory_stats(resolved)
    seed_everything(seed, resolved)
    spec = DataSpec.from_dataset(dataset)
    if not spec.tasks:
        raise ValueError(f"{dataset_name}'s training split has no label of any task {TASKS}: nothing to train")
    model = model_class(model_config, spec)
    normalization = attach_scaler(model, dataset["train"], resolve_mode(train_config.normalize, dataset_name))
    trainer = Trainer(
        model,
        train_config,
        dataset["train"],
        dataset["validation"],
        seed=seed,
        device=resolved,
        run_dir=run_dir,
        callbacks=callbacks,
        progress=progress,
    )
    model = trainer.fit()
    predictions = predictions_of(model, eval_batches(dataset["test"]), resolved)
    return TrainedRun(
        model=model,
        model_name=model_name or getattr(model_class, "registered_name", model_class.__name__),
        dataset_name=dataset_name,
        seed=seed,
        device=str(resolved),
        config={
            "model": dataclasses.asdict(model_config),
            "train": dataclasses.asdict(train_config),
            "schedule": schedule,
            "data": data_provenance(dataset),
        },
        test_predictions=predictions,
        metrics=compute_metrics(predictions),
        ci=bootstrap_ci(predictions),
        history=trainer.state.history,
        best_epoch=trainer.state.best_epoch,
        dataset_fingerprint=dataset_fingerprint(dataset),
        n_parameters=count_parameters(model),
        wall_time_s=time.perf_counter() - started,
        peak_memory_mb=peak_memory_mb(resolved),
        normalization=normalization,
    )


def data_provenance(dataset: datasets.DatasetDict) -> dict:
    """What a record names about its data: the feature set per modality, the split scheme and the
    fingerprint of the source files read, where the dataset's metadata says (extracted folders)."""
    try:
        metadata = MSAMetadata.from_info(dataset["train"].info)
    except ValueError:  # a dataset assembled by hand, without msa_bench metadata
        return {}
    return {
        "features": {m: getattr(metadata, m) for m in MODALITIES},
        "split_scheme": metadata.report.get("split_scheme"),
        "source_files": metadata.report.get("source_files"),
    }


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
    """The :class:`~msa_bench.records.record.ResultRecord` of a finished run, with its provenance."""
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
        environment=environment(run.device),
        training={
            "epochs": len(run.history),
            "best_epoch": run.best_epoch,
            "schedule": run.config["schedule"],
            "normalization": run.normalization,
        },
    )
