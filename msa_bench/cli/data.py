"""Commands that describe or write datasets: ``datasets``, ``info``, ``export``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from msa_bench.cli.app import DATA_DIR_HELP, app, key_values

@app.command("datasets")
def list_datasets() -> None:
    """List every dataset name `info`, `train` and `extract` accept, with one line on each."""
    from msa_bench.builders import DESCRIPTIONS, OTHER_NAMES, dataset_names

    names = dataset_names()
    width = max(map(len, names))
    for name in names:
        typer.echo(f"{name:<{width}}  {DESCRIPTIONS.get(name, '')}".rstrip())
    typer.echo(OTHER_NAMES)


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

    dataset = load_dataset(name, data_dir=data_dir, **key_values(dataset_option, "--dataset-option"))
    summary = dataset_info(name, dataset)
    typer.echo(json.dumps(summary, indent=2, sort_keys=True) if as_json else format_info(summary))


@app.command()
def export(
    name: str,
    out_dir: Path,
    data_dir: Optional[Path] = typer.Option(None, help=DATA_DIR_HELP),
    push_to_hub: Optional[str] = typer.Option(None, help="Also upload to this hub dataset repo (user/name)."),
    card_appendix: Optional[Path] = typer.Option(None, help="Markdown file appended to the generated dataset card."),
    config: Optional[list[str]] = typer.Option(None, "--dataset-option", "--config", help="Dataset option as key=value (repeat); values parse as JSON when they can."),
) -> None:
    """Write a dataset as parquet shards plus a hub-ready dataset card."""
    from msa_bench.loading.export import export_dataset

    written = export_dataset(
        name, out_dir, data_dir=data_dir, push_to_hub=push_to_hub, card_appendix=card_appendix, **key_values(config, "--dataset-option")
    )
    typer.echo(f"exported {name} to {written}")
