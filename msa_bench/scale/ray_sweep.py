"""Distributed sweeps on Ray: ``msa-bench run --engine ray`` and ``msa-bench submit --model ... --engine ray``.

Every (model, dataset, seed) unit is one Ray task with its own CPU/GPU request. The task runs the
local engine's own protocol for that one seed (:func:`msa_bench.harness.protocol.run_protocol`: training
with validation-only selection, the single test evaluation, the robustness sweep on the trained
model) and writes its record with :func:`msa_bench.records.record.save_record`, which is atomic
(predictions first, then the record JSON by rename). So:

* a task whose worker dies (a crash, an out-of-memory kill, a preempted node) is retried by Ray up
  to ``max_retries`` times and leaves no half-written record behind: the retry runs the unit again
  from the start and writes the same record a clean run writes;
* the leaderboard is rendered from the records by :func:`msa_bench.board.page.render_leaderboard`,
  so the same records give the same page whichever engine wrote them.

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

    task = ray.remote(_in_task).options(
        num_cpus=resources.num_cpus, num_gpus=resources.num_gpus, max_retries=resources.max_retries, retry_exceptions=False
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


def protocol_job(
    model: str, source: DatasetSource, seed: int, *, records_dir: Path, device: str, robustness: bool,
    model_overrides: dict | None = None, train_overrides: dict | None = None,
    robustness_levels: Sequence[float] | None = None, track: str = "default",
) -> list[Path]:
    """One (model, dataset, seed, track) unit of :func:`msa_bench.harness.protocol.run_protocol`."""
    from msa_bench.harness.protocol import run_protocol

    return run_protocol(
        model, source.name, (seed,), model_overrides, train_overrides, records_dir, device, robustness,
        dataset=source.load(), progress=False, robustness_levels=robustness_levels, track=track,
    )


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
) -> SweepOutcome:
    """Every (model, seed, track) of ``models`` x ``seeds`` x ``tracks`` on ``source`` as its own
    Ray task (labels ``"<entry> seed <seed>"``, the entry named as :func:`run_protocol` names it).

    ``resources`` default: 1 CPU per task, plus 1 GPU on ``device="cuda"``.
    """
    from msa_bench.models import get_model_class

    connect(address)
    models = [absolute_spec(m) for m in models]
    for name in models:
        get_model_class(name)  # unknown names fail before any work
    source.load()  # build (or find) the cached dataset once, before the workers read it
    resources = resources or Resources(num_gpus=1 if device.startswith("cuda") else 0)
    settings = dict(records_dir=Path(records_dir).resolve(), device=device, robustness=robustness,
                    robustness_levels=robustness_levels, model_overrides=model_overrides, train_overrides=train_overrides)
    jobs = {
        f"{m if t == 'default' else f'{m}+{t}'} seed {s}": partial(protocol_job, m, source, s, track=t, **settings)
        for t in tracks for m in models for s in seeds
    }
    echo(f"{len(jobs)} run(s) of {len(models)} model(s) on {source.name}, track(s) {', '.join(tracks)}, as Ray tasks")
    return run_units(jobs, resources, echo)


def run_main_on_ray(
    models: Iterable[str] | None = None,
    seeds: Sequence[int] | None = None,
    dataset_name: str = "synthetic",
    device: str = "cpu",
    records_dir: str | Path = "leaderboard/records",
    out_dir: str | Path = "leaderboard",
    *,
    address: str | None = None,
    resources: Resources | None = None,
    echo=print,
    robustness_levels: Sequence[float] | None = None,
    tracks: Sequence[str] = ("default",),
    data_dir: str | Path | None = None,
    dataset_options: dict | None = None,
) -> tuple[dict[str, Path], list[str]]:
    """``msa-bench run --engine ray``: :func:`msa_bench.harness.protocol.run_main` with one Ray task per
    (model, seed, track). Returns the rendered pages and the entries with a failed unit."""
    from msa_bench.board.page import render_leaderboard
    from msa_bench.models import model_names
    from msa_bench.harness.protocol import MAIN_SEEDS
    from msa_bench.scoring.robustness import QUICK_LEVELS

    started = time.perf_counter()
    source = DatasetSource(dataset_name, None if data_dir is None else str(data_dir), None, tuple(sorted((dataset_options or {}).items())))
    outcome = sweep_on_ray(
        list(models) if models else model_names(), source, seeds or MAIN_SEEDS, records_dir,
        device=device, resources=resources, address=address, echo=echo,
        robustness_levels=QUICK_LEVELS if robustness_levels is None else robustness_levels, tracks=tracks,
    )
    pages = render_leaderboard(records_dir, out_dir, datasets_by_name={dataset_name: source.load()})
    echo(f"done in {time.perf_counter() - started:.0f} s")
    echo(f"leaderboard: {pages['markdown']}")
    return pages, sorted({label.rsplit(" seed ", 1)[0] for label in outcome.failed})


def submit_job(
    model_spec: str, config_path: Path, dataset: str, seed: int, *, records_dir: Path, device: str, data_dir: str | None,
    dataset_options: dict | None = None,
) -> list[Path]:
    """One seed of :func:`msa_bench.harness.protocol.submit_model` (its checks run in every task)."""
    from msa_bench.harness.protocol import submit_model

    return submit_model(
        model_spec, config_path, dataset, records_dir, seeds=(seed,), device=device, data_dir=data_dir,
        dataset_options=dataset_options, progress=False,
    )


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
    address: str | None = None,
    resources: Resources | None = None,
    echo=print,
) -> list[Path]:
    """``msa-bench submit --model FILE.py:Class --config CFG.yaml --engine ray``: one task per seed.

    A rejected submission raises :class:`~msa_bench.harness.protocol.SubmissionRejected`; the submission
    checks are deterministic, so every seed is rejected alike and nothing is written.
    """
    from msa_bench.harness.protocol import SubmissionRejected
    from msa_bench.harness.training import DEFAULT_SEEDS

    connect(address)
    resources = resources or Resources(num_gpus=1 if device.startswith("cuda") else 0)
    settings = dict(records_dir=Path(records_dir).resolve(), device=device, data_dir=None if data_dir is None else str(data_dir),
                    dataset_options=dataset_options)
    config_path = Path(config_path).resolve()
    jobs = {f"{model_spec} seed {s}": partial(submit_job, absolute_spec(model_spec), config_path, dataset, s, **settings) for s in seeds or DEFAULT_SEEDS}
    outcome = run_units(jobs, resources, echo)
    if outcome.failed:
        raise SubmissionRejected("; ".join(f"{label}: {error}" for label, error in sorted(outcome.failed.items())))
    return sorted(path for paths in outcome.records.values() for path in paths)
