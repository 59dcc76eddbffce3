"""One run of the protocol: seed, build, train with validation-only selection, test once.

A run's result is a :class:`TrainedRun`: the test predictions (labels joined), their metrics and
bootstrap intervals, the robustness section, and what the training did. The harness makes it
in one of two ways:

- across the submission boundary (:func:`msa_bench.harness.boundary.run_isolated`), as every
  board run does: the model trains and predicts in sandboxed worker processes;
- :func:`train_and_evaluate`, in this process, for a model class at hand (tests, notebooks,
  development): the same trainer and the same test evaluation, recorded as isolation ``"none"``.

Either way the trainer is given the training and validation splits only, selects the best epoch
by a validation metric and returns those weights; only then is the test split predicted, once,
in an order fixed by its inputs (:func:`~msa_bench.harness.shards.content_order`), so both ways
give the same predictions. Runs are resumable from ``<run_dir>/checkpoint.pt``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import pandas as pd
import torch

from msa_bench.data.schema import MODALITIES, MSAMetadata, feature_dims
from msa_bench.harness.robustness import evaluate_robustness
from msa_bench.harness.shards import content_order
from msa_bench.inputs.loader import eval_batches
from msa_bench.inputs.normalization import attach_scaler, resolve_mode
from msa_bench.models import TASKS, DataSpec, ModelConfig, MSAModel, count_parameters
from msa_bench.records.record import ResultRecord, current_git_commit, environment
from msa_bench.scoring.metrics import bootstrap_ci, compute_metrics
from msa_bench.util.runtime import peak_memory_mb, resolve_device, seed_everything
from msa_bench.worker.evaluation import predictions_of
from msa_bench.worker.train_config import TrainConfig
from msa_bench.worker.trainer import Callback, Trainer

#: The seeds of the protocol; results are reported as mean ± sample std over them.
DEFAULT_SEEDS: tuple[int, ...] = (1111, 1112, 1113, 1114, 1115)


@dataclass
class TrainedRun:
    """A finished run: its test predictions, their scores and what the training did.

    ``model`` is the trained model when it ran in this process (``isolation == "none"``); a
    run across the boundary leaves the model in its worker's run folder.
    """

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
    robustness: dict = dataclasses.field(default_factory=dict)
    isolation: str = "none"
    threads: int = dataclasses.field(default_factory=torch.get_num_threads)
    model: MSAModel | None = None


def run_config(model_config: dict, train_config: dict, schedule: str, dataset: datasets.DatasetDict) -> dict:
    """The ``config`` of a run's record: model and train configs, schedule and data provenance."""
    return {"model": model_config, "train": train_config, "schedule": schedule, "data": data_provenance(dataset)}


def predictions_on_test(model: MSAModel, test: datasets.Dataset, device: torch.device) -> pd.DataFrame:
    """The test split's predictions table, computed in content order (as a worker computes them)
    and returned in the split's stored order."""
    table = predictions_of(model, eval_batches(test.select(content_order(test))), device)
    return table.set_index("id").loc[test["id"]].reset_index()


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
    robustness_levels: Sequence[float] | None = None,
) -> TrainedRun:
    """Seed, build, train (validation-only selection), then evaluate the test split once, all in
    this process (isolation ``"none"``; board runs go through the boundary instead).

    ``schedule`` names the training schedule (the ``default_configs`` entry used, see
    :func:`msa_bench.worker.configs.schedule_name`); ``robustness_levels``: run the robustness
    sweep on that grid too.
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
        model, train_config, dataset["train"], dataset["validation"], seed=seed, device=resolved, run_dir=run_dir,
        callbacks=callbacks, progress=progress,
    )
    model = trainer.fit()
    predictions = predictions_on_test(model, dataset["test"], resolved)
    robustness = {}
    if robustness_levels is not None:
        robustness = evaluate_robustness(model, dataset["test"], dataset["train"], resolved, seed, robustness_levels)
    return TrainedRun(
        model_name=model_name or getattr(model_class, "registered_name", model_class.__name__),
        dataset_name=dataset_name,
        seed=seed,
        device=str(resolved),
        config=run_config(dataclasses.asdict(model_config), dataclasses.asdict(train_config), schedule, dataset),
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
        robustness=robustness,
        model=model,
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


def run_identity(dataset: datasets.DatasetDict, code_hash: str) -> dict:
    """What a checkpoint of this run must match besides configs and seed: the data, its feature
    dimensions and the model's code."""
    return {"dataset_fingerprint": dataset_fingerprint(dataset), "feature_dims": feature_dims(dataset["train"].features), "model_code": code_hash}


def make_record(run: TrainedRun, paper_results: dict | None = None, code: dict | None = None) -> ResultRecord:
    """The :class:`~msa_bench.records.record.ResultRecord` of a finished run, with its provenance
    (``code``: :func:`msa_bench.records.seal.code_identity` of the model's code)."""
    return ResultRecord(
        model=run.model_name,
        dataset=run.dataset_name,
        seed=run.seed,
        kind="full",
        metrics=run.metrics,
        ci=run.ci,
        robustness=run.robustness,
        dataset_fingerprint=run.dataset_fingerprint,
        config={**run.config, "dataset": run.dataset_name},
        git_commit=current_git_commit(),
        device=run.device,
        wall_time_s=run.wall_time_s,
        n_parameters=run.n_parameters,
        peak_memory_mb=run.peak_memory_mb,
        paper_results=paper_results or {},
        environment={**environment(run.device), "threads": run.threads},
        training={
            "epochs": len(run.history),
            "best_epoch": run.best_epoch,
            "schedule": run.config["schedule"],
            "normalization": run.normalization,
        },
        code=code or {},
        isolation=run.isolation,
    )
