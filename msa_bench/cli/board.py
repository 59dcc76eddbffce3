"""Commands that show results: ``leaderboard``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from msa_bench.cli.app import app
from msa_bench.util.errors import ConfigError


@app.command()
def leaderboard(
    workspace: Optional[Path] = typer.Option(
        None, help="The workspace whose records are rendered, into it (default: $MSA_BENCH_HOME or ./msa_bench_runs)."
    ),
    records: Optional[Path] = typer.Option(None, help="Folder of result records (default: the workspace's records)."),
    out: Optional[Path] = typer.Option(None, help="Where LEADERBOARD.md and site/index.html are written (default: the workspace)."),
    data_dir: Optional[list[str]] = typer.Option(
        None, "--data-dir", help="DATASET=FOLDER (repeat): check the labels and ids of that board's records against this data."
    ),
    dataset_option: Optional[list[str]] = typer.Option(
        None, "--dataset-option", help="DATASET:key=value (repeat): an option for loading --data-dir DATASET, e.g. ravdess:split_scheme=speech20."
    ),
) -> None:
    """Render LEADERBOARD.md and the static site (site/index.html) from the result records.

    Every valid entry is rendered; a record that fails a check is refused: listed with its reason
    on stderr and under "Refused records" on both pages, and the exit status is 1. The labels and
    ids inside every predictions file are checked against the dataset whenever it is available:
    the embedded synthetic one always, the others with ``--data-dir NAME=FOLDER``.
    """
    from msa_bench.board.page import render_leaderboard
    from msa_bench.records.workspace import Workspace

    space = Workspace.resolve(workspace)
    records = records or space.records
    rendered = render_leaderboard(records, out or space.root, datasets_by_name=_datasets(records, data_dir or [], dataset_option or []))
    for refusal in rendered.refused:
        typer.echo(f"refused: {records / refusal.what}: {refusal.reason}", err=True)
    typer.echo(f"board: {rendered['markdown']}\npage: {rendered['html'].resolve().as_uri()}")
    if rendered.refused:
        typer.echo(
            f"{len(rendered.refused)} record(s) or entries refused (listed above and under 'Refused records' on both pages); "
            "every other entry is rendered",
            err=True,
        )
        raise typer.Exit(1)


def _datasets(records: Path, folders: list[str], options: list[str]) -> dict:
    """The datasets whose labels the board is checked against: the default synthetic build when the
    synthetic records were made on it, and every ``NAME=FOLDER`` given (loaded as ``--data-dir``
    with its ``NAME:key=value`` options; records of other data are then refused)."""
    from msa_bench.cli.app import key_values
    from msa_bench.harness.training import dataset_fingerprint
    from msa_bench.loading.load import load_dataset
    from msa_bench.records.record import load_record

    given = {name: Path(str(folder)) for name, folder in key_values(folders, "--data-dir").items()}
    options_of: dict[str, list[str]] = {name: [] for name in given}
    for option in options:
        name, sep, pair = option.partition(":")
        if not sep or name not in given:
            raise ConfigError(
                f"--dataset-option {option!r}: expected DATASET:key=value naming a dataset given to --data-dir "
                f"({', '.join(sorted(given)) or 'none given'}), e.g. ravdess:split_scheme=speech20"
            )
        options_of[name].append(pair)
    found = {}
    synthetic = sorted((Path(records) / "synthetic").glob("*/seed*.json"))
    if synthetic and "synthetic" not in given:
        default = load_dataset("synthetic")
        try:
            made_on_it = load_record(synthetic[0]).dataset_fingerprint == dataset_fingerprint(default)
        except (OSError, ValueError):
            made_on_it = False
        if made_on_it:
            found["synthetic"] = default
    for name, folder in given.items():
        found[name] = load_dataset(name, data_dir=folder, **key_values(options_of[name], "--dataset-option"))
    return found
