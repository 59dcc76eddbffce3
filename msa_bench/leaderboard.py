"""Render the leaderboard from result records: ``LEADERBOARD.md`` and a static ``site/index.html``.

Per dataset and task, one table of mean ± sample std over seeds, the 95% bootstrap CI of that
seed-mean (resampling test examples, all models on the same resamples), the model's published
number beside the reproduced one, and marks for the best entry and the entries not
significantly worse than it (one-sided paired bootstrap on the saved predictions, p >= 0.05).
Robustness results are rendered by :mod:`msa_bench.robustness_report`.

Rendering is deterministic: the same records give byte-identical files (sorted everything, a
fixed bootstrap seed, fixed number formatting, no timestamps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd

from msa_bench.metrics import METRICS, PRIMARY_METRIC, TASKS, bootstrap_scores, paired_pvalue, task_metrics
from msa_bench.results import MetricSummary, ResultRecord, aggregate, load_predictions, load_record, record_files
from msa_bench.robustness import training_tags

SIGNIFICANCE_LEVEL = 0.05
#: Tag of an entry scored on other test examples than the table's top entry (not compared).
OTHER_TEST_SET = "other test examples, not compared"
TASK_TITLES = {"sentiment": "Sentiment regression", "emotions": "Emotion intensities", "emotion": "Categorical emotion"}


# --- the data behind the pages ------------------------------------------------------------------


@dataclass
class Entry:
    """One model on one dataset: its records (one per seed) and their predictions."""

    model: str
    kind: str
    records: list[ResultRecord]
    summary: dict[str, MetricSummary]
    scores: dict[str, np.ndarray]  # bootstrap distribution of each seed-mean metric
    ids: frozenset[str]

    @property
    def paper(self) -> dict:
        return self.records[0].paper_results

    @property
    def predictions_only(self) -> bool:
        return self.kind == "predictions_only"


@dataclass(frozen=True)
class Cell:
    mean: float
    std: float
    n: int
    low: float
    high: float
    paper: float | None
    mark: str  # "best", "tied" (not significantly worse than the best) or ""
    p_value: float | None  # vs the best entry


@dataclass(frozen=True)
class Table:
    task: str
    metrics: tuple[str, ...]
    rows: list[tuple[Entry, dict[str, Cell]]]
    reference_ids: frozenset[str]  # the test ids of the top entry; others are not compared

    def other_test_set(self, entry: Entry) -> bool:
        return entry.ids != self.reference_ids


def _load_entries(records_dir: Path, n_resamples: int, seed: int) -> dict[str, list[Entry]]:
    groups: dict[tuple[str, str], list[tuple[ResultRecord, pd.DataFrame]]] = {}
    for path in record_files(records_dir):
        record = load_record(path)
        if (path.parent.parent.name, path.parent.name, path.name) != (record.dataset, record.model, f"seed{record.seed}.json"):
            raise ValueError(f"{path}: holds {record.dataset}/{record.model}/seed{record.seed}; the file is misplaced")
        groups.setdefault((record.dataset, record.model), []).append((record, load_predictions(path)))
    entries: dict[str, list[Entry]] = {}
    for (dataset, model), items in sorted(groups.items()):
        records = [record for record, _ in items]
        kinds = sorted({record.kind for record in records})
        if len(kinds) > 1:
            raise ValueError(f"{records_dir / dataset / model}: records mix kinds {kinds}; use another model name")
        tables = [table for _, table in items]
        entries.setdefault(dataset, []).append(
            Entry(
                model=model,
                kind=kinds[0],
                records=records,
                summary=aggregate(records)[(model, dataset)],
                scores=bootstrap_scores(tables, n_resamples=n_resamples, seed=seed),
                ids=frozenset(tables[0]["id"]),
            )
        )
    return entries


def _is_better(a: float, b: float, metric: str) -> bool:
    return a > b if METRICS.get(metric).higher_is_better else a < b


def _best(entries: list[Entry], metric: str) -> Entry | None:
    best = None
    for entry in entries:  # sorted by model name: the first of equals wins
        value = entry.summary[metric].mean if metric in entry.summary else math.nan
        if math.isfinite(value) and (best is None or _is_better(value, best.summary[metric].mean, metric)):
            best = entry
    return best


def _cell(entry: Entry, metric: str, best: Entry | None) -> Cell:
    summary = entry.summary[metric]
    scores = entry.scores.get(metric, np.array([np.nan]))
    defined = scores[~np.isnan(scores)]
    low, high = (float(v) for v in np.percentile(defined, [2.5, 97.5])) if defined.size else (math.nan, math.nan)
    paper = entry.paper.get(metric)
    mark, p_value = "", None
    if best is entry:
        mark = "best"
    elif best is not None and math.isfinite(summary.mean) and entry.ids == best.ids and metric in best.scores:
        p_value = paired_pvalue(best.scores[metric], scores, metric)
        mark = "tied" if p_value >= SIGNIFICANCE_LEVEL else ""
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


def _task_table(entries: list[Entry], task: str) -> Table | None:
    names = task_metrics(task)
    members = [e for e in entries if any(name in e.summary for name in names)]
    if not members:
        return None
    metrics = tuple(name for name in names if any(name in e.summary for e in members))
    primary = PRIMARY_METRIC[task] if PRIMARY_METRIC[task] in metrics else metrics[0]
    members.sort(key=lambda e: _sort_key(e, primary))
    bests = {metric: _best(sorted(members, key=lambda e: e.model), metric) for metric in metrics}
    rows = [(e, {m: _cell(e, m, bests[m]) for m in metrics if m in e.summary}) for e in members]
    return Table(task, metrics, rows, members[0].ids)


# --- formatting ---------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _mean_std(summary: MetricSummary | None) -> str:
    if summary is None or not math.isfinite(summary.mean):
        return "—"
    if summary.n > 1 and math.isfinite(summary.std):
        return f"{summary.mean:.3f} ± {summary.std:.3f}"
    return f"{summary.mean:.3f}"


def _arrow(metric: str) -> str:
    return "↑" if METRICS.get(metric).higher_is_better else "↓"


def _tasks_of(entries: list[Entry]) -> list[Table]:
    return [table for table in (_task_table(entries, task) for task in TASKS) if table is not None]


def _paper_sources(table: Table) -> list[tuple[str, str]]:
    return [(e.model, str(e.paper["source"])) for e, _ in table.rows if e.paper.get("source")]


LEGEND = (
    "Cells: mean ± sample standard deviation over training seeds; [low, high] is the 95% bootstrap "
    "confidence interval of that seed-mean (1,000 resamples of the test examples, the same resamples "
    "for every model). ↑ higher is better, ↓ lower is better. ★ marks the best entry; bold marks it "
    "and every entry not significantly worse than it (one-sided paired bootstrap, p ≥ 0.05). "
    "(paper x) is the number the model's paper reports. Entries marked *predictions only* were "
    "submitted as test predictions, without the training protocol or robustness evaluation."
)


# --- Markdown -----------------------------------------------------------------------------------


def _markdown_cell(cell: Cell) -> str:
    text = _mean_std(MetricSummary(cell.mean, cell.std, cell.n))
    if cell.mark:
        text = f"**{text}**" + (" ★" if cell.mark == "best" else "")
    if math.isfinite(cell.low):
        text += f" [{cell.low:.3f}, {cell.high:.3f}]"
    if cell.paper is not None:
        text += f" (paper {cell.paper:.3f})"
    return text


def _markdown_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(["---"] + ["---:"] * (len(header) - 1)) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines + [""]


def _markdown_label(entry: Entry, other_test_set: bool = False) -> str:
    tags = [tag for tag, on in (("predictions only", entry.predictions_only), (OTHER_TEST_SET, other_test_set)) if on]
    tags += training_tags(entry.records[0].config)
    return entry.model + "".join(f" *({tag})*" for tag in tags)


def render_markdown(entries: dict[str, list[Entry]]) -> str:
    from msa_bench import robustness_report  # it builds on this module's formatting

    lines = ["# msa_bench leaderboard", "", "Rendered by `msa-bench leaderboard` from the result records.", "", LEGEND, ""]
    if not entries:
        lines += ["No records yet.", ""]
    for dataset, members in sorted(entries.items()):
        lines += [f"## {dataset}", ""]
        for table in _tasks_of(members):
            lines += [f"### {TASK_TITLES[table.task]}", ""]
            header = ["model", "seeds", *(f"{m} {_arrow(m)}" for m in table.metrics)]
            rows = [
                [_markdown_label(e, table.other_test_set(e)), str(len(e.records)), *(_markdown_cell(cells[m]) if m in cells else "—" for m in table.metrics)]
                for e, cells in table.rows
            ]
            lines += _markdown_table(header, rows)
            lines += [f"Paper numbers for {model}: {source}" for model, source in _paper_sources(table)]
            if _paper_sources(table):
                lines.append("")
        lines += robustness_report.render_markdown(dataset, members)
    return "\n".join(lines).rstrip("\n") + "\n"


# --- HTML ---------------------------------------------------------------------------------------

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


def _value_attribute(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else repr(round(float(value), 6))


def _html_cell(cell: Cell) -> str:
    star = " ★" if cell.mark == "best" else ""
    text = f'<span class="value">{escape(_mean_std(MetricSummary(cell.mean, cell.std, cell.n)))}{star}</span>'
    if math.isfinite(cell.low):
        text += f'<span class="ci">[{cell.low:.3f}, {cell.high:.3f}]</span>'
    if cell.paper is not None:
        text += f'<span class="paper">paper {cell.paper:.3f}</span>'
    title = f' title="p = {cell.p_value:.3f} vs the best (one-sided paired bootstrap)"' if cell.p_value is not None else ""
    css = f' class="{cell.mark}"' if cell.mark else ""
    return f'<td data-value="{_value_attribute(cell.mean)}"{css}{title}>{text}</td>'


def _html_label(entry: Entry, other_test_set: bool = False) -> str:
    tags = [tag for tag, on in (("predictions only", entry.predictions_only), (OTHER_TEST_SET, other_test_set)) if on]
    tags += training_tags(entry.records[0].config)
    shown = "".join(f' <span class="tag">{escape(tag)}</span>' for tag in tags)
    return f'<td data-value="{escape(entry.model)}">{escape(entry.model)}{shown}</td>'


def _html_table(header: list[tuple[str, str]], rows: list[str], caption: str) -> str:
    head = "".join(f'<th title="{escape(title)}">{escape(name)}</th>' for name, title in header)
    body = "\n".join(f"<tr>{row}</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="sortable"><caption>{escape(caption)}</caption>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
    )


def _html_task_table(dataset: str, table: Table) -> str:
    header = [("model", "model name"), ("seeds", "number of training seeds")]
    header += [(f"{m} {_arrow(m)}", METRICS.get(m).description) for m in table.metrics]
    rows = []
    for entry, cells in table.rows:
        values = "".join(_html_cell(cells[m]) if m in cells else '<td data-value="">—</td>' for m in table.metrics)
        rows.append(f'{_html_label(entry, table.other_test_set(entry))}<td data-value="{len(entry.records)}">{len(entry.records)}</td>{values}')
    html = [f"<h3>{escape(TASK_TITLES[table.task])}</h3>", _html_table(header, rows, f"{dataset}: {TASK_TITLES[table.task]}")]
    sources = _paper_sources(table)
    if sources:
        items = "".join(f"<li>{escape(model)}: {escape(source)}</li>" for model, source in sources)
        html.append(f"<p>Paper numbers:</p><ul>{items}</ul>")
    return "\n".join(html)


def render_html(entries: dict[str, list[Entry]]) -> str:
    from msa_bench import robustness_report  # it builds on this module's formatting

    sections = []
    for dataset, members in sorted(entries.items()):
        parts = [f'<section id="{escape(dataset)}"><h2>{escape(dataset)}</h2>']
        parts += [_html_task_table(dataset, table) for table in _tasks_of(members)]
        parts.append(robustness_report.render_html(dataset, members))
        sections.append("\n".join(parts) + "\n</section>")
    navigation = " · ".join(f'<a href="#{escape(d)}">{escape(d)}</a>' for d in sorted(entries))
    body = "\n".join(sections) if sections else "<p>No records yet.</p>"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>msa_bench leaderboard</title>\n<style>\n{STYLE}\n{robustness_report.STYLE}\n</style>\n</head>\n<body>\n"
        f"<h1>msa_bench leaderboard</h1>\n<p>{escape(LEGEND).replace('*', '')}</p>\n<nav>{navigation}</nav>\n"
        f"{body}\n<script>\n{SCRIPT}\n</script>\n</body>\n</html>\n"
    )


# --- entry point --------------------------------------------------------------------------------


def render_leaderboard(
    records_dir: str | Path, out_dir: str | Path, n_resamples: int = 1000, seed: int = 0
) -> dict[str, Path]:
    """Write ``out_dir/LEADERBOARD.md`` and ``out_dir/site/index.html``; return their paths."""
    entries = _load_entries(Path(records_dir), n_resamples, seed)
    out_dir = Path(out_dir)
    paths = {"markdown": out_dir / "LEADERBOARD.md", "html": out_dir / "site" / "index.html"}
    paths["html"].parent.mkdir(parents=True, exist_ok=True)
    paths["markdown"].write_text(render_markdown(entries), encoding="utf-8")
    paths["html"].write_text(render_html(entries), encoding="utf-8")
    return paths
