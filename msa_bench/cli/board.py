"""Commands that show results: ``leaderboard``."""

from __future__ import annotations

from pathlib import Path

import typer

from msa_bench.cli.app import app

@app.command()
def leaderboard(
    records: Path = typer.Option(Path("leaderboard/records"), help="Folder of result records."),
    out: Path = typer.Option(Path("leaderboard"), help="Where LEADERBOARD.md and site/index.html are written."),
) -> None:
    """Render LEADERBOARD.md and the static site (site/index.html) from the result records."""
    from msa_bench.board.page import render_leaderboard

    paths = render_leaderboard(records, out)
    typer.echo(f"wrote {paths['markdown']} and {paths['html']}")
