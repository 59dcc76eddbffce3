"""The ``models`` command: the built-in models, read from the catalogue (no torch import)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from msa_bench.cli.app import app

#: ``msa_bench/models/catalog.json``, read without importing ``msa_bench.models`` (torch).
CATALOG = Path(__file__).resolve().parents[1] / "models" / "catalog.json"


def load_catalog() -> list[dict]:
    return json.loads(CATALOG.read_text(encoding="utf-8"))


@app.command("models")
def list_models(as_json: bool = typer.Option(False, "--json", help="Print the catalogue as JSON.")) -> None:
    """List the built-in models: modalities read, tasks, paper and fidelity to the official code."""
    rows = load_catalog()
    if as_json:
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    header = ("model", "reads", "own tasks", "fidelity", "paper")
    table = [header] + [
        (r["name"], "+".join(m[0] for m in r["reads"]), ", ".join(r["tasks"]), r["fidelity"], r["paper"][:60]) for r in rows
    ]
    widths = [max(len(row[k]) for row in table) for k in range(len(header) - 1)]
    for row in table:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[-1])
    typer.echo("\nreads: t text, a audio, v vision. Every model also predicts the dataset's other tasks through shared heads.")
    typer.echo("Cards (components compared with the official code): docs/models/<model>.md")
