"""The pages: ``LEADERBOARD.md`` and a static ``site/index.html``, assembled from the sections.

Rendering is deterministic: the same records give byte-identical files (sorted everything, a
fixed bootstrap seed, fixed number formatting, no timestamps).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path

import datasets

from msa_bench.board import confusion as confusion_report
from msa_bench.board import robustness as robustness_report
from msa_bench.board.entries import REPOSITORY, Entry
from msa_bench.board.format import arrow, html_table, markdown_table
from msa_bench.board.load import load_entries
from msa_bench.board.provenance import PROVENANCE_HEADER, provenance_rows
from msa_bench.board.scores import (
    LEGEND, board_notes, html_task_table, markdown_cell, markdown_label, paper_sources, table_title, task_tables,
)


def repository_link(folder: Path) -> str | None:
    """The repository root relative to ``folder`` when the page is written inside it (cards are
    linked only where the link resolves)."""
    folder = folder.resolve()
    return Path(os.path.relpath(REPOSITORY, folder)).as_posix() if folder.is_relative_to(REPOSITORY) else None


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1400px; padding: 0 1rem; color: #222; }
.scroll { overflow-x: auto; margin: 0.5rem 0 1.5rem; }
table { border-collapse: collapse; font-size: 0.9rem; }
caption { text-align: left; color: #666; font-size: 0.8rem; padding-bottom: 0.2rem; }
th, td { border: 1px solid #ddd; padding: 0.3rem 0.5rem; text-align: right; vertical-align: top; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; cursor: pointer; white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " ▲"; } th[aria-sort="descending"]::after { content: " ▼"; }
td.best, td.tied { font-weight: bold; } td.best { background: #e8f4e8; }
.value { white-space: nowrap; }
.ci, .paper { display: block; font-size: 0.75rem; color: #666; font-weight: normal; }
.tag { font-size: 0.7rem; background: #fff3cd; border: 1px solid #e0c36b; border-radius: 3px; padding: 0 0.25rem; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.note { background: #fff8e1; border-left: 4px solid #e0c36b; padding: 0.4rem 0.6rem; }
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


def render_markdown(entries: dict[str, list[Entry]], root: str | None = None, links: Sequence[tuple[str, str]] = ()) -> str:
    """The Markdown page; ``root``: the repository root relative to the page, to link model cards;
    ``links``: (text, relative path) of related boards, listed under the legend."""
    lines = ["# msa_bench leaderboard", "", "Rendered by `msa-bench leaderboard` from the result records.", "", LEGEND, ""]
    lines += [*(f"See also: [{text}]({href})" for text, href in links), ""] if links else []
    if not entries:
        lines += ["No records yet.", ""]
    for dataset, members in sorted(entries.items()):
        lines += [f"## {dataset}", ""]
        lines += [*(f"> {note}" for note in board_notes(dataset, members)), ""] if board_notes(dataset, members) else []
        for table in task_tables(members):
            lines += [f"### {table_title(table)}", ""]
            header = ["model", "seeds", *(f"{m} {arrow(m)}" for m in table.metrics)]
            rows = [
                [markdown_label(e, root), str(len(e.records)), *(markdown_cell(cells[m]) if m in cells else "—" for m in table.metrics)]
                for e, cells in table.rows
            ]
            lines += markdown_table(header, rows)
            lines += [f"Paper numbers for {model}: {source}" for model, source in paper_sources(table)]
            if paper_sources(table):
                lines.append("")
        lines += confusion_report.render_markdown(members)
        lines += ["### Provenance", ""] + markdown_table(PROVENANCE_HEADER, provenance_rows(members))
        lines += robustness_report.render_markdown(dataset, members)
    return "\n".join(lines).rstrip("\n") + "\n"


def render_html(entries: dict[str, list[Entry]], root: str | None = None, links: Sequence[tuple[str, str]] = ()) -> str:
    """The page; ``root``: the repository root relative to the page, to link model cards;
    ``links``: (text, relative href) of related boards, in the navigation."""
    sections = []
    for dataset, members in sorted(entries.items()):
        parts = [f'<section id="{escape(dataset)}"><h2>{escape(dataset)}</h2>']
        parts += [f'<p class="note">{escape(note).replace("`", "")}</p>' for note in board_notes(dataset, members)]
        parts += [html_task_table(dataset, table, root) for table in task_tables(members)]
        parts.append(confusion_report.render_html(members))
        provenance = [
            "".join(f'<td data-value="{escape(value)}">{escape(value)}</td>' for value in row) for row in provenance_rows(members)
        ]
        parts += ["<h3>Provenance</h3>", html_table([(h, h) for h in PROVENANCE_HEADER], provenance, f"{dataset}: where each entry comes from")]
        parts.append(robustness_report.render_html(dataset, members))
        sections.append("\n".join(parts) + "\n</section>")
    navigation = " · ".join(
        [f'<a href="#{escape(d)}">{escape(d)}</a>' for d in sorted(entries)]
        + [f'see also: <a href="{escape(href)}">{escape(text)}</a>' for text, href in links]
    )
    body = "\n".join(sections) if sections else "<p>No records yet.</p>"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>msa_bench leaderboard</title>\n<style>\n{STYLE}\n{robustness_report.STYLE}\n</style>\n</head>\n<body>\n"
        f"<h1>msa_bench leaderboard</h1>\n<p>{escape(LEGEND).replace('*', '')}</p>\n<nav>{navigation}</nav>\n"
        f"{body}\n<script>\n{SCRIPT}\n</script>\n</body>\n</html>\n"
    )


def render_leaderboard(
    records_dir: str | Path,
    out_dir: str | Path,
    n_resamples: int = 1000,
    seed: int = 0,
    datasets_by_name: Mapping[str, datasets.DatasetDict] | None = None,
) -> dict[str, Path]:
    """Write ``out_dir/LEADERBOARD.md`` and ``out_dir/site/index.html``; return their paths.

    ``datasets_by_name`` (dataset name -> DatasetDict): the boards whose labels are checked
    against the dataset; boards of datasets not given still render.
    """
    entries = load_entries(Path(records_dir), n_resamples, seed, datasets_by_name)
    out_dir = Path(out_dir)
    paths = {"markdown": out_dir / "LEADERBOARD.md", "html": out_dir / "site" / "index.html"}
    paths["html"].parent.mkdir(parents=True, exist_ok=True)
    related = related_boards(out_dir)
    markdown_links = [(text, os.path.relpath(board / "LEADERBOARD.md", out_dir)) for text, board in related]
    html_links = [(text, os.path.relpath(board / "site" / "index.html", paths["html"].parent)) for text, board in related]
    paths["markdown"].write_text(render_markdown(entries, repository_link(paths["markdown"].parent), markdown_links), encoding="utf-8")
    paths["html"].write_text(render_html(entries, repository_link(paths["html"].parent), html_links), encoding="utf-8")
    return paths


def related_boards(out_dir: Path) -> list[tuple[str, Path]]:
    """Boards rendered in the parent folder or in a direct subfolder of ``out_dir`` (the synthetic
    board in ``leaderboard/``, the real-data one in ``leaderboard/real/``), each named by its
    datasets: nested boards link to each other with no configuration."""
    folders = [out_dir.parent, *sorted(p.parent for p in out_dir.glob("*/LEADERBOARD.md"))]
    found = []
    for folder in folders:
        page = folder / "LEADERBOARD.md"
        if folder.resolve() != out_dir.resolve() and page.is_file():
            datasets_on_it = [line[3:].strip() for line in page.read_text(encoding="utf-8").splitlines() if line.startswith("## ")]
            found.append((f"leaderboard of {', '.join(datasets_on_it) or 'no records yet'}", folder))
    return found
