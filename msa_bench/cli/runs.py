"""Commands that train and score models: ``train``, ``run``, ``submit``."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import typer

from msa_bench.cli.app import DATA_DIR_HELP, app, key_values
from msa_bench.scale.cluster import Engine
from msa_bench.util.errors import ConfigError

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

    model_overrides = key_values(model_option, "--model-option")
    train_overrides = key_values(train_option, "--train-option")
    try:  # a misspelt option fails here, before any data is built
        resolve_configs(get_model_class(model), dataset, model_overrides, train_overrides)
    except ValueError as err:
        raise ConfigError(f"--model-option / --train-option: {err}") from None

    if nproc_per_node > 1:
        from msa_bench.scale.data import DatasetSource
        from msa_bench.scale.ddp import DistributedJob, launch

        options = tuple(sorted(key_values(dataset_option, "--dataset-option").items()))
        source = DatasetSource(dataset, data_dir=None if data_dir is None else str(data_dir), options=options)
        job = DistributedJob(
            model, source, tuple(seed or DEFAULT_SEEDS), str(records), device, robustness, str(run_dir), model_overrides, train_overrides
        )
        launch(job, nproc_per_node)
        return

    paths = run_protocol(
        model, dataset, seed or DEFAULT_SEEDS, records_dir=records, device=device, robustness=robustness,
        data_dir=data_dir, dataset_options=key_values(dataset_option, "--dataset-option"), run_root=run_dir,
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
            tracks=tuple(track or ("default",)), data_dir=data_dir, dataset_options=key_values(dataset_option, "--dataset-option"),
        )
    else:
        _, failed = run_main(
            models, seeds or MAIN_SEEDS, dataset, device, records, out, jobs=jobs, echo=typer.echo, robustness_levels=levels,
            tracks=tuple(track or ("default",)), data_dir=data_dir, dataset_options=key_values(dataset_option, "--dataset-option"),
        )
    if failed:
        typer.echo(f"failed: {', '.join(failed)}", err=True)
        raise typer.Exit(code=1)


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
    options = key_values(dataset_option, "--dataset-option")
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
