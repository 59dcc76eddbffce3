"""``msa-bench run``: the registered models on a dataset (the embedded synthetic one by default).

Each (model, track) entry runs the full protocol (:func:`msa_bench.harness.protocol.run_protocol`)
with the model's short "synthetic" schedule and the quick robustness grid, in ``jobs`` harness
processes side by side; every model trains and predicts in its own workers across the
submission boundary. One broken model does not stop the others: it is an outcome line.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import torch

from msa_bench.harness.protocol import guarded_run, run_protocol
from msa_bench.harness.robustness import TRACKS
from msa_bench.models import builtin_model_names, get_model_class
from msa_bench.scale.data import DatasetSource
from msa_bench.util.errors import UserError

#: Seeds of ``msa-bench run`` (short by design; the full protocol uses five).
MAIN_SEEDS: tuple[int, ...] = (1111,)


def _start_process(threads: int) -> None:
    torch.set_num_threads(threads)


def _run_one(
    name: str, track: str, source: DatasetSource, seeds: Sequence[int], device: str, records_dir: str,
    run_root: str | None, levels: Sequence[float],
) -> tuple[str, list[Path], str]:
    """One model on one track, in a harness process of the pool: (entry name, record files, outcome line)."""
    entry = name if track == "default" else f"{name}+{track}"
    paths, outcome = guarded_run(
        lambda: run_protocol(
            name, source.name, seeds, records_dir=records_dir, device=device, dataset=source.load(), progress=False,
            robustness_levels=levels, track=track, run_root=run_root, echo=lambda line: None,
        )
    )
    return entry, paths, outcome


def _outcomes(runs, source, seeds, device, records_dir, run_root, jobs, cores, levels) -> Iterator[tuple[str, list[Path], str]]:
    """Run the (model, track) pairs (in this process when ``jobs`` is 1) and yield (entry, record files, outcome) as each ends."""
    if jobs == 1:
        for name, track in runs:
            yield _run_one(name, track, source, seeds, device, records_dir, run_root, levels)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_process, initargs=(max(1, cores // jobs),)) as pool:
        futures = [pool.submit(_run_one, name, track, source, seeds, device, records_dir, run_root, levels) for name, track in runs]
        for future in as_completed(futures):
            yield future.result()


def run_main(
    models: Iterable[str] | None = None,
    seeds: Sequence[int] = MAIN_SEEDS,
    dataset_name: str = "synthetic",
    device: str = "cpu",
    records_dir: str | Path = "msa_bench_runs/records",
    run_root: str | Path | None = None,
    jobs: int | None = None,
    echo: Callable[[str], None] = print,
    robustness_levels: Sequence[float] | None = None,
    tracks: Sequence[str] = ("default",),
    data_dir: str | Path | None = None,
    dataset_options: dict | None = None,
) -> tuple[list[Path], list[str]]:
    """Every model (default: all registered) on ``dataset_name`` with robustness (on the coarse
    :data:`~msa_bench.scoring.robustness.QUICK_LEVELS` grid unless ``robustness_levels`` says
    otherwise). Entries run in ``jobs`` processes (default: one per CPU core, at most 2 on CPU, 1
    on CUDA), each worker with ``cores // jobs`` torch threads. ``tracks``: the training tracks
    each model runs on. Returns the record files written and the entries that failed (the
    others are still recorded).
    """
    from msa_bench.scoring.robustness import QUICK_LEVELS

    names = list(models) if models else builtin_model_names()
    for name in names:
        get_model_class(name)  # unknown names fail before any work
    unknown = sorted(set(tracks) - set(TRACKS))
    if unknown:
        raise UserError(f"unknown track(s) {unknown}; the tracks are {sorted(TRACKS)}")
    runs = [(name, track) for track in tracks for name in names]
    cores = os.cpu_count() or 1
    jobs = jobs or (1 if torch.device(device).type == "cuda" else max(1, min(2, cores)))
    started = time.perf_counter()
    source = DatasetSource(dataset_name, None if data_dir is None else str(data_dir), None, tuple(sorted((dataset_options or {}).items())))
    source.load()  # build (or find) the cached dataset once, before the processes read it
    echo(f"training {len(names)} model(s) on {dataset_name}, track(s) {', '.join(tracks)}, with seeds {list(seeds)} in {jobs} process(es)")
    failed, written = [], []
    levels = QUICK_LEVELS if robustness_levels is None else tuple(robustness_levels)
    root = None if run_root is None else str(run_root)
    for name, paths, outcome in _outcomes(runs, source, tuple(seeds), device, str(records_dir), root, jobs, cores, levels):
        echo(f"  {name}: {outcome}")
        if outcome.startswith("FAILED"):
            failed.append(name)
        written += paths
    echo(f"done in {time.perf_counter() - started:.0f} s")
    return written, sorted(failed)
