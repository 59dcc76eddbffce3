"""Formatting shared by every section of the pages: numbers, mean ± std, arrows and tables."""

from __future__ import annotations

import math
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


def markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def html_table(header: list[tuple[str, str]], rows: list[str], caption: str) -> str:
    head = "".join(f'<th title="{escape(title)}">{escape(name)}</th>' for name, title in header)
    body = "\n".join(f"<tr>{row}</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="sortable"><caption>{escape(caption)}</caption>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
    )
