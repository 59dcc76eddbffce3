"""Formatting shared by every section of the pages: numbers, mean ± std, arrows, escaped text and
tables.

Every value that comes from a record (names, paper sources, provenance, tags, notes, reasons) is
free text: it reaches ``LEADERBOARD.md`` through :func:`markdown_text` and the HTML page through
``html.escape``, so no record can add markup, a link or a table column to a page.
"""

from __future__ import annotations

import math
import re
from html import escape

from msa_bench.records.record import MetricSummary
from msa_bench.scoring.metrics import METRICS


def number(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3f}"


def mean_std(summary: MetricSummary | None) -> str:
    if summary is None or not math.isfinite(summary.mean):
        return "—"
    if summary.n > 1 and math.isfinite(summary.std):
        return f"{summary.mean:.3f} ± {summary.std:.3f}"
    return f"{summary.mean:.3f}"


def arrow(metric: str) -> str:
    return "↑" if METRICS.get(metric).higher_is_better else "↓"


def value_attribute(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(round(float(value), 6))


#: What Markdown (GitHub's included: tables, strikethrough, math) or HTML inside Markdown reads
#: as markup: each is written with a backslash, which CommonMark defines as the literal character.
_MARKDOWN_MARKUP = re.compile(r"([\\`*_\[\]<>|&~$])")


def markdown_text(value: object) -> str:
    """``value`` as literal text in a Markdown paragraph or table cell: markup characters
    escaped (``|`` cannot end a cell, ``<script>`` stays text, ``[x](javascript:…)`` is no link)
    and line breaks turned into spaces (a cell is one line).

    >>> markdown_text("a|b <i>[x](javascript:alert(1))</i>")
    'a\\\\|b \\\\<i\\\\>\\\\[x\\\\](javascript:alert(1))\\\\</i\\\\>'
    """
    return _MARKDOWN_MARKUP.sub(r"\\\1", " ".join(str(value).split()))


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table of cells that are Markdown already: free text in them went through
    :func:`markdown_text` (headers are names from the metric registry and checked records)."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def html_table(header: list[tuple[str, str]], rows: list[str], caption: str) -> str:
    """A sortable table; ``header``: (name, tooltip) pairs; ``rows``: the ``<td>`` cells of each row."""
    head = "".join(f'<th title="{escape(title)}">{escape(name)}</th>' for name, title in header)
    body = "\n".join(f"<tr>{row}</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="sortable"><caption>{escape(caption)}</caption>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
    )
