"""The ``msa-bench`` command line. Each command is a thin wrapper over the Python API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(help="msa_bench: reproducible multimodal sentiment analysis benchmarks.", no_args_is_help=True)


@app.command("datasets")
def list_datasets() -> None:
    """List the datasets msa_bench can build."""
    from msa_bench.builders import DATASETS

    for name in DATASETS.names():
        typer.echo(name)


@app.command()
def info(
    name: str,
    data_dir: Optional[Path] = typer.Option(None, help="Folder holding the dataset's source files."),
    as_json: bool = typer.Option(False, "--json", help="Print the stable JSON form (see README)."),
) -> None:
    """Split sizes, feature dimensions and label statistics of a dataset."""
    from msa_bench.info import dataset_info, format_info
    from msa_bench.loading import load_dataset

    summary = dataset_info(name, load_dataset(name, data_dir=data_dir))
    typer.echo(json.dumps(summary, indent=2, sort_keys=True) if as_json else format_info(summary))


@app.command()
def export(
    name: str,
    out_dir: Path,
    data_dir: Optional[Path] = typer.Option(None, help="Folder holding the dataset's source files."),
    push_to_hub: Optional[str] = typer.Option(None, help="Also upload to this hub dataset repo (user/name)."),
) -> None:
    """Write a dataset as parquet shards plus a hub-ready dataset card."""
    from msa_bench.export import export_dataset

    written = export_dataset(name, out_dir, data_dir=data_dir, push_to_hub=push_to_hub)
    typer.echo(f"exported {name} to {written}")
