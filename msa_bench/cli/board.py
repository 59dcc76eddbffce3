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
    """Render LEADERBOARD.md and the static site (site/index.html) from the result records.

    Every valid entry is rendered; a record that fails a check is refused: listed with its reason
    on stderr and under "Refused records" on both pages, and the exit status is 1.
    """
    from msa_bench.board.page import render_leaderboard

    rendered = render_leaderboard(records, out)
    for refusal in rendered.refused:
        typer.echo(f"refused: {records / refusal.what}: {refusal.reason}", err=True)
    typer.echo(f"wrote {rendered['markdown']} and {rendered['html']}")
    if rendered.refused:
        typer.echo(
            f"{len(rendered.refused)} record(s) or entries refused (listed above and under 'Refused records' on both pages); "
            "every other entry is rendered",
            err=True,
        )
        raise typer.Exit(1)
