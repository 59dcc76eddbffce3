"""The pages: ``LEADERBOARD.md`` and a static ``site/index.html``, assembled from the sections.

Rendering is deterministic: the same records give byte-identical files (sorted everything, a
fixed bootstrap seed, fixed number formatting, no timestamps). A record or entry that fails a
check, or that the sections cannot render, is refused (listed with its reason on both pages)
and every other entry is rendered. Both pages are written whole or not at all: a full disk
leaves the earlier pages as they were.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import datasets

from msa_bench.board import confusion as confusion_report
from msa_bench.board import refusals as refusals_report
from msa_bench.board import robustness as robustness_report
from msa_bench.board.boards import load_boards
from msa_bench.board.entries import REPOSITORY, Board, Entry
from msa_bench.board.format import arrow, html_table, markdown_table, markdown_text
from msa_bench.board.provenance import PROVENANCE_HEADER, provenance_rows
from msa_bench.board.refusals import Refusal, attempt
from msa_bench.board.scores import (
    LEGEND,
    board_notes,
    html_task_table,
    markdown_cell,
    markdown_label,
    paper_sources,
    table_title,
    task_tables,
)
from msa_bench.util.atomic import stage
from msa_bench.util.errors import MissingFileError


def repository_link(folder: Path) -> str | None:
    """The repository root relative to ``folder`` when the page is written inside it (cards are
    linked only where the link resolves)."""
    folder = folder.resolve()
    return Path(os.path.relpath(REPOSITORY, folder)).as_posix() if folder.is_relative_to(REPOSITORY) else None


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px; padding: 0 1rem; color: #222; box-sizing: border-box; }
.scroll { overflow-x: auto; margin: 0.5rem 0 1.5rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
caption { text-align: left; color: #666; font-size: 0.8rem; padding-bottom: 0.2rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.5rem; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; max-width: 22rem; }
th { background: #f4f4f4; cursor: pointer; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " ▲"; } th[aria-sort="descending"]::after { content: " ▼"; }
td.best, td.tied { font-weight: bold; } td.best { background: #e8f4e8; }
.value { white-space: nowrap; }
.ci, .paper { display: block; font-size: 0.75rem; color: #666; font-weight: normal; }
.tag { font-size: 0.7rem; background: #fff3cd; border: 1px solid #e0c36b; border-radius: 3px; padding: 0 0.25rem; }
details.more > summary { cursor: pointer; color: #0b5394; margin: -1rem 0 1rem; font-size: 0.85rem; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.note { background: #fff8e1; border-left: 4px solid #e0c36b; padding: 0.4rem 0.6rem; }
#refused { border-top: 2px solid #c62828; } #refused li { margin: 0.2rem 0; }
""".strip()


SCRIPT = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (header, column) {
    header.addEventListener("click", function () {
      var ascending = header.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute("data-value"), y = b.cells[column].getAttribute("data-value");
        var nx = x === "" ? NaN : Number(x), ny = y === "" ? NaN : Number(y);
        var order;
        if (isNaN(nx) && isNaN(ny)) { order = x.localeCompare(y); }
        else if (isNaN(nx)) { return 1; }
        else if (isNaN(ny)) { return -1; }
        else { order = nx - ny; }
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  table.setAttribute("data-sortable", "ready");
});
""".strip()


def _refused_notice(refused: list[Refusal]) -> str:
    return f"{len(refused)} record(s) or entries were refused and are not on the board: see Refused records at the end."


def _markdown_board(board: Board, root: str | None) -> list[str]:
    lines = [f"## {markdown_text(board.title)}", ""]
    notes = board_notes(board)
    lines += [*(f"> {markdown_text(note)}" for note in notes), ""] if notes else []
    for table in task_tables(board.entries):
        lines += [f"### {table_title(table)}", ""]
        header = ["model", "seeds", *(f"{m} {arrow(m)}" for m in table.metrics)]
        rows = [
            [markdown_label(e, root), str(len(e.records)), *(markdown_cell(cells[m]) if m in cells else "—" for m in table.metrics)]
            for e, cells in table.rows
        ]
        lines += markdown_table(header, rows)
        sources = paper_sources(table)
        lines += [f"Paper numbers for {markdown_text(model)}: {markdown_text(source)}" for model, source in sources]
        lines += [""] if sources else []
    lines += confusion_report.render_markdown(board.entries)
    provenance = [[markdown_text(value) for value in row] for row in provenance_rows(board.entries)]
    lines += ["### Provenance", ""] + markdown_table(PROVENANCE_HEADER, provenance)
    return lines + robustness_report.render_markdown(board)


def render_markdown(
    boards: list[Board], refused: Sequence[Refusal] = (), root: str | None = None, links: Sequence[tuple[str, str]] = ()
) -> str:
    """The Markdown page; ``root``: the repository root relative to the page, to link model cards;
    ``links``: (text, relative path) of related boards, listed under the legend."""
    lines = ["# msa_bench leaderboard", "", "Rendered by `msa-bench leaderboard` from the result records.", "", LEGEND, ""]
    lines += [*(f"See also: [{markdown_text(text)}]({href})" for text, href in links), ""] if links else []
    lines += [f"> {_refused_notice(list(refused))}", ""] if refused else []
    shown = [board for board in boards if board.entries]
    if not shown:
        lines += ["No records yet.", ""]
    for board in shown:
        lines += _markdown_board(board, root)
    lines += refusals_report.render_markdown(list(refused))
    return "\n".join(lines).rstrip("\n") + "\n"


def _html_board(board: Board, root: str | None) -> str:
    parts = [f'<section id="{escape(board.anchor)}"><h2>{escape(board.title)}</h2>']
    parts += [f'<p class="note">{escape(note)}</p>' for note in board_notes(board)]
    parts += [html_task_table(board, table, root) for table in task_tables(board.entries)]
    parts.append(confusion_report.render_html(board.entries))
    provenance = [
        "".join(f'<td data-value="{escape(value)}">{escape(value)}</td>' for value in row) for row in provenance_rows(board.entries)
    ]
    parts += ["<h3>Provenance</h3>", html_table([(h, h) for h in PROVENANCE_HEADER], provenance, f"{board.title}: where each entry comes from")]
    parts.append(robustness_report.render_html(board))
    return "\n".join(parts) + "\n</section>"


def render_html(
    boards: list[Board], refused: Sequence[Refusal] = (), root: str | None = None, links: Sequence[tuple[str, str]] = ()
) -> str:
    """The page; ``root``: the repository root relative to the page, to link model cards;
    ``links``: (text, relative href) of related boards, in the navigation."""
    shown = [board for board in boards if board.entries]
    navigation = " · ".join(
        [f'<a href="#{escape(b.anchor)}">{escape(b.title)}</a>' for b in shown]
        + (['<a href="#refused">refused records</a>'] if refused else [])
        + [f'see also: <a href="{escape(href)}">{escape(text)}</a>' for text, href in links]
    )
    notice = f'<p class="note">{escape(_refused_notice(list(refused)))}</p>\n' if refused else ""
    body = "\n".join(_html_board(board, root) for board in shown) if shown else "<p>No records yet.</p>"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>msa_bench leaderboard</title>\n<style>\n{STYLE}\n{robustness_report.STYLE}\n</style>\n</head>\n<body>\n"
        f"<h1>msa_bench leaderboard</h1>\n<p>{escape(LEGEND).replace('*', '')}</p>\n<nav>{navigation}</nav>\n{notice}"
        f"{body}\n{refusals_report.render_html(list(refused))}\n<script>\n{SCRIPT}\n</script>\n</body>\n</html>\n"
    )


def renderable(boards: list[Board], refused: list[Refusal]) -> list[Board]:
    """The boards without the entries the sections cannot render (each tried alone on its board),
    which are refused with the error: no record's content can make the page fail."""

    def alone(board: Board, entry: Entry) -> tuple[str, str]:
        single = dataclasses.replace(board, entries=[entry])
        return render_markdown([single]), render_html([single])

    return [
        dataclasses.replace(
            board, entries=[e for e in board.entries if attempt(refused, e.folder, lambda b=board, e=e: alone(b, e)) is not None]
        )
        for board in boards
    ]


@dataclass(frozen=True)
class RenderedBoard(Mapping[str, Path]):
    """The pages written (``"markdown"``, ``"html"`` -> path) and the records refused, with their reasons."""

    pages: dict[str, Path]
    refused: list[Refusal]

    def __getitem__(self, kind: str) -> Path:
        return self.pages[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self.pages)

    def __len__(self) -> int:
        return len(self.pages)


def render_leaderboard(
    records_dir: str | Path,
    out_dir: str | Path,
    n_resamples: int = 1000,
    seed: int = 0,
    datasets_by_name: Mapping[str, datasets.DatasetDict] | None = None,
) -> RenderedBoard:
    """Write ``out_dir/LEADERBOARD.md`` and ``out_dir/site/index.html`` from every valid record
    under ``records_dir``; return their paths and the refused records.

    ``datasets_by_name`` (dataset name -> DatasetDict): the boards whose labels are checked
    against the dataset; boards of datasets not given still render. A missing ``records_dir``
    is an error that leaves any earlier pages alone (an empty folder renders an empty board).
    """
    records_dir, out_dir = Path(records_dir), Path(out_dir)
    if not records_dir.is_dir():
        raise MissingFileError(
            f"{records_dir}: no such records folder, so nothing was rendered and the pages in {out_dir} were left as they "
            "were; pass the folder that holds <dataset>/<model>/seed<N>.json records"
        )
    boards, refused = load_boards(records_dir, n_resamples, seed, datasets_by_name)
    boards = renderable(boards, refused)
    refused = sorted(refused, key=lambda r: r.what)
    paths = {"markdown": out_dir / "LEADERBOARD.md", "html": out_dir / "site" / "index.html"}
    related = related_boards(out_dir)
    markdown_links = [(text, os.path.relpath(board / "LEADERBOARD.md", out_dir)) for text, board in related]
    html_links = [(text, os.path.relpath(board / "site" / "index.html", paths["html"].parent)) for text, board in related]
    texts = {
        "markdown": render_markdown(boards, refused, repository_link(out_dir), markdown_links),
        "html": render_html(boards, refused, repository_link(paths["html"].parent), html_links),
    }
    _write_together({paths[kind]: text for kind, text in texts.items()})
    return RenderedBoard(paths, refused)


def _write_together(files: dict[Path, str]) -> None:
    """Write every file to a temporary beside it, then rename them all into place: an error
    (a full disk) before the renames leaves every earlier file as it was."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            staged.append((stage(path, lambda tmp, text=text: tmp.write_text(text, encoding="utf-8")), path))
    except BaseException:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        raise
    for temporary, path in staged:
        os.replace(temporary, path)


def related_boards(out_dir: Path) -> list[tuple[str, Path]]:
    """Boards rendered in the parent folder or in a direct subfolder of ``out_dir`` (the synthetic
    board in ``leaderboard/``, the real-data one in ``leaderboard/real/``), each named by its
    datasets: nested boards link to each other with no configuration."""
    folders = [out_dir.parent, *sorted(p.parent for p in out_dir.glob("*/LEADERBOARD.md"))]
    found = []
    for folder in folders:
        page = folder / "LEADERBOARD.md"
        if folder.resolve() != out_dir.resolve() and page.is_file():
            headings = [line[3:].strip() for line in page.read_text(encoding="utf-8").splitlines() if line.startswith("## ")]
            names = dict.fromkeys(re.sub(r"\\(.)", r"\1", h).split(" — ")[0] for h in headings if h != refusals_report.TITLE)
            found.append((f"leaderboard of {', '.join(names) or 'no records yet'}", folder))
    return found
