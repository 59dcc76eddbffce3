"""The full protocol: seeds x (train, test once, robustness) -> one entry's records.

- :func:`run_protocol` runs a built-in model, or a submitted ``file.py:Class``, on a dataset with
  the model's per-dataset defaults (``default_configs[dataset]``) plus overrides, every seed
  across the submission boundary (:mod:`msa_bench.harness.boundary`).
- :func:`submit_model` is the same for a user's submission with a YAML config; an invalid
  submission is refused with a clear reason before anything is trained or written.

Each finished seed is staged; the entry's records are committed together when every seed has
succeeded (:mod:`msa_bench.records.store`). A failure commits nothing and says where the
finished seeds are staged.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import datasets
import torch
import yaml

from msa_bench.features.checkpoints import portable_config
from msa_bench.harness.boundary import run_isolated
from msa_bench.harness.entry_spec import EntrySpec, builtin_spec, submission_spec
from msa_bench.harness.robustness import TRACKS
from msa_bench.harness.sandbox import ReadAccess
from msa_bench.harness.training import DEFAULT_SEEDS, TrainedRun, dataset_fingerprint, make_record, run_config, run_identity
from msa_bench.inputs.normalization import resolve_mode
from msa_bench.worker.train_config import TrainConfig
from msa_bench.records.record import config_hash
from msa_bench.records.store import EntryStage, staging_root, superseded_root
from msa_bench.scoring.metrics import bootstrap_ci, compute_metrics
from msa_bench.util.errors import SubmissionRejected, UserError

SUBMISSION_KEYS = ("model", "train")


class RunFailed(UserError):
    """A seed of an entry failed; nothing was committed (the message says where finished seeds are)."""


def load_for_run(dataset_name: str, data_dir: str | Path | None, options: dict | None = None) -> datasets.DatasetDict:
    from msa_bench.loading.load import load_dataset

    return load_dataset(dataset_name, data_dir=data_dir, **(options or {}))


def check_writable(*folders: Path) -> None:
    """Refuse, before any training, a records or run folder that cannot be written (the error
    names the folder); the folders are created when missing."""
    for folder in folders:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".msa_bench_write_probe_{os.getpid()}"
        try:
            probe.write_bytes(b"")
        finally:
            probe.unlink(missing_ok=True)


def _forbidden(records_dir: Path, data_dir: str | Path | None, run_root: str | Path | None, create: bool = False) -> list[Path]:
    """What no worker may read: the records (staged, committed and set aside), the run folders of
    other runs, the data and the caches. With ``create``, the workspace's own folders are made, so
    that a readable folder holding them hides them (:class:`~msa_bench.harness.sandbox.ReadAccess`
    hides existing folders only); before that, the describe worker hides those that exist."""
    from msa_bench.loading.load import default_cache_dir

    workspace = [records_dir, staging_root(records_dir), superseded_root(records_dir), *([Path(run_root)] if run_root else [])]
    for folder in workspace if create else ():
        folder.mkdir(parents=True, exist_ok=True)
    return [*workspace, Path(datasets.config.HF_DATASETS_CACHE), *(Path(p) for p in (data_dir, default_cache_dir()) if p)]


def prepare_entry(
    model: str,
    dataset_name: str,
    data: datasets.DatasetDict,
    records_dir: str | Path,
    *,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
    track: str = "default",
    variant: str | None = None,
    data_dir: str | Path | None = None,
    dataset_options: dict | None = None,
    run_root: str | Path | None = None,
) -> EntrySpec:
    """Check the data and describe an entry before any training (a submission in a worker), name
    it, and start its staging folder (a submission's code archived in it)."""
    from msa_bench.loading.trainable import check_trainable

    if track not in TRACKS:
        raise UserError(f"unknown track {track!r}; the tracks are {sorted(TRACKS)}")
    check_trainable(data, dataset_name, dataset_options)
    train_overrides = {**TRACKS[track], **(train_overrides or {})}
    forbidden = _forbidden(Path(records_dir), data_dir, run_root)
    if ":" not in model:  # a built-in model's name (an unknown one is refused with the close names)
        spec = builtin_spec(model, dataset_name, model_overrides, train_overrides, track, variant, forbidden)
    else:
        spec = submission_spec(model, data, dataset_name, model_overrides, train_overrides, track, variant, forbidden)
    stage = EntryStage(records_dir, dataset_name, spec.name, spec.stage_token)
    check_writable(Path(records_dir), stage.folder.parent)
    # the workspace's folders exist from now on: the workers that train and evaluate hide them all
    spec = dataclasses.replace(spec, access=ReadAccess.confined(spec.access.readable, _forbidden(Path(records_dir), data_dir, run_root, create=True)))
    stage.clear()
    stage.add_code(spec.code_files)
    return spec


def record_config(spec: EntrySpec, data: datasets.DatasetDict, dataset_name: str, nproc: int = 1) -> dict:
    """The ``config`` every record of this entry carries (what its config hash covers)."""
    model_config = portable_config(spec.model_config)  # checkpoints by package and content, never a path
    config = {**run_config(model_config, spec.train_config, spec.schedule, data), "track": spec.track, "dataset": dataset_name}
    return {**config, "distributed": {"nproc": nproc}} if nproc > 1 else config


def stage_seed(
    spec: EntrySpec,
    data: datasets.DatasetDict,
    dataset_name: str,
    seed: int,
    records_dir: str | Path,
    *,
    robustness_levels: Sequence[float] | None,
    run_root: str | Path | None = None,
    device: str = "cpu",
    threads: int | None = None,
    progress: bool = True,
    nproc: int = 1,
) -> Path:
    """Train and score one seed of a prepared entry across the boundary; stage its record."""
    run = run_seed(spec, data, dataset_name, seed, run_identity(data, spec.code["hash"]), robustness_levels, run_root,
                    device, threads, progress, nproc)
    return EntryStage(records_dir, dataset_name, spec.name, spec.stage_token).add(make_record(run, spec.paper_results, spec.code), run.test_predictions)


def run_protocol(
    model: str,
    dataset_name: str,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
    records_dir: str | Path = "msa_bench_runs/records",
    device: str = "cpu",
    robustness: bool = True,
    *,
    robustness_levels: Sequence[float] | None = None,
    dataset: datasets.DatasetDict | None = None,
    data_dir: str | Path | None = None,
    dataset_options: dict | None = None,
    run_root: str | Path | None = None,
    progress: bool = True,
    track: str = "default",
    variant: str | None = None,
    replace: bool = True,
    threads: int | None = None,
    nproc: int = 1,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Train and evaluate one model on one dataset for every seed; commit and return its records.

    ``model``: a built-in model's name or ``path/to/file.py:Class`` (imported only in a worker).
    ``run_root`` keeps per-run checkpoints (``<run_root>/<dataset>/<name>/<key>/seed<seed>``,
    the key a hash of the data, the code and the configs) so an interrupted run resumes; without
    it the runs use a temporary folder. ``robustness_levels``: the grid of missing rates and noise
    levels (default: the full grid). ``track``: the training regime (``"lnln"`` names the entry
    ``<model>+lnln``); ``variant`` names another configuration of the same model
    (``<model>[+<track>]+<variant>``). ``replace``: move records of another config, code or the
    same seeds aside instead of refusing. ``threads``: torch threads of each worker (default:
    this process's). ``nproc``: training processes per run (torchrun/DDP).
    """
    from msa_bench.scoring.robustness import LEVELS

    data = dataset if dataset is not None else load_for_run(dataset_name, data_dir, dataset_options)
    spec = prepare_entry(model, dataset_name, data, records_dir, model_overrides=model_overrides, train_overrides=train_overrides,
                         track=track, variant=variant, data_dir=data_dir, dataset_options=dataset_options, run_root=run_root)
    if run_root is not None:
        check_writable(Path(run_root))
    if not len(data["test"]):
        return _train_without_test(spec, data, dataset_name, seeds, run_root, device, threads, progress, nproc, echo)
    stage = EntryStage(records_dir, dataset_name, spec.name, spec.stage_token)
    identity = ("full", spec.name, config_hash(record_config(spec, data, dataset_name, nproc)), spec.code["hash"])
    stage.check("full", identity, set(seeds), replace=replace)  # refused before anything is trained
    levels = None if not robustness else (LEVELS if robustness_levels is None else tuple(robustness_levels))
    for index, seed in enumerate(seeds, start=1):
        if progress:
            echo(f"== {spec.name} on {dataset_name}: seed {seed} ({index}/{len(seeds)})")
        try:
            stage_seed(spec, data, dataset_name, seed, records_dir, robustness_levels=levels, run_root=run_root, device=device,
                       threads=threads, progress=progress, nproc=nproc)
        except Exception as err:
            raise seed_failure(spec.name, dataset_name, seed, err, stage, records_dir) from err
    return stage.commit(replace=replace, echo=echo)


def _train_without_test(spec, data, dataset_name, seeds, run_root, device, threads, progress, nproc, echo) -> list[Path]:
    """Train and select every seed on a dataset whose test split is empty; report validation only."""
    identity = run_identity(data, spec.code["hash"])
    for seed in seeds:
        with tempfile.TemporaryDirectory(prefix="msa_bench_run_") as scratch:
            run_dir = Path(scratch) if run_root is None else run_folder(run_root, dataset_name, spec, identity, seed)
            result = run_isolated(
                spec.model, spec.model_config, spec.train_config, data, dataset_name=dataset_name, seed=seed, run_dir=run_dir,
                normalize=resolve_mode(spec.train_config["normalize"], dataset_name), identity=identity, device=device,
                threads=threads or torch.get_num_threads(), progress=progress, access=spec.access, nproc=nproc, evaluate=False,
            )
        shown = ", ".join(f"{name} {value:.4f}" for name, value in sorted(result.trained["validation_metrics"].items()))
        echo(f"{spec.name} seed {seed}: selected epoch {result.trained['best_epoch']}; validation: {shown}")
    echo(f"The test split of {dataset_name} is empty: nothing was scored on test and no record was written.")
    return []


def seed_failure(name: str, dataset_name: str, seed: int, err: Exception, stage: EntryStage, records_dir) -> RunFailed:
    """The one-paragraph error of an entry whose seed failed: nothing committed, where the rest is."""
    staged = ", ".join(p.stem for p in stage.staged()) or "none"
    reason = str(err) if isinstance(err, UserError) else f"{type(err).__name__}: {err}"
    return RunFailed(
        f"{name} on {dataset_name} failed at seed {seed}: {reason}. Nothing was added to {records_dir}; "
        f"the seeds that finished ({staged}) are staged in {stage.folder}"
    )


def run_folder(run_root: str | Path, dataset_name: str, spec: EntrySpec, identity: dict, seed: int) -> Path:
    """Where one seed of an entry keeps its checkpoints: keyed by everything that identifies the run."""
    return Path(run_root) / dataset_name / spec.name / spec.run_folder_key(identity) / f"seed{seed}"


def run_seed(spec: EntrySpec, data, dataset_name, seed, identity, levels, run_root, device, threads, progress, nproc) -> TrainedRun:
    """One seed of an entry across the boundary, as a :class:`TrainedRun` (nothing staged)."""
    threads = threads or torch.get_num_threads()
    normalize = resolve_mode(spec.train_config["normalize"], dataset_name)
    with tempfile.TemporaryDirectory(prefix="msa_bench_run_") as scratch:
        run_dir = Path(scratch) if run_root is None else run_folder(run_root, dataset_name, spec, identity, seed)
        started = time.perf_counter()
        result = run_isolated(
            spec.model, spec.model_config, spec.train_config, data, dataset_name=dataset_name, seed=seed, run_dir=run_dir,
            normalize=normalize, identity=identity, device=device, threads=threads, robustness_levels=levels,
            progress=progress, access=spec.access, nproc=nproc,
        )
    trained = result.trained
    return TrainedRun(
        model_name=spec.name,
        dataset_name=dataset_name,
        seed=seed,
        device=device,
        config=record_config(spec, data, dataset_name, nproc),
        test_predictions=result.predictions,
        metrics=compute_metrics(result.predictions),
        ci=bootstrap_ci(result.predictions),
        history=trained["history"],
        best_epoch=trained["best_epoch"],
        dataset_fingerprint=dataset_fingerprint(data),
        n_parameters=trained["n_parameters"],
        wall_time_s=time.perf_counter() - started,
        peak_memory_mb=trained["peak_memory_mb"],
        normalization=trained["normalization"],
        robustness=result.robustness,
        isolation=result.isolation,
        threads=threads,
    )


def read_submission_config(config_path: str | Path) -> dict[str, dict]:
    """``{"model": {...}, "train": {...}}`` from a YAML file, or :class:`SubmissionRejected`."""
    path = Path(config_path)
    if not path.is_file():
        raise SubmissionRejected(f"{path}: no such config file")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise SubmissionRejected(f"{path}: not valid YAML ({err})") from None
    content = {} if content is None else content
    if not isinstance(content, dict):
        raise SubmissionRejected(f"{path}: expected a mapping with keys {SUBMISSION_KEYS}, got {type(content).__name__}")
    unknown = sorted(set(content) - set(SUBMISSION_KEYS))
    if unknown:
        raise SubmissionRejected(f"{path}: unknown top-level key(s) {unknown}; allowed: {list(SUBMISSION_KEYS)}")
    for key in SUBMISSION_KEYS:
        if not isinstance(content.get(key) or {}, dict):
            raise SubmissionRejected(f"{path}: '{key}' must be a mapping of config fields")
    return {key: dict(content.get(key) or {}) for key in SUBMISSION_KEYS}


def submit_model(
    model_spec: str,
    config_path: str | Path,
    dataset: str,
    records_dir: str | Path,
    *,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    device: str = "cpu",
    data_dir: str | Path | None = None,
    dataset_options: dict | None = None,
    progress: bool = True,
    robustness_levels: Sequence[float] | None = None,
    run_root: str | Path | None = None,
    replace: bool = False,
    echo: Callable[[str], None] = print,
) -> list[Path]:
    """Run the full protocol (seeds, robustness) for ``path/to/file.py:Class`` with a YAML config
    (``data_dir`` and ``dataset_options`` go to :func:`msa_bench.load_dataset`).

    Raises :class:`SubmissionRejected` with the reason, writing nothing, when the model, the
    config or a trial batch is invalid; a name that already holds records is refused unless
    ``replace`` (the old records are moved aside).
    """
    if ":" not in model_spec or not model_spec.rpartition(":")[0].endswith(".py"):
        raise SubmissionRejected(f"--model must be 'path/to/file.py:ClassName', got {model_spec!r}")
    config = read_submission_config(config_path)
    try:
        TrainConfig.from_dict(config["train"])
    except (TypeError, ValueError) as err:
        raise SubmissionRejected(f"{config_path}: {err}") from None
    return run_protocol(
        model_spec, dataset, seeds, config["model"], config["train"], records_dir, device, robustness=True,
        robustness_levels=robustness_levels, data_dir=data_dir, dataset_options=dataset_options, progress=progress,
        run_root=run_root, replace=replace, echo=echo,
    )


def guarded_run(run: Callable[[], list[Path]]) -> tuple[list[Path], str]:
    """Run one board entry (``run`` returns its record paths): its records and an outcome line.
    A failure is the outcome line and no records, so one broken model does not stop the others."""
    began = time.perf_counter()
    try:
        paths = run()
    except Exception as err:  # one broken model must not stop the others
        return [], f"FAILED: {type(err).__name__}: {err}"
    return paths, f"{len(paths)} record(s) in {time.perf_counter() - began:.1f} s"
