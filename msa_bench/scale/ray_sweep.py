"""Distributed sweeps on Ray: ``msa-bench run --engine ray`` and ``msa-bench submit --model ... --engine ray``.

Every (entry, seed) unit is one Ray task with its own CPU/GPU request. The driver prepares each
entry first (names it, and describes a submission in a worker, refusing it before any task
starts); a task runs the local engine's protocol for one seed
(:func:`msa_bench.harness.protocol.stage_seed`: training in a sandboxed worker with
validation-only selection, the single test evaluation and the robustness sweep in another,
scoring in the task) and stages its record. When every seed of an entry has succeeded, the
driver commits the entry's records together (:mod:`msa_bench.records.store`). So:

* a task whose worker dies (a crash, an out-of-memory kill, a preempted node) is retried by Ray up
  to ``max_retries`` times and leaves no half-written record behind: the retry stages the same
  record a clean run stages;
* an entry with a failed seed is not committed: its finished seeds stay staged;
* the leaderboard is rendered from the records, so the same records give the same page whichever
  engine wrote them.

On a multi-node cluster, the records folder (and a submission's model file and config) must be on
storage every node sees; each node builds or reads the dataset from its own cache.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from msa_bench.scale.cluster import connect
from msa_bench.scale.data import DatasetSource

#: Ray's retries of a task whose worker process died.
DEFAULT_MAX_RETRIES = 3


@dataclass(frozen=True)
class Resources:
    """What one task asks the Ray scheduler for."""

    num_cpus: float = 1
    num_gpus: float = 0
    max_retries: int = DEFAULT_MAX_RETRIES


@dataclass
class SweepOutcome:
    """Record files per unit label; the error of each unit that failed (after retries)."""

    records: dict[str, list[Path]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def absolute_spec(spec: str) -> str:
    """``file.py:Class`` with the file made absolute (workers may run in another folder)."""
    path, sep, attribute = spec.rpartition(":")
    return f"{Path(path).resolve()}:{attribute}" if sep and path.endswith(".py") else spec


def _in_task(job: Callable[[], list[Path]], num_cpus: float) -> list[str]:
    import torch

    torch.set_num_threads(max(1, int(num_cpus)))  # the CPUs this task asked for, not the node's
    return [str(path) for path in job()]


def run_units(jobs: dict[str, Callable[[], list[Path]]], resources: Resources = Resources(), echo=print) -> SweepOutcome:
    """Run each zero-argument ``job`` (one unit, returning its record paths) as a Ray task."""
    import ray

    from msa_bench.harness.sandbox import WorkerFailed

    # a worker process that died (killed, out of memory) is retried like a lost Ray worker; a
    # submission refused or a failing config is not
    task = ray.remote(_in_task).options(
        num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, max_retries=resources.max_retries, retry_exceptions=[WorkerFailed]
    )
    pending = {task.remote(job, resources.num_cpus): label for label, job in jobs.items()}
    outcome = SweepOutcome()
    while pending:
        [ready], _ = ray.wait(list(pending), num_returns=1)
        label = pending.pop(ready)
        try:
            outcome.records[label] = [Path(p) for p in ray.get(ready)]
            echo(f"  {label}: {len(outcome.records[label])} record(s)")
        except ray.exceptions.RayError as err:  # one broken unit must not stop the others
            cause = getattr(err, "cause", None) or err
            outcome.failed[label] = f"{type(cause).__name__}: {cause}"
            echo(f"  {label}: FAILED: {outcome.failed[label]}")
    return outcome


def seed_job(
    spec, source: DatasetSource, seed: int, *, records_dir: Path, device: str, levels: Sequence[float] | None, run_root: Path | None,
) -> list[Path]:
    """One seed of a prepared entry (:func:`msa_bench.harness.protocol.stage_seed`): trained across
    the boundary in the task's workers and staged; the driver commits the entry."""
    from msa_bench.harness.protocol import stage_seed

    return [stage_seed(spec, source.load(), source.name, seed, records_dir, robustness_levels=levels, device=device, progress=False,
                       run_root=run_root)]


def sweep_on_ray(
    models: Iterable[str],
    source: DatasetSource,
    seeds: Sequence[int],
    records_dir: str | Path,
    *,
    device: str = "cpu",
    robustness: bool = True,
    robustness_levels: Sequence[float] | None = None,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
    resources: Resources | None = None,
    address: str | None = None,
    echo=print,
    tracks: Sequence[str] = ("default",),
    replace: bool = True,
    run_root: str | Path | None = None,
) -> SweepOutcome:
    """Every (model, seed, track) of ``models`` x ``seeds`` x ``tracks`` on ``source`` as its own
    Ray task (labels ``"<entry> seed <seed>"``). Entries are prepared here (a submission described
    in a worker) and committed here when all their seeds succeeded; a failed seed leaves its
    entry staged, uncommitted.

    ``resources`` default: 1 CPU per task, plus 1 GPU on ``device="cuda"``. ``run_root``: run
    folders on storage every node sees, so a retried task resumes from its checkpoints.
    """
    from msa_bench.harness.protocol import prepare_entry
    from msa_bench.records.store import EntryStage
    from msa_bench.scoring.robustness import LEVELS

    connect(address)
    records_dir = Path(records_dir).resolve()
    data = source.load()  # build (or find) the cached dataset once, before the workers read it
    specs = [
        prepare_entry(absolute_spec(m), source.name, data, records_dir, model_overrides=model_overrides,
                      train_overrides=train_overrides, track=t, data_dir=source.data_dir, run_root=run_root)
        for t in tracks for m in models
    ]
    resources = resources or Resources(num_gpus=1 if device.startswith("cuda") else 0)
    levels = None if not robustness else (LEVELS if robustness_levels is None else tuple(robustness_levels))
    jobs = {
        f"{spec.name} seed {s}": partial(seed_job, spec, source, s, records_dir=records_dir, device=device, levels=levels,
                                         run_root=None if run_root is None else Path(run_root).resolve())
        for spec in specs for s in seeds
    }
    echo(f"{len(jobs)} run(s) of {len(specs)} entries on {source.name} as Ray tasks")
    outcome = run_units(jobs, resources, echo)
    committed = SweepOutcome(failed=outcome.failed)
    for spec in specs:
        if any(label.rsplit(" seed ", 1)[0] == spec.name for label in outcome.failed):
            continue
        committed.records[spec.name] = EntryStage(records_dir, source.name, spec.name, spec.stage_token).commit(replace=replace, echo=echo)
    return committed


def run_main_on_ray(
    models: Iterable[str] | None = None,
    seeds: Sequence[int] | None = None,
    dataset_name: str = "synthetic",
    device: str = "cpu",
    records_dir: str | Path = "msa_bench_runs/records",
    *,
    address: str | None = None,
    resources: Resources | None = None,
    echo=print,
    robustness_levels: Sequence[float] | None = None,
    tracks: Sequence[str] = ("default",),
    data_dir: str | Path | None = None,
    dataset_options: dict | None = None,
) -> tuple[list[Path], list[str]]:
    """``msa-bench run --engine ray``: :func:`msa_bench.harness.main_job.run_main` with one Ray task
    per (model, seed, track). Returns the record files and the entries with a failed unit."""
    from msa_bench.harness.main_job import MAIN_SEEDS
    from msa_bench.models import model_names
    from msa_bench.scoring.robustness import QUICK_LEVELS

    started = time.perf_counter()
    source = DatasetSource(dataset_name, None if data_dir is None else str(data_dir), None, tuple(sorted((dataset_options or {}).items())))
    outcome = sweep_on_ray(
        list(models) if models else model_names(), source, seeds or MAIN_SEEDS, records_dir,
        device=device, resources=resources, address=address, echo=echo,
        robustness_levels=QUICK_LEVELS if robustness_levels is None else robustness_levels, tracks=tracks,
    )
    echo(f"done in {time.perf_counter() - started:.0f} s")
    written = sorted(path for paths in outcome.records.values() for path in paths)
    return written, sorted({label.rsplit(" seed ", 1)[0] for label in outcome.failed})


def submit_model_on_ray(
    model_spec: str,
    config_path: str | Path,
    dataset: str,
    records_dir: str | Path,
    *,
    seeds: Sequence[int] | None = None,
    device: str = "cpu",
    data_dir: str | Path | None = None,
    dataset_options: dict | None = None,
    robustness_levels: Sequence[float] | None = None,
    replace: bool = False,
    address: str | None = None,
    resources: Resources | None = None,
    echo=print,
    **_: object,
) -> list[Path]:
    """``msa-bench submit --model FILE.py:Class --config CFG.yaml --engine ray``: one task per seed.

    The submission is described (and refused, writing nothing) here, in a worker, before any task
    starts; its seeds are committed together when all succeeded.
    """
    from msa_bench.harness.protocol import RunFailed, read_submission_config
    from msa_bench.harness.training import DEFAULT_SEEDS

    config = read_submission_config(config_path)
    source = DatasetSource(dataset, None if data_dir is None else str(data_dir), None, tuple(sorted((dataset_options or {}).items())))
    outcome = sweep_on_ray(
        [model_spec], source, seeds or DEFAULT_SEEDS, records_dir, device=device, robustness_levels=robustness_levels,
        model_overrides=config["model"], train_overrides=config["train"], resources=resources, address=address, echo=echo,
        replace=replace,
    )
    if outcome.failed:
        raise RunFailed("; ".join(f"{label}: {error}" for label, error in sorted(outcome.failed.items())))
    return sorted(path for paths in outcome.records.values() for path in paths)
