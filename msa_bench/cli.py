"""The ``msa-bench`` command line. Each command is a thin wrapper over the Python API.

Every command fails the same way on an expected error (:class:`msa_bench.util.errors.UserError`, or an
OS error the user can fix): one paragraph on stderr and exit status 2. Other exceptions are bugs
and keep their traceback.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Optional

import typer
from typer.core import TyperGroup

from msa_bench.util.errors import ConfigError, UserError, os_error_message, paragraph
from msa_bench.scale.cluster import Engine

#: ``--data-dir`` of the commands that read a dataset.
DATA_DIR_HELP = "Folder holding the dataset's source files, or an `msa-bench extract` output folder."
#: Exit status of every expected failure (click's own usage errors use it too).
USER_ERROR_EXIT = 2


def fail(message: str) -> None:
    """Print ``message`` as one paragraph on stderr and exit with status 2."""
    typer.echo(f"error: {paragraph(message)}", err=True)
    raise typer.Exit(USER_ERROR_EXIT)


class _Commands(TyperGroup):
    """Turns expected failures of any command into :func:`fail`."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except UserError as err:
            fail(str(err))
        except OSError as err:
            message = os_error_message(err)
            if message is None:
                raise
            fail(message)


app = typer.Typer(
    cls=_Commands, help="msa_bench: reproducible multimodal sentiment analysis benchmarks.", no_args_is_help=True
)


@app.command("datasets")
def list_datasets() -> None:
    """List the datasets msa_bench can build."""
    from msa_bench.builders import DATASETS

    for name in DATASETS.names():
        typer.echo(name)


@app.command()
def info(
    name: str,
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the stable JSON form (see README)."),
    dataset_option: Optional[list[str]] = typer.Option(None, "--dataset-option", help="Dataset option as key=value (repeat), e.g. split_scheme=speech20 for RAVDESS."),
) -> None:
    """Split sizes, feature dimensions and label statistics of a dataset."""
    from msa_bench.loading.info import dataset_info, format_info
    from msa_bench.loading.load import load_dataset

    dataset = load_dataset(name, data_dir=data_dir, **_key_values(dataset_option, "--dataset-option"))
    summary = dataset_info(name, dataset)
    typer.echo(json.dumps(summary, indent=2, sort_keys=True) if as_json else format_info(summary))


@app.command()
def export(
    name: str,
    out_dir: Path,
    data_dir: Optional[Path] = typer.Option(None, help="Folder holding the dataset's source files."),
    push_to_hub: Optional[str] = typer.Option(None, help="Also upload to this hub dataset repo (user/name)."),
    card_appendix: Optional[Path] = typer.Option(None, help="Markdown file appended to the generated dataset card."),
    config: Optional[list[str]] = typer.Option(None, "--config", help="Builder option as key=value (repeat); values parse as JSON when they can."),
) -> None:
    """Write a dataset as parquet shards plus a hub-ready dataset card."""
    from msa_bench.loading.export import export_dataset

    written = export_dataset(
        name, out_dir, data_dir=data_dir, push_to_hub=push_to_hub, card_appendix=card_appendix, **_key_values(config, "--config")
    )
    typer.echo(f"exported {name} to {written}")


def _key_values(pairs: list[str] | None, option: str) -> dict[str, object]:
    """``key=value`` pairs; values are JSON when they parse (numbers, true, null, lists), else strings."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"expected key=value, got {pair!r}", param_hint=option)
        try:
            options[key] = json.loads(value)
        except ValueError:
            options[key] = value
    return options


@app.command("extract")
def extract_features(
    dataset: str = typer.Argument(..., help="Dataset name written to the rows (mosi, mosei, ravdess, moud, ...)."),
    data_dir: Path = typer.Option(..., help="Raw media: label.csv + Raw/, full videos + label table, or RAVDESS Actor_XX/."),
    out: Path = typer.Option(..., help="Output folder (dataset/, errors.csv, summary.json, cache/)."),
    audio: Optional[str] = typer.Option(None, help="egemaps-lld, egemaps-functionals, compare-lld, compare-functionals, or a speech checkpoint."),
    text: Optional[str] = typer.Option(None, help="A transformers text checkpoint (hub name or local folder), e.g. bert-base-uncased."),
    vision: Optional[str] = typer.Option(None, help="pyfeat, or an image checkpoint (ViT, CLIP) run on Haar face crops."),
    audio_layer: Optional[int] = typer.Option(None, help="Hidden-state index of a speech encoder (default: last)."),
    text_layer: Optional[int] = typer.Option(None, help="Hidden-state index of the text encoder (default: last)."),
    vision_layer: Optional[int] = typer.Option(None, help="Hidden-state index of the image encoder (default: last)."),
    device: str = typer.Option("cpu", help="cpu or cuda: where transformers extractors run."),
    fps: float = typer.Option(5.0, help="Video frames sampled per second."),
    batch_size: int = typer.Option(16, help="Clips per extractor batch."),
    workers: Optional[int] = typer.Option(None, help="Worker processes for decoding and openSMILE (default: all cores)."),
    label_file: Optional[str] = typer.Option(None, help="Label table inside --data-dir (default: found automatically)."),
    word_timings: Optional[Path] = typer.Option(None, help="CSV id,word,start,end: average every modality per word."),
    limit: Optional[int] = typer.Option(None, help="Only the first N clips (for a quick check)."),
    engine: Engine = typer.Option(Engine.local, help="local (this machine) or ray (a Ray cluster; needs the ray extra)."),
    address: Optional[str] = typer.Option(None, help="With --engine ray: auto (the cluster of `ray start`) or ray://HOST:PORT; default: a local Ray instance."),
) -> None:
    """Extract features from raw media into the unified dataset (resumable; failures go to errors.csv)."""
    from msa_bench.features.pipeline import extract, format_summary

    if engine is Engine.ray:
        from msa_bench.scale.ray_extract import extract_on_ray

        extract = partial(extract_on_ray, address=address)

    options = {"audio": {"layer": audio_layer}, "text": {"layer": text_layer}, "vision": {"layer": vision_layer}}
    result = extract(
        dataset,
        data_dir,
        out,
        audio=audio,
        text=text,
        vision=vision,
        options={m: {k: v for k, v in o.items() if v is not None} for m, o in options.items()},
        device=device,
        fps=fps,
        batch_size=batch_size,
        workers=workers,
        label_file=label_file,
        word_timings=word_timings,
        limit=limit,
    )
    typer.echo(format_summary(result.summary, result.source_checks))
    typer.echo(f"dataset: {out / 'dataset'}   errors: {out / 'errors.csv'} ({len(result.errors)} rows)")


@app.command()
def train(
    model: str = typer.Argument(..., help="A registered model name, or FILE.py:Class."),
    dataset: str = typer.Option(..., help="The dataset to train and evaluate on."),
    seed: Optional[list[int]] = typer.Option(None, help="Seed(s); repeat the option for several. Default: 1111-1115."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    dataset_option: Optional[list[str]] = typer.Option(None, "--dataset-option", help="Dataset option as key=value (repeat), e.g. split_scheme=speech20 for RAVDESS."),
    records: Path = typer.Option(Path("leaderboard/records"), help="Folder of result records."),
    run_dir: Path = typer.Option(Path("runs"), help="Checkpoints; an interrupted run resumes from here."),
    robustness: bool = typer.Option(True, help="Run the robustness sweep after training."),
    nproc_per_node: int = typer.Option(1, "--nproc-per-node", help="Train each run on N processes with torchrun/DDP (one GPU each on cuda)."),
    model_option: Optional[list[str]] = typer.Option(None, "--model-option", help="Model config entry as key=value over the model's defaults for the dataset (repeat); JSON values parse."),
    train_option: Optional[list[str]] = typer.Option(None, "--train-option", help="Training config entry as key=value (repeat), e.g. epochs=20."),
) -> None:
    """Train MODEL on a dataset with the full protocol (validation-only selection, one test evaluation)."""
    from msa_bench.models import get_model_class
    from msa_bench.harness.protocol import resolve_configs, run_protocol
    from msa_bench.harness.training import DEFAULT_SEEDS

    model_overrides = _key_values(model_option, "--model-option")
    train_overrides = _key_values(train_option, "--train-option")
    try:  # a misspelt option fails here, before any data is built
        resolve_configs(get_model_class(model), dataset, model_overrides, train_overrides)
    except ValueError as err:
        raise ConfigError(f"--model-option / --train-option: {err}") from None

    if nproc_per_node > 1:
        from msa_bench.scale.data import DatasetSource
        from msa_bench.scale.ddp import DistributedJob, launch

        options = tuple(sorted(_key_values(dataset_option, "--dataset-option").items()))
        source = DatasetSource(dataset, data_dir=None if data_dir is None else str(data_dir), options=options)
        job = DistributedJob(
            model, source, tuple(seed or DEFAULT_SEEDS), str(records), device, robustness, str(run_dir), model_overrides, train_overrides
        )
        launch(job, nproc_per_node)
        return

    paths = run_protocol(
        model, dataset, seed or DEFAULT_SEEDS, records_dir=records, device=device, robustness=robustness,
        data_dir=data_dir, dataset_options=_key_values(dataset_option, "--dataset-option"), run_root=run_dir,
        model_overrides=model_overrides, train_overrides=train_overrides,
    )
    for path in paths:
        typer.echo(f"wrote {path}")


@app.command()
def run(
    models: Optional[list[str]] = typer.Option(None, "--models", help="Models to run (repeat the option); default: all registered."),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="Seeds (repeat the option); default: 1111."),
    dataset: str = typer.Option("synthetic", help="Dataset (default: the embedded synthetic one)."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    dataset_option: Optional[list[str]] = typer.Option(None, "--dataset-option", help="Dataset option as key=value (repeat), e.g. split_scheme=speech20 for RAVDESS."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    records: Path = typer.Option(Path("leaderboard/records"), help="Folder of result records."),
    out: Path = typer.Option(Path("leaderboard"), help="Where LEADERBOARD.md and site/index.html are written."),
    jobs: Optional[int] = typer.Option(None, help="Worker processes (default: 2 on CPU, 1 on CUDA)."),
    engine: Engine = typer.Option(Engine.local, help="local (this machine) or ray (a Ray cluster; needs the ray extra)."),
    address: Optional[str] = typer.Option(None, help="With --engine ray: auto (the cluster of `ray start`) or ray://HOST:PORT; default: a local Ray instance."),
    full_robustness: bool = typer.Option(False, "--full-robustness", help="Missing-rate and noise curves on the full 0.0-1.0 grid (default: the quick grid 0.0, 0.3, 0.6, 1.0)."),
    track: Optional[list[str]] = typer.Option(None, "--track", help="Training track(s) (repeat): default, lnln (random per-example missing rates in training); default: default."),
) -> None:
    """The main job: train the models on the synthetic dataset, run robustness, render the leaderboard."""
    from msa_bench.harness.protocol import MAIN_SEEDS, run_main
    from msa_bench.scoring.robustness import LEVELS

    levels = LEVELS if full_robustness else None
    if engine is Engine.ray:
        from msa_bench.scale.ray_sweep import run_main_on_ray

        _, failed = run_main_on_ray(
            models, seeds or MAIN_SEEDS, dataset, device, records, out, address=address, echo=typer.echo, robustness_levels=levels,
            tracks=tuple(track or ("default",)), data_dir=data_dir, dataset_options=_key_values(dataset_option, "--dataset-option"),
        )
    else:
        _, failed = run_main(
            models, seeds or MAIN_SEEDS, dataset, device, records, out, jobs=jobs, echo=typer.echo, robustness_levels=levels,
            tracks=tuple(track or ("default",)), data_dir=data_dir, dataset_options=_key_values(dataset_option, "--dataset-option"),
        )
    if failed:
        typer.echo(f"failed: {', '.join(failed)}", err=True)
        raise typer.Exit(code=1)


@app.command()
def leaderboard(
    records: Path = typer.Option(Path("leaderboard/records"), help="Folder of result records."),
    out: Path = typer.Option(Path("leaderboard"), help="Where LEADERBOARD.md and site/index.html are written."),
) -> None:
    """Render LEADERBOARD.md and the static site (site/index.html) from the result records."""
    from msa_bench.board.page import render_leaderboard

    paths = render_leaderboard(records, out)
    typer.echo(f"wrote {paths['markdown']} and {paths['html']}")


@app.command()
def submit(
    dataset: str = typer.Option(..., help="The dataset the submission is for."),
    predictions: Optional[Path] = typer.Option(None, help="Parquet of test predictions: id and *_pred columns."),
    name: Optional[str] = typer.Option(None, help="Leaderboard name of a --predictions submission."),
    seed: int = typer.Option(0, help="Run number of a --predictions submission (to submit several runs)."),
    model: Optional[str] = typer.Option(None, help="FILE.py:Class of a model to run through the full protocol."),
    config: Optional[Path] = typer.Option(None, help="YAML config of the --model."),
    records: Path = typer.Option(Path("leaderboard/records"), help="Folder of result records."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    dataset_option: Optional[list[str]] = typer.Option(None, "--dataset-option", help="Dataset option as key=value (repeat), e.g. split_scheme=speech20 for RAVDESS."),
    engine: Engine = typer.Option(Engine.local, help="For --model: local, or ray (one Ray task per seed)."),
    address: Optional[str] = typer.Option(None, help="With --engine ray: auto or ray://HOST:PORT; default: a local Ray instance."),
) -> None:
    """Add a submission: test predictions (--predictions --name) or a model (--model --config)."""
    if (predictions is None) == (model is None) or (predictions is not None and name is None):
        raise typer.BadParameter("give either --predictions FILE.parquet --name NAME, or --model FILE.py:Class --config CFG.yaml")
    options = _key_values(dataset_option, "--dataset-option")
    if model is not None:
        from msa_bench.harness.protocol import submit_model

        if engine is Engine.ray:
            from msa_bench.scale.ray_sweep import submit_model_on_ray

            submit_model = partial(submit_model_on_ray, address=address)
        if config is None:
            raise typer.BadParameter("--model needs --config CFG.yaml (with 'model:' and 'train:' keys)")
        submit_model(model, config, dataset, records, data_dir=data_dir, dataset_options=options)
        typer.echo(f"added the records of {model} on {dataset} to {records}; run `msa-bench leaderboard` to render")
        return
    from msa_bench.harness.submissions import submit_predictions

    path = submit_predictions(predictions, dataset, name, records, data_dir=data_dir, seed=seed, dataset_config=options)
    typer.echo(f"added {path}; run `msa-bench leaderboard` to render")
