"""The score tables: per dataset and task, mean ± sample std over seeds, the 95% bootstrap CI of
that seed-mean, the published number beside the reproduced one, and marks for the best entry and
the entries not significantly worse than it (one-sided paired bootstrap over test examples and
seeds, Holm-corrected within each column)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

import numpy as np

from msa_bench.board.entries import PROTOCOL_SEEDS, Board, Entry, entry_tags
from msa_bench.board.format import (
    arrow,
    html_table,
    markdown_text,
    mean_std,
    value_attribute,
)
from msa_bench.records.record import MetricSummary
from msa_bench.scoring.metrics import (
    METRICS,
    PRIMARY_METRIC,
    TASKS,
    holm_rejections,
    paired_pvalue,
    task_metrics,
)

SIGNIFICANCE_LEVEL = 0.05


TASK_TITLES = {"sentiment": "Sentiment regression", "emotions": "Emotion intensities", "emotion": "Categorical emotion"}


@dataclass(frozen=True)
class Cell:
    mean: float
    std: float
    n: int
    low: float
    high: float
    paper: float | None
    mark: str  # "best", "tied" (not significantly worse than the best after Holm) or ""
    p_value: float | None  # vs the best entry, uncorrected


@dataclass(frozen=True)
class Table:
    task: str
    metrics: tuple[str, ...]
    rows: list[tuple[Entry, dict[str, Cell]]]
    ranked: bool  # False for predictions-only submissions: no marks, no significance


def _is_better(a: float, b: float, metric: str) -> bool:
    return a > b if METRICS.get(metric).higher_is_better else a < b


def _best(entries: list[Entry], metric: str) -> Entry | None:
    best = None
    for entry in entries:  # sorted by model name: the first of equals wins
        value = entry.summary[metric].mean if metric in entry.summary else math.nan
        if math.isfinite(value) and (best is None or _is_better(value, best.summary[metric].mean, metric)):
            best = entry
    return best


def _p_values(members: list[Entry], metric: str, best: Entry | None) -> dict[str, float]:
    """One-sided paired p-value that the best entry is better, for every other entry with a value."""
    if best is None or metric not in best.scores:
        return {}
    return {
        e.model: paired_pvalue(best.scores[metric], e.scores[metric], metric)
        for e in members
        if e is not best and metric in e.scores and math.isfinite(e.summary[metric].mean)
    }


def _cell(entry: Entry, metric: str, best: Entry | None, p_value: float | None, worse: bool) -> Cell:
    """``worse``: Holm's procedure over the column rejected "not worse than the best"."""
    summary = entry.summary[metric]
    scores = entry.scores.get(metric, np.array([np.nan]))
    defined = scores[~np.isnan(scores)]
    low, high = (float(v) for v in np.percentile(defined, [2.5, 97.5])) if defined.size else (math.nan, math.nan)
    paper = entry.paper.get(metric)
    mark = "best" if best is entry else ("tied" if p_value is not None and not worse else "")
    return Cell(
        summary.mean,
        summary.std,
        summary.n,
        low,
        high,
        float(paper) if isinstance(paper, (int, float)) else None,
        mark,
        p_value,
    )


def _sort_key(entry: Entry, metric: str) -> tuple:
    value = entry.summary[metric].mean if metric in entry.summary else math.nan
    if not math.isfinite(value):
        return (1, 0.0, entry.model)
    return (0, -value if METRICS.get(metric).higher_is_better else value, entry.model)


def _task_table(entries: list[Entry], task: str, ranked: bool) -> Table | None:
    """The table of one task; ``ranked`` tables mark the best entry and those not significantly
    worse than it (Holm over each column's comparisons with the best)."""
    names = task_metrics(task)
    members = [e for e in entries if any(name in e.summary for name in names)]
    if not members:
        return None
    metrics = tuple(name for name in names if any(name in e.summary for e in members))
    primary = PRIMARY_METRIC[task] if PRIMARY_METRIC[task] in metrics else metrics[0]
    members.sort(key=lambda e: _sort_key(e, primary))
    columns: dict[str, tuple[Entry | None, dict[str, float], set[str]]] = {}
    for metric in metrics:
        best = _best(sorted(members, key=lambda e: e.model), metric) if ranked else None
        p_values = _p_values(members, metric, best)
        worse = {model for model, rejected in zip(p_values, holm_rejections(list(p_values.values()), SIGNIFICANCE_LEVEL)) if rejected}
        columns[metric] = (best, p_values, worse)
    rows = [
        (e, {m: _cell(e, m, columns[m][0], columns[m][1].get(e.model), e.model in columns[m][2]) for m in metrics if m in e.summary})
        for e in members
    ]
    return Table(task, metrics, rows, ranked)


def task_tables(entries: list[Entry]) -> list[Table]:
    """The ranked tables of protocol-trained entries, then unranked ones of predictions-only entries."""
    tables = []
    for ranked in (True, False):
        group = [e for e in entries if e.predictions_only != ranked]
        tables += [t for t in (_task_table(group, task, ranked) for task in TASKS) if t is not None]
    return tables


def table_title(table: Table) -> str:
    title = TASK_TITLES[table.task]
    return title if table.ranked else f"{title}: predictions-only submissions (not verified, not ranked)"


def board_notes(board: Board) -> list[str]:
    """Plain-text notes above a board's tables."""
    notes = []
    if board.dataset == "synthetic":
        notes.append(
            "These numbers come from the embedded synthetic dataset with each model's short \"synthetic\" "
            "schedule: they test the harness and are not comparable with any paper's."
        )
    few = sorted(e.model for e in board.entries if len(e.records) < PROTOCOL_SEEDS and not e.reference)
    if few:
        notes.append(
            f"Entries with fewer than the protocol's {PROTOCOL_SEEDS} seeds (a quick msa-bench run uses one) show no ± "
            f"and their significance ignores seed variance: {', '.join(few)}."
        )
    return notes


def paper_sources(table: Table) -> list[tuple[str, str]]:
    return [(e.model, str(e.paper["source"])) for e, _ in table.rows if e.paper.get("source")]


LEGEND = (
    "Every number below is recomputed from the saved test predictions. Cells: mean ± sample standard "
    "deviation over training seeds; [low, high] is the 95% bootstrap confidence interval of that "
    "seed-mean (1,000 resamples of the test examples, the same for every model, each also resampling "
    "the training seeds with replacement). ↑ higher is better, ↓ lower is better. ★ marks the best "
    "entry of a column; bold marks it and every entry not significantly worse than it: a one-sided "
    "paired bootstrap test of each entry against the best (over test examples and seeds), with Holm's "
    "correction over the column's comparisons at a family-wise 0.05. (paper x) is the number the "
    "model's paper reports. Entries tagged *submitted code* ran a submitter's model through this "
    "protocol (the others are this repository's baselines, re-run by the maintainers). "
    "Predictions-only submissions (test predictions without the training protocol; their labels are "
    "public, so they cannot be verified) are in tables of their own and never ranked."
)


def markdown_cell(cell: Cell) -> str:
    text = mean_std(MetricSummary(cell.mean, cell.std, cell.n))
    if cell.mark:
        text = f"**{text}**" + (" ★" if cell.mark == "best" else "")
    if math.isfinite(cell.low):
        text += f" [{cell.low:.3f}, {cell.high:.3f}]"
    if cell.paper is not None:
        text += f" (paper {cell.paper:.3f})"
    return text


def markdown_label(entry: Entry, root: str | None) -> str:
    name = markdown_text(entry.model)
    if root is not None and entry.card:
        name = f"[{name}]({root}/{entry.card})"
    return name + "".join(f" *({markdown_text(tag)})*" for tag in entry_tags(entry))


def html_cell(cell: Cell) -> str:
    star = " ★" if cell.mark == "best" else ""
    text = f'<span class="value">{escape(mean_std(MetricSummary(cell.mean, cell.std, cell.n)))}{star}</span>'
    if math.isfinite(cell.low):
        text += f'<span class="ci">[{cell.low:.3f}, {cell.high:.3f}]</span>'
    if cell.paper is not None:
        text += f'<span class="paper">paper {cell.paper:.3f}</span>'
    title = f' title="p = {cell.p_value:.3f} vs the best (one-sided paired bootstrap)"' if cell.p_value is not None else ""
    css = f' class="{cell.mark}"' if cell.mark else ""
    return f'<td data-value="{value_attribute(cell.mean)}"{css}{title}>{text}</td>'


def html_label(entry: Entry, root: str | None) -> str:
    tags = entry_tags(entry)
    shown = "".join(f' <span class="tag">{escape(tag)}</span>' for tag in tags)
    name = escape(entry.model)
    if root is not None and entry.card:
        name = f'<a href="{escape(root)}/{escape(entry.card)}" title="model card and fidelity table">{name}</a>'
    return f'<td data-value="{escape(entry.model)}">{name}{shown}</td>'


#: The columns of each task's table on the HTML page (the ones papers report), the primary metric
#: first; the task's other metrics are one click away, in a table below it.
HEADLINE_METRICS: dict[str, tuple[str, ...]] = {
    "sentiment": ("acc2_non0", "f1_non0", "acc7", "mae", "corr"),
    "emotions": ("emotions_wacc_mean", "emotions_f1_mean"),
    "emotion": ("emotion_wa", "emotion_ua", "emotion_macro_f1"),
}


def _html_rows(table: Table, metrics: tuple[str, ...], root: str | None) -> list[str]:
    rows = []
    for entry, cells in table.rows:
        values = "".join(html_cell(cells[m]) if m in cells else '<td data-value="">—</td>' for m in metrics)
        rows.append(f'{html_label(entry, root)}<td data-value="{len(entry.records)}">{len(entry.records)}</td>{values}')
    return rows


def _html_header(metrics: tuple[str, ...]) -> list[tuple[str, str]]:
    return [("model", "model name"), ("seeds", "number of training seeds")] + [(f"{m} {arrow(m)}", METRICS.get(m).description) for m in metrics]


def html_task_table(board: Board, table: Table, root: str | None = None) -> str:
    """The task's headline metrics (:data:`HEADLINE_METRICS`) in a table that fits the page, its
    other metrics in a second table inside a ``<details>`` below."""
    title = table_title(table)
    headline = tuple(m for m in HEADLINE_METRICS[table.task] if m in table.metrics) or table.metrics
    others = tuple(m for m in table.metrics if m not in headline)
    html = [f"<h3>{escape(title)}</h3>", html_table(_html_header(headline), _html_rows(table, headline, root), f"{board.title}: {title}")]
    if others:
        html.append(
            f'<details class="more"><summary>{len(others)} more metric(s): {escape(", ".join(others))}</summary>'
            + html_table(_html_header(others), _html_rows(table, others, root), f"{board.title}: {title}, other metrics")
            + "</details>"
        )
    sources = paper_sources(table)
    if sources:
        items = "".join(f"<li>{escape(model)}: {escape(source)}</li>" for model, source in sources)
        html.append(f"<p>Paper numbers:</p><ul>{items}</ul>")
    return "\n".join(html)
