"""The full protocol: seeds x (train, test once, robustness) -> result records.

- :func:`run_protocol` runs a registered model (or ``file.py:Class``) on a dataset with the
  model's per-dataset defaults (``default_configs[dataset]``) plus overrides.
- :func:`submit_model` is the same for a user's submission with a YAML config; an invalid
  submission is rejected with a clear reason before anything is written.
- :func:`run_main` is ``msa-bench run``: the registered models on the embedded synthetic dataset
  with their short "synthetic" schedules, robustness, and the rendered leaderboard.

Each seed's record is written as soon as its training ends, before its robustness sweep.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import datasets
import torch
import yaml

from msa_bench.util.errors import UserError
from msa_bench.models import DataSpec, ModelConfig, MSAModel, build_config, get_model_class, model_names
from msa_bench.inputs.loader import eval_batches
from msa_bench.records.record import ResultRecord, check_name_free, load_record, predictions_path
from msa_bench.scale.data import DatasetSource
from msa_bench.harness.train_config import TrainConfig
from msa_bench.harness.training import DEFAULT_SEEDS, make_record, train_and_evaluate

#: Training schedule of a model that declares no "synthetic" default config (``msa-bench run``).
FALLBACK_SYNTHETIC = {"train": {"max_epochs": 5, "patience": 3}}
#: The schedule of a model without a default config for the dataset: RAVDESS has no sentiment
#: (the default selection metric, MAE), so selection is on the categorical emotion's UA.
FALLBACK_CONFIGS = {"synthetic": FALLBACK_SYNTHETIC, "ravdess": {"train": {"select_metric": "emotion_ua", "patience": 6}}}
#: Seeds of ``msa-bench run`` (short by design; the full protocol uses DEFAULT_SEEDS).
MAIN_SEEDS: tuple[int, ...] = (1111,)
SUBMISSION_KEYS = ("model", "train")


def model_name_of(model_class: type[MSAModel]) -> str:
    return getattr(model_class, "registered_name", None) or model_class.__name__


def resolve_configs(
    model_class: type[MSAModel],
    dataset_name: str,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
) -> tuple[ModelConfig, TrainConfig]:
    """The model's ``default_configs[dataset_name]`` with overrides on top (unknown keys are errors)."""
    defaults = model_class.default_configs.get(dataset_name) or FALLBACK_CONFIGS.get(dataset_name, {})
    model_config = build_config(model_class, {**defaults.get("model", {}), **(model_overrides or {})})
    train_config = TrainConfig.from_dict({**defaults.get("train", {}), **(train_overrides or {})})
    return model_config, train_config


def schedule_name(
    model_class: type[MSAModel],
    dataset_name: str,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
) -> str:
    """The name of the training schedule :func:`resolve_configs` gives: the ``default_configs``
    entry (``"fallback"`` for a model without one on a dataset of :data:`FALLBACK_CONFIGS`, ``"defaults"`` for none),
    with ``"+overrides"`` when overrides were given."""
    if dataset_name in model_class.default_configs:
        name = dataset_name
    else:
        name = "fallback" if dataset_name in FALLBACK_CONFIGS else "defaults"
    return name + ("+overrides" if model_overrides or train_overrides else "")


def _load(dataset_name: str, data_dir: str | Path | None, options: dict | None = None) -> datasets.DatasetDict:
    from msa_bench.loading.load import load_dataset

    return load_dataset(dataset_name, data_dir=data_dir, **(options or {}))


def run_protocol(
    model_name_or_spec: str | type[MSAModel],
    dataset_name: str,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
    records_dir: str | Path = "leaderboard/records",
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
) -> list[Path]:
    """Train and evaluate one model on one dataset for every seed; write and return the records.

    ``run_root`` keeps per-run checkpoints (``<run_root>/<dataset>/<model>/seed<seed>``) so an
    interrupted run resumes; without it nothing but the records is written. ``data_dir`` and
    ``dataset_options`` go to :func:`msa_bench.load_dataset` when ``dataset`` is not given.
    ``robustness_levels`` is the grid of missing rates and noise levels (default: the full
    :data:`msa_bench.scoring.robustness.LEVELS`). ``track`` is the benchmark's training regime
    (:data:`msa_bench.harness.robustness.TRACKS`): ``"lnln"`` trains with a random per-example missing
    rate; its records are named ``<model>+lnln``. ``variant`` names another configuration of the
    same model as its own entry, ``<model>[+<track>]+<variant>`` (e.g. ``self_mm+minilm-ft``): the
    leaderboard holds one config per entry name.

    Each seed's record and test predictions are written as soon as its training ends; the
    robustness sweep is then added to the record. A failing sweep leaves the finished run on disk
    (and, with ``run_root``, a run started again resumes both training and sweep where they were).
    """
    from msa_bench.scoring.robustness import LEVELS
    from msa_bench.harness.robustness import TRACKS

    if track not in TRACKS:
        raise UserError(f"unknown track {track!r}; the tracks are {sorted(TRACKS)}")
    model_class = (
        model_name_or_spec if isinstance(model_name_or_spec, type) else get_model_class(model_name_or_spec)
    )
    schedule = schedule_name(model_class, dataset_name, model_overrides, train_overrides)
    train_overrides = {**TRACKS[track], **(train_overrides or {})}
    model_config, train_config = resolve_configs(model_class, dataset_name, model_overrides, train_overrides)
    name = model_name_of(model_class) + ("" if track == "default" else f"+{track}") + (f"+{variant}" if variant else "")
    # a name held by records of another kind is refused before any training, not after it
    check_name_free(records_dir, ResultRecord(model=name, dataset=dataset_name, seed=0, kind="full", metrics={}))
    dataset = dataset if dataset is not None else _load(dataset_name, data_dir, dataset_options)
    paper = model_class.paper_results.get(dataset_name)
    levels = LEVELS if robustness_levels is None else robustness_levels
    paths = []
    for seed in seeds:
        run_dir = None if run_root is None else Path(run_root) / dataset_name / name / f"seed{seed}"
        run = train_and_evaluate(
            model_class,
            model_config,
            dataset,
            train_config,
            seed=seed,
            dataset_name=dataset_name,
            device=device,
            run_dir=run_dir,
            progress=progress,
            model_name=name,
            schedule=schedule,
        )
        run = dataclasses.replace(run, config={**run.config, "track": track})
        progress_file = None if run_dir is None else run_dir / "robustness_progress.json"
        paths.append(save_run(run, dataset, records_dir, paper, robustness, levels, device, progress_file))
    return paths


def save_run(
    run,
    dataset: datasets.DatasetDict,
    records_dir: str | Path,
    paper: dict | None,
    robustness: bool,
    levels: Sequence[float],
    device: str | torch.device,
    progress_file: Path | None = None,
) -> Path:
    """Write a finished run's record and test predictions, then add its robustness sweep: a
    failing sweep never discards the training (it can be resumed from ``progress_file``)."""
    from msa_bench.records.record import save_record
    from msa_bench.harness.robustness import evaluate_robustness

    path = save_record(make_record(run, None, paper), run.test_predictions, records_dir)
    if not robustness:
        return path
    try:
        sweep = evaluate_robustness(
            run.model, dataset["test"], dataset["train"], device=device, seed=run.seed, levels=levels, progress=progress_file
        )
    except Exception as err:
        raise RuntimeError(
            f"{path}: the robustness sweep of {run.model_name} (seed {run.seed}) failed after the record and test "
            f"predictions were written ({type(err).__name__}: {err})"
        ) from err
    return save_record(make_record(run, sweep, paper), run.test_predictions, records_dir)


# --------------------------------------------------------------------------- submissions


class SubmissionRejected(UserError, ValueError):
    """A submitted model or config is invalid; the message says why."""


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


def check_submission(model_class: type[MSAModel], model_config: ModelConfig, dataset: datasets.DatasetDict) -> None:
    """Build the model and run one training batch forward and backward: catch a broken model early."""
    from msa_bench.util.runtime import seed_everything
    from msa_bench.worker.trainer import training_loss

    seed_everything(0)
    model = model_class(model_config, DataSpec.from_dataset(dataset))
    batch, targets = eval_batches(dataset["validation"], 8)[0]
    output = model(batch)
    for task, value in (("sentiment", output.sentiment), ("emotions", output.emotions), ("emotion", output.emotion_logits)):
        if task in model.tasks and (value is None or not torch.isfinite(value).all()):
            raise SubmissionRejected(f"{model_class.__name__}.forward gave no finite {task} prediction on a real batch")
    loss = training_loss(model, output, targets, head_loss_weight=1.0)
    if loss.ndim != 0 or not torch.isfinite(loss):
        raise SubmissionRejected(f"{model_class.__name__}.compute_loss must return a finite scalar, got {loss!r}")
    loss.backward()


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
) -> list[Path]:
    """Run the full protocol (seeds, robustness) for ``file.py:Class`` with a YAML config
    (``data_dir`` and ``dataset_options`` go to :func:`msa_bench.load_dataset`).

    Raises :class:`SubmissionRejected` with the reason, writing nothing, when the model, the
    config or a trial batch is invalid.
    """
    if ":" not in model_spec:
        raise SubmissionRejected(f"--model must be 'path/to/file.py:ClassName', got {model_spec!r}")
    try:
        model_class = get_model_class(model_spec)
    except (ImportError, AttributeError, FileNotFoundError, TypeError, ValueError, SyntaxError) as err:
        raise SubmissionRejected(f"{model_spec}: {err}") from None
    name = model_name_of(model_class)
    builtin = name in model_names() and get_model_class(name) is not model_class
    if builtin:
        raise SubmissionRejected(f"{model_spec}: the name {name!r} is taken by a built-in model; register another name")
    config = read_submission_config(config_path)
    try:
        model_config, _ = resolve_configs(model_class, dataset, config["model"], config["train"])
    except (TypeError, ValueError, KeyError) as err:
        raise SubmissionRejected(f"{config_path}: {err}") from None
    data = _load(dataset, data_dir, dataset_options)
    try:
        check_submission(model_class, model_config, data)
    except SubmissionRejected:
        raise
    except Exception as err:  # the user's code failed: reject with its error
        raise SubmissionRejected(f"{model_spec} failed on a trial batch: {type(err).__name__}: {err}") from err
    return run_protocol(
        model_class,
        dataset,
        seeds,
        config["model"],
        config["train"],
        records_dir,
        device,
        robustness=True,
        dataset=data,
        progress=progress,
    )


# --------------------------------------------------------------------------- the main job


def _start_worker(threads: int) -> None:
    torch.set_num_threads(threads)


def guarded_run(run: Callable[[], list[Path]]) -> tuple[list[Path], str]:
    """Run one board entry (``run`` returns its record paths): its records and an outcome line.
    A failure is the outcome line and no records, so one broken model does not stop the others."""
    began = time.perf_counter()
    try:
        paths = run()
    except Exception as err:  # one broken model must not stop the others
        return [], f"FAILED: {type(err).__name__}: {err}"
    return paths, f"{len(paths)} record(s) in {time.perf_counter() - began:.1f} s"


def _run_one(
    name: str, track: str, source: DatasetSource, seeds: Sequence[int], device: str, records_dir: str, levels: Sequence[float]
) -> tuple[str, list[Path], str]:
    """One model on one track of the main job, in a worker process: (entry name, its record files, outcome line)."""
    entry = name if track == "default" else f"{name}+{track}"
    paths, outcome = guarded_run(
        lambda: run_protocol(
            name, source.name, seeds, records_dir=records_dir, device=device,
            dataset=source.load(), progress=False, robustness_levels=levels, track=track,
        )
    )
    return entry, paths, outcome


def _outcomes(runs, source, seeds, device, records_dir, jobs, cores, levels) -> Iterator[tuple[str, list[Path], str]]:
    """Run the (model, track) pairs (in this process when ``jobs`` is 1) and yield (entry, record files, outcome) as each ends."""
    if jobs == 1:
        for name, track in runs:
            yield _run_one(name, track, source, seeds, device, records_dir, levels)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_start_worker, initargs=(max(1, cores // jobs),)) as pool:
        futures = [pool.submit(_run_one, name, track, source, seeds, device, records_dir, levels) for name, track in runs]
        for future in as_completed(futures):
            yield future.result()


def set_aside_superseded(written: Sequence[Path], echo=print) -> list[Path]:
    """Move the other records of the entry whose record files this run has ``written`` that were
    made with another config (e.g. the other seeds of a committed board made by older code) to a
    sibling ``<records>-superseded`` tree, so the board is not refused for mixing configs and
    nothing is deleted."""
    current = {load_record(path).config_hash for path in written}
    if len(current) != 1:
        return []
    entry_dir = Path(written[0]).parent
    records_root = entry_dir.parents[1]
    target = records_root.with_name(f"{records_root.name}-superseded") / entry_dir.parent.name / entry_dir.name
    moved = []
    for path in sorted(entry_dir.glob("seed*.json")):
        if load_record(path).config_hash in current:
            continue
        target.mkdir(parents=True, exist_ok=True)
        for part in (path, predictions_path(path)):
            moved.append(part.rename(target / part.name))
    if moved:
        echo(f"  {entry_dir.name}: records of another config moved to {target}")
    return moved


def run_main(
    models: Iterable[str] | None = None,
    seeds: Sequence[int] = MAIN_SEEDS,
    dataset_name: str = "synthetic",
    device: str = "cpu",
    records_dir: str | Path = "leaderboard/records",
    out_dir: str | Path = "leaderboard",
    jobs: int | None = None,
    echo=print,
    robustness_levels: Sequence[float] | None = None,
    tracks: Sequence[str] = ("default",),
    data_dir: str | Path | None = None,
    dataset_options: dict | None = None,
) -> tuple[dict[str, Path], list[str]]:
    """``msa-bench run``: every model (default: all registered) on ``dataset_name``, robustness
    (on the coarse :data:`~msa_bench.scoring.robustness.QUICK_LEVELS` grid unless ``robustness_levels``
    says otherwise), then the leaderboard. Models run in ``jobs`` worker processes (default: one per CPU core, at
    most 2 on CPU, 1 on CUDA), each with ``cores // jobs`` torch threads: many small models
    train faster side by side than one at a time with shared threads. ``tracks`` are the
    training tracks each model runs on (:data:`msa_bench.harness.robustness.TRACKS`; ``"lnln"`` trains
    with random per-example missing rates). ``data_dir`` and ``dataset_options`` go to
    :func:`msa_bench.load_dataset` (e.g. an ``msa-bench extract`` folder). Returns the rendered pages and the entries that
    failed (the others are still recorded and rendered).
    """
    from msa_bench.board.page import render_leaderboard

    names = list(models) if models else model_names()
    from msa_bench.scoring.robustness import QUICK_LEVELS
    from msa_bench.harness.robustness import TRACKS

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
    data = source.load()  # build (or find) the cached dataset once, before the workers read it
    echo(
        f"training {len(names)} model(s) on {dataset_name}, track(s) {', '.join(tracks)}, with seeds {list(seeds)} "
        f"in {jobs} process(es)"
    )
    failed = []
    levels = QUICK_LEVELS if robustness_levels is None else tuple(robustness_levels)
    for name, paths, outcome in _outcomes(runs, source, tuple(seeds), device, str(records_dir), jobs, cores, levels):
        echo(f"  {name}: {outcome}")
        if outcome.startswith("FAILED"):
            failed.append(name)
        elif paths:
            set_aside_superseded(paths, echo)
    pages = render_leaderboard(records_dir, out_dir, datasets_by_name={dataset_name: data})
    echo(f"done in {time.perf_counter() - started:.0f} s")
    echo(f"leaderboard: {pages['markdown']}")
    echo(f"page: {pages['html'].resolve().as_uri()}")
    return pages, sorted(failed)
