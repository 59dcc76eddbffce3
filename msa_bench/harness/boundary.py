"""The submission boundary: model code runs in a worker process given only what its phase may see.

The harness (this process) holds the dataset and every label. For one run it

1. writes the training and validation splits (inputs and labels, opaque ids, nothing naming a
   source: :mod:`msa_bench.harness.shards`) and starts a *training worker*
   (:mod:`msa_bench.harness.sandbox`), which trains with validation-only selection and saves the
   selected weights into the run's scratch folder;
2. only after that worker has exited, replaces the shards by the test *inputs* (no labels,
   reordered by content, opaque ids) and starts an *evaluation worker*, which loads the weights
   and returns predictions, then the predictions under every robustness condition;
3. maps the opaque ids back, joins the labels and scores (:func:`run_isolated`).

Nothing crosses the boundary but files the harness wrote for the worker and the worker's JSON,
parquet and tensor outputs, read without unpickling. A worker that fails is one paragraph: its
own message, the phase and the run folder.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets
import pandas as pd

from msa_bench.harness.robustness import assemble, condition_scores, not_applicable_modalities
from msa_bench.harness.sandbox import INPUT_MOUNT, SCRATCH_MOUNT, ReadAccess, WorkerFailed, isolation_level, run_worker, worker_command
from msa_bench.harness.shards import ID_PREFIX, content_order, write_shard
from msa_bench.harness.submissions import labels_of_test_split, prediction_columns, scored_table
from msa_bench.models import DataSpec
from msa_bench.util.errors import SubmissionRejected
from msa_bench.worker import job as layout
from msa_bench.worker.job import WorkerJob


@dataclass(frozen=True)
class WorkerRun:
    """What the harness learns from one isolated run: scored test predictions (dataset ids,
    labels joined), the robustness section (empty when not asked), the training worker's report
    (history, selected epoch, parameters, normalisation, memory) and the isolation level."""

    predictions: pd.DataFrame | None
    robustness: dict
    trained: dict
    isolation: str


def _launch(job: WorkerJob, input_dir: Path, scratch: Path, isolation: str, access: ReadAccess) -> None:
    job.write(input_dir)
    launcher = ("torch.distributed.run", "--standalone", f"--nproc-per-node={job.nproc}", "--module") if job.nproc > 1 else ()
    command, env = worker_command(
        input_dir, scratch, isolation=isolation, threads=job.threads, cuda=job.device.startswith("cuda"),
        access=access, launcher=launcher,
    )
    code = run_worker(command, env, cwd=scratch)
    if code == 0:
        return
    error = layout.outputs_folder(scratch) / layout.ERROR_FILE
    try:
        report = json.loads(error.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        report = {"message": f"the worker exited with status {code} without a report (its output is above)", "user_error": False}
    where = "" if job.phase == "describe" else f" (run folder {scratch})"
    detail = str(report.get("message", "")).replace(SCRATCH_MOUNT, str(scratch)).replace(INPUT_MOUNT, str(input_dir))
    message = f"{job.model}, {job.phase} phase{where}: {detail}"
    raise (SubmissionRejected if report.get("user_error") else WorkerFailed)(message)


def describe_submission(
    model: str, overrides: Mapping[str, dict], dataset: datasets.DatasetDict, dataset_name: str, *, access: ReadAccess = ReadAccess(),
) -> dict:
    """Import a submission in a worker: its name, resolved configs, schedule and code files,
    after one training batch forward and backward. Nothing of it runs in this process."""
    isolation = isolation_level()
    with tempfile.TemporaryDirectory(prefix="msa_bench_input_") as input_dir, tempfile.TemporaryDirectory(prefix="msa_bench_describe_") as scratch:
        folder, scratch = Path(input_dir), Path(scratch)
        write_shard(dataset["train"].select(range(min(32, len(dataset["train"])))), folder, "train", labels=True)
        job = WorkerJob("describe", model, dataset_name, model_config=dict(overrides.get("model") or {}),
                        train_config=dict(overrides.get("train") or {}), progress=False)
        _launch(job, folder, scratch, isolation, access)
        return json.loads((layout.outputs_folder(scratch) / layout.DESCRIPTION_FILE).read_text(encoding="utf-8"))


def run_isolated(
    model: str,
    model_config: dict,
    train_config: dict,
    dataset: datasets.DatasetDict,
    *,
    dataset_name: str,
    seed: int,
    run_dir: Path,
    normalize: str,
    identity: dict,
    device: str = "cpu",
    threads: int = 1,
    robustness_levels: Sequence[float] | None = None,
    progress: bool = True,
    access: ReadAccess = ReadAccess(),
    nproc: int = 1,
    isolation: str | None = None,
    evaluate: bool = True,
) -> WorkerRun:
    """Train ``model`` (a spec the worker imports) and score it across the boundary (see the module
    docstring). ``evaluate=False`` stops after training (no test split to score)."""
    isolation = isolation or isolation_level()
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    common = dict(model=model, dataset_name=dataset_name, seed=seed, device=device, threads=threads,
                  model_config=model_config, train_config=train_config, normalize=normalize, progress=progress)
    with tempfile.TemporaryDirectory(prefix="msa_bench_input_") as input_dir:
        folder = Path(input_dir)
        for split in ("train", "validation"):
            write_shard(dataset[split], folder, split, labels=True)
        _launch(WorkerJob("train", identity=identity, nproc=nproc, **common), folder, run_dir, isolation, access)
        if not evaluate:
            trained = json.loads((layout.outputs_folder(run_dir) / layout.TRAINED_FILE).read_text(encoding="utf-8"))
            return WorkerRun(None, {}, trained, isolation)
        for split in ("train", "validation"):
            shutil.rmtree(folder / split)
        test_ids = write_shard(dataset["test"], folder, "test", labels=False, order=content_order(dataset["test"]))
        sweep = None
        if robustness_levels is not None:
            sweep = {"levels": list(robustness_levels), "not_applicable": not_applicable_modalities(dataset)}
        _launch(WorkerJob("evaluate", robustness=sweep, **common), folder, run_dir, isolation, access)
    outputs = layout.outputs_folder(run_dir)
    tasks = DataSpec.from_dataset(dataset).tasks
    labels = labels_of_test_split(dataset["test"])
    to_dataset = _id_map(test_ids)
    predictions = _score(pd.read_parquet(outputs / layout.PREDICTIONS_FILE), to_dataset, labels, tasks, f"{model}'s test predictions")
    robustness = {} if sweep is None else _robustness(outputs / layout.SWEEP_FOLDER, to_dataset, labels, tasks, model)
    trained = json.loads((outputs / layout.TRAINED_FILE).read_text(encoding="utf-8"))
    return WorkerRun(predictions, robustness, trained, isolation)


def _id_map(test_ids: list[str]) -> Callable[[pd.Series], pd.Series]:
    opaque = {f"{ID_PREFIX['test']}{k:06d}": real for k, real in enumerate(test_ids)}

    def to_dataset(ids: pd.Series) -> pd.Series:
        mapped = ids.map(opaque)
        if mapped.isna().any() or ids.duplicated().any() or len(ids) != len(opaque):
            raise WorkerFailed(f"the worker's predictions do not cover the {len(opaque)} test rows exactly once")
        return mapped

    return to_dataset


def _score(table: pd.DataFrame, to_dataset, labels: pd.DataFrame, tasks: Sequence[str], source: str) -> pd.DataFrame:
    """The worker's table with dataset ids and the labels joined, checked as a submission is."""
    columns = ["id", *prediction_columns(tasks)]
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise WorkerFailed(f"{source}: the worker returned no column(s) {missing}")
    table = table[columns].assign(id=lambda t: to_dataset(t["id"]).astype(str))
    return scored_table(table, labels, source)


def _robustness(folder: Path, to_dataset, labels: pd.DataFrame, tasks: Sequence[str], model: str) -> dict:
    saved = json.loads((folder / layout.SWEEP_LAYOUT).read_text(encoding="utf-8"))
    tables = {
        key: _score(pd.read_parquet(folder / name), to_dataset, labels, tasks, f"{model}'s predictions under {key}")
        for key, name in saved["files"].items()
    }
    return assemble(saved["layout"], condition_scores(tables), tasks)
