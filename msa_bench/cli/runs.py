"""Commands that train and score models: ``train``, ``run``, ``submit``.

They write under a workspace (``--workspace``, ``$MSA_BENCH_HOME`` or ``./msa_bench_runs``; see
:mod:`msa_bench.records.workspace`), never into the repository unless told so, and end with a
table of the test metrics (``--json`` for scripts).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Optional

import typer

from msa_bench.cli.app import DATA_DIR_HELP, app, key_values, on_interrupt
from msa_bench.cli.results import print_results
from msa_bench.scale.cluster import Engine

WORKSPACE_HELP = "Where records, run folders and the board go (default: $MSA_BENCH_HOME or ./msa_bench_runs)."
DATASET_OPTION_HELP = "Dataset option as key=value (repeat), e.g. split_scheme=speech20 for RAVDESS."
FULL_ROBUSTNESS_HELP = "Missing-rate and noise curves on the full 0.0-1.0 grid (default: the quick grid 0.0, 0.3, 0.6, 1.0)."
JSON_HELP = "Print the results as JSON (for scripts) instead of the table."


def _levels(full_robustness: bool):
    from msa_bench.scoring.robustness import LEVELS, QUICK_LEVELS

    return LEVELS if full_robustness else QUICK_LEVELS


def _resume_hint(workspace) -> str:
    return (f"finished seeds stay staged in {workspace.records}-staging and checkpoints in {workspace.runs}; "
            "run the same command again to resume")


@app.command()
def train(
    model: str = typer.Argument(..., help="A built-in model name (see `msa-bench models`), or FILE.py:Class."),
    dataset: str = typer.Option(..., help="The dataset to train and evaluate on."),
    seed: Optional[list[int]] = typer.Option(None, help="Seed(s); repeat the option for several. Default: 1111-1115."),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    dataset_option: Optional[list[str]] = typer.Option(None, "--dataset-option", help=DATASET_OPTION_HELP),
    workspace: Optional[Path] = typer.Option(None, help=WORKSPACE_HELP),
    robustness: bool = typer.Option(True, help="Run the robustness sweep after training."),
    full_robustness: bool = typer.Option(False, "--full-robustness", help=FULL_ROBUSTNESS_HELP),
    nproc_per_node: int = typer.Option(1, "--nproc-per-node", help="Train each run on N processes with torchrun/DDP (one GPU each on cuda)."),
    model_option: Optional[list[str]] = typer.Option(None, "--model-option", help="Model config entry as key=value over the model's defaults for the dataset (repeat); JSON values parse."),
    train_option: Optional[list[str]] = typer.Option(None, "--train-option", help="Training config entry as key=value (repeat), e.g. max_epochs=20."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Train MODEL on a dataset with the full protocol (validation-only selection, one test evaluation)."""
    from msa_bench.harness.protocol import run_protocol
    from msa_bench.harness.training import DEFAULT_SEEDS
    from msa_bench.records.workspace import Workspace

    space = Workspace.resolve(workspace)
    on_interrupt(_resume_hint(space))
    paths = run_protocol(
        model, dataset, seed or DEFAULT_SEEDS, key_values(model_option, "--model-option"), key_values(train_option, "--train-option"),
        records_dir=space.records, device=device, robustness=robustness, robustness_levels=_levels(full_robustness),
        data_dir=data_dir, dataset_options=key_values(dataset_option, "--dataset-option"), run_root=space.runs,
        nproc=nproc_per_node, echo=partial(typer.echo, err=True),
    )
    print_results(paths, as_json, typer.echo)


@app.command()
def run(
    models: Optional[list[str]] = typer.Option(None, "--models", help="Models to run (repeat the option); default: all built-in."),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="Seeds (repeat the option); default: 1111."),
    dataset: str = typer.Option("synthetic", help="Dataset (default: the embedded synthetic one)."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    dataset_option: Optional[list[str]] = typer.Option(None, "--dataset-option", help=DATASET_OPTION_HELP),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N."),
    workspace: Optional[Path] = typer.Option(None, help=WORKSPACE_HELP),
    jobs: Optional[int] = typer.Option(None, help="Entries trained side by side (default: 2 on CPU, 1 on CUDA)."),
    engine: Engine = typer.Option(Engine.local, help="local (this machine) or ray (a Ray cluster; needs the ray extra)."),
    address: Optional[str] = typer.Option(None, help="With --engine ray: auto (the cluster of `ray start`) or ray://HOST:PORT; default: a local Ray instance."),
    full_robustness: bool = typer.Option(False, "--full-robustness", help=FULL_ROBUSTNESS_HELP),
    track: Optional[list[str]] = typer.Option(None, "--track", help="Training track(s) (repeat): default, lnln (random per-example missing rates in training); default: default."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """The main job: train the models on the synthetic dataset, run robustness, render the board in the workspace."""
    from msa_bench.board.page import render_leaderboard
    from msa_bench.harness.main_job import MAIN_SEEDS, run_main
    from msa_bench.records.workspace import Workspace
    from msa_bench.scale.data import DatasetSource

    space = Workspace.resolve(workspace)
    on_interrupt(f"finished entries are in {space.records}; {_resume_hint(space)}")
    options = key_values(dataset_option, "--dataset-option")
    settings = dict(robustness_levels=_levels(full_robustness), tracks=tuple(track or ("default",)), data_dir=data_dir,
                    dataset_options=options, echo=typer.echo)
    if engine is Engine.ray:
        from msa_bench.scale.ray_sweep import run_main_on_ray

        written, failed = run_main_on_ray(models, seeds or MAIN_SEEDS, dataset, device, space.records, address=address, **settings)
    else:
        written, failed = run_main(models, seeds or MAIN_SEEDS, dataset, device, space.records, space.runs, jobs=jobs, **settings)
    source = DatasetSource(dataset, None if data_dir is None else str(data_dir), None, tuple(sorted(options.items())))
    rendered = render_leaderboard(space.records, space.root, datasets_by_name={dataset: source.load()})
    print_results(written, as_json, typer.echo)
    typer.echo(f"board: {rendered['markdown']}\npage: {rendered['html'].resolve().as_uri()}")
    if failed or rendered.refused:
        if failed:
            typer.echo(f"failed: {', '.join(failed)}", err=True)
        for refusal in rendered.refused:
            typer.echo(f"refused: {refusal.what}: {refusal.reason}", err=True)
        raise typer.Exit(code=1)


@app.command()
def submit(
    dataset: str = typer.Option(..., help="The dataset the submission is for."),
    predictions: Optional[Path] = typer.Option(None, help="Parquet of test predictions: id and *_pred columns."),
    name: Optional[str] = typer.Option(None, help="Leaderboard name of a --predictions submission."),
    seed: int = typer.Option(0, help="Run number of a --predictions submission (to submit several runs)."),
    model: Optional[str] = typer.Option(None, help="FILE.py:Class of a model to run through the full protocol."),
    config: Optional[Path] = typer.Option(None, help="YAML config of the --model (keys 'model:' and 'train:')."),
    seeds: Optional[list[int]] = typer.Option(None, "--seeds", help="Seeds of a --model submission (repeat); default: 1111-1115."),
    full_robustness: bool = typer.Option(False, "--full-robustness", help=FULL_ROBUSTNESS_HELP),
    replace: bool = typer.Option(False, "--replace", help="Move the name's earlier records aside (never deleted) instead of refusing."),
    workspace: Optional[Path] = typer.Option(None, help=WORKSPACE_HELP),
    device: str = typer.Option("cpu", help="cpu, cuda or cuda:N (for --model)."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    dataset_option: Optional[list[str]] = typer.Option(None, "--dataset-option", help=DATASET_OPTION_HELP),
    engine: Engine = typer.Option(Engine.local, help="For --model: local, or ray (one Ray task per seed)."),
    address: Optional[str] = typer.Option(None, help="With --engine ray: auto or ray://HOST:PORT; default: a local Ray instance."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Add a submission: a model run through the protocol in a sandbox (--model --config) or test predictions (--predictions --name)."""
    from msa_bench.records.workspace import Workspace
    from msa_bench.util.errors import SubmissionRejected

    if (predictions is None) == (model is None) or (predictions is not None and name is None):
        raise SubmissionRejected("give either --model FILE.py:Class --config CFG.yaml, or --predictions FILE.parquet --name NAME")
    space = Workspace.resolve(workspace)
    options = key_values(dataset_option, "--dataset-option")
    if model is not None:
        from msa_bench.harness.protocol import submit_model
        from msa_bench.harness.training import DEFAULT_SEEDS

        if config is None:
            raise SubmissionRejected("--model needs --config CFG.yaml (a YAML file with 'model:' and 'train:' keys; both may be empty)")
        if engine is Engine.ray:
            from msa_bench.scale.ray_sweep import submit_model_on_ray

            submit_model = partial(submit_model_on_ray, address=address)
        on_interrupt(_resume_hint(space))
        paths = submit_model(
            model, config, dataset, space.records, seeds=tuple(seeds or DEFAULT_SEEDS), device=device, data_dir=data_dir,
            dataset_options=options, robustness_levels=_levels(full_robustness), run_root=space.runs, replace=replace,
            echo=partial(typer.echo, err=True),
        )
    else:
        from msa_bench.harness.submissions import submit_predictions

        paths = [submit_predictions(predictions, dataset, name, space.records, data_dir=data_dir, seed=seed, dataset_config=options, replace=replace)]
    print_results(paths, as_json, typer.echo)
    if not as_json:
        typer.echo(f"records: {space.records}; `msa-bench leaderboard --workspace {space.root}` renders the board")


@app.command()
def verify(
    targets: list[Path] = typer.Argument(..., help="Record files (seedN.json) or entry folders (<records>/<dataset>/<name>)."),
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    dataset_option: Optional[list[str]] = typer.Option(None, "--dataset-option", help=DATASET_OPTION_HELP),
    workspace: Optional[Path] = typer.Option(None, help=WORKSPACE_HELP),
    threads: Optional[int] = typer.Option(None, help="Re-run with this many torch threads instead of the record's (to measure the effect)."),
    as_json: bool = typer.Option(False, "--json", help=JSON_HELP),
) -> None:
    """Re-run recorded seeds through the sandbox and compare their predictions with the records."""
    import json

    from msa_bench.harness.verify import verify_record
    from msa_bench.records.workspace import Workspace

    from msa_bench.util.errors import MissingFileError

    records = []
    for target in targets:
        found = sorted(target.glob("seed*.json")) if target.is_dir() else [target] if target.is_file() else []
        if not found:
            raise MissingFileError(f"{target}: no record (seed*.json) to verify")
        records += found
    space = Workspace.resolve(workspace)
    on_interrupt(f"verification entries written so far are beside their records; checkpoints in {space.runs}")
    options = key_values(dataset_option, "--dataset-option")
    outcomes = [
        verify_record(path, data_dir=data_dir, dataset_options=options, run_root=space.runs, threads=threads,
                      echo=partial(typer.echo, err=True))
        for path in records
    ]
    if as_json:
        typer.echo(json.dumps([{**o.entry, "path": str(o.path)} for o in outcomes], indent=2, sort_keys=True))
    else:
        for outcome in outcomes:
            detail = "" if outcome.result == "identical" else f" (largest difference {outcome.max_abs_difference:.3g})"
            typer.echo(f"{outcome.record}: {outcome.result}{detail}; wrote {outcome.path}")
    if any(o.result != "identical" for o in outcomes):
        raise typer.Exit(1)
