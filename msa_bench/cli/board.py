"""Commands that show results: ``leaderboard``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from msa_bench.cli.app import app


@app.command()
def leaderboard(
    workspace: Optional[Path] = typer.Option(
        None, help="The workspace whose records are rendered, into it (default: $MSA_BENCH_HOME or ./msa_bench_runs)."
    ),
    records: Optional[Path] = typer.Option(None, help="Folder of result records (default: the workspace's records)."),
    out: Optional[Path] = typer.Option(None, help="Where LEADERBOARD.md and site/index.html are written (default: the workspace)."),
) -> None:
    """Render LEADERBOARD.md and the static site (site/index.html) from the result records.

    Every valid entry is rendered; a record that fails a check is refused: listed with its reason
    on stderr and under "Refused records" on both pages, and the exit status is 1.
    """
    from msa_bench.board.page import render_leaderboard
    from msa_bench.records.workspace import Workspace

    space = Workspace.resolve(workspace)
    records = records or space.records
    rendered = render_leaderboard(records, out or space.root)
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
