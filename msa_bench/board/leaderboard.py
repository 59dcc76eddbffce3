"""Render the leaderboard from result records: ``LEADERBOARD.md`` and a static ``site/index.html``.

Per dataset and task, one table of mean ± sample std over seeds, the 95% bootstrap CI of that
seed-mean (resampling test examples, all models on the same resamples, and the training seeds),
the model's published number beside the reproduced one, and marks for the best entry and the
entries not significantly worse than it (one-sided paired bootstrap over test examples and
seeds, Holm-corrected within each column). Robustness results are rendered by
:mod:`msa_bench.board.robustness`.

Nothing in a record is taken on trust: every cell, interval and mark is recomputed from the
saved predictions. A record whose stored metrics disagree with its predictions, whose test ids
differ from the board's, whose dataset fingerprint differs from the board's, or that shares a
model name with another config is refused with an error naming the file; given the datasets
(``datasets=``), the labels inside every predictions file are checked against them too.
Predictions-only submissions (their test labels are public, so they cannot be verified) get their
own unranked tables.

Rendering is deterministic: the same records give byte-identical files (sorted everything, a
fixed bootstrap seed, fixed number formatting, no timestamps).
"""

from __future__ import annotations

import math
import os
import zlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from msa_bench.util.errors import UserError
from msa_bench.scoring.metrics import (
    METRICS,
    PRIMARY_METRIC,
    TASKS,
    compute_metrics,
    confusion_matrix,
    holm_rejections,
    paired_pvalue,
    seed_bootstrap_scores,
    task_metrics,
)
from msa_bench.records.record import MetricSummary, ResultRecord, load_predictions, load_record, record_files, summarize
from msa_bench.harness.robustness import training_tags

SIGNIFICANCE_LEVEL = 0.05
#: Seeds of the protocol; boards with fewer per entry say so.
PROTOCOL_SEEDS = 5
#: Stored metrics may differ from those recomputed from the predictions by float rounding only.
METRIC_TOLERANCE = 1e-6
TASK_TITLES = {"sentiment": "Sentiment regression", "emotions": "Emotion intensities", "emotion": "Categorical emotion"}


# --- the data behind the pages ------------------------------------------------------------------


class LeaderboardError(UserError):
    """A record cannot go on the leaderboard; the message names the file and the reason."""


@dataclass
class Entry:
    """One model on one dataset: its records (one per seed) and their predictions."""

    model: str
    kind: str
    records: list[ResultRecord]
    summary: dict[str, MetricSummary]  # recomputed from the predictions
    scores: dict[str, np.ndarray]  # bootstrap distribution of each seed-mean metric (examples and seeds)
    ids: frozenset[str]
    card: str | None = None  # the model card with its fidelity table, relative to the repository root
    builtin: bool = False  # a model of this repository's baselines (re-run by the maintainers)
    confusion: np.ndarray | None = None  # categorical emotion counts over all seeds (true x predicted)

    @property
    def paper(self) -> dict:
        """The published numbers, unless the entry ran with overrides of the model's schedule for
        the dataset (another encoder, fewer epochs, text only): then they describe another setting."""
        if any(r.training.get("schedule", "").endswith("+overrides") for r in self.records):
            return {}
        return self.records[0].paper_results

    @property
    def predictions_only(self) -> bool:
        return self.kind == "predictions_only"

    @property
    def reference(self) -> bool:
        """A plain baseline row (e.g. a scikit-learn script), not a model."""
        return bool(self.records[0].config.get("reference"))


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


@dataclass(frozen=True)
class _Loaded:
    path: Path
    record: ResultRecord
    predictions: pd.DataFrame
    metrics: dict[str, float]  # recomputed from the predictions


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= METRIC_TOLERANCE * max(1.0, abs(b))


def _load_one(path: Path) -> _Loaded:
    record = load_record(path)
    if (path.parent.parent.name, path.parent.name, path.name) != (record.dataset, record.model, f"seed{record.seed}.json"):
        raise LeaderboardError(f"{path}: holds {record.dataset}/{record.model}/seed{record.seed}; the file is misplaced")
    predictions = load_predictions(path)
    metrics = compute_metrics(predictions)
    wrong = sorted(
        name for name in set(metrics) | set(record.metrics)
        if name not in metrics or name not in record.metrics or not _same(record.metrics[name], metrics[name])
    )
    if wrong:
        shown = ", ".join(f"{n} {record.metrics.get(n, math.nan):.4f} stored, {metrics.get(n, math.nan):.4f} from predictions" for n in wrong[:3])
        raise LeaderboardError(f"{path}: its metrics disagree with its predictions file ({shown}); the record was edited or is corrupt")
    return _Loaded(path, record, predictions, metrics)


def _check_board(dataset: str, items: list[_Loaded]) -> None:
    """One dataset fingerprint and one test set per board; one config per model name."""
    for attribute, what in (("dataset_fingerprint", "dataset fingerprint"),):
        common, _ = Counter(getattr(i.record, attribute) for i in items).most_common(1)[0]
        for item in items:
            if getattr(item.record, attribute) != common:
                raise LeaderboardError(
                    f"{item.path}: {what} {getattr(item.record, attribute)!r} differs from the {dataset} board's "
                    f"{common!r}: it was trained or scored on other data"
                )
    common_ids, _ = Counter(frozenset(i.predictions["id"]) for i in items).most_common(1)[0]
    for item in items:
        ids = frozenset(item.predictions["id"])
        if ids != common_ids:
            raise LeaderboardError(
                f"{item.path}: its predictions miss {len(common_ids - ids)} and add {len(ids - common_ids)} of the "
                f"{dataset} board's {len(common_ids)} test ids"
            )
    first: dict[str, _Loaded] = {}
    for item in items:
        other = first.setdefault(item.record.model, item)
        if other.record.kind != item.record.kind:
            raise LeaderboardError(f"{item.path}: the name {item.record.model!r} holds {other.record.kind} records already")
        if other.record.config_hash != item.record.config_hash:
            raise LeaderboardError(
                f"{item.path}: the name {item.record.model!r} was recorded with another config in {other.path} "
                "(different config hash); records of one name are seeds of one config — use another name"
            )


LABEL_COLUMNS = {"sentiment_true": "sentiment", "emotion_true": "emotion"}


def check_labels(path: Path, predictions: pd.DataFrame, test: datasets.Dataset) -> None:
    """The labels inside a predictions file must be the dataset's own test labels."""
    index = {example_id: row for row, example_id in enumerate(test["id"])}
    unknown = [i for i in predictions["id"] if i not in index]
    if unknown:
        raise LeaderboardError(f"{path}: {len(unknown)} predicted ids are not in the test split (e.g. {unknown[0]!r})")
    rows = [index[i] for i in predictions["id"]]
    for column, label in LABEL_COLUMNS.items():
        if column not in predictions or label not in test.column_names:
            continue
        truth = np.array([np.nan if v is None else v for v in test.select_columns([label])[label]], dtype=np.float64)[rows]
        given = predictions[column].to_numpy(dtype=np.float64)
        if label == "emotion":
            truth = np.where(np.isnan(truth), -1, truth)
        if not np.allclose(given, truth, atol=1e-6, equal_nan=True):
            raise LeaderboardError(f"{path}: its {column} column differs from the dataset's test labels")


def _load_entries(
    records_dir: Path, n_resamples: int, seed: int, datasets_by_name: Mapping[str, datasets.DatasetDict] | None = None
) -> dict[str, list[Entry]]:
    boards: dict[str, list[_Loaded]] = {}
    for path in record_files(records_dir):
        item = _load_one(path)
        boards.setdefault(item.record.dataset, []).append(item)
    entries: dict[str, list[Entry]] = {}
    for dataset, items in sorted(boards.items()):
        _check_board(dataset, items)
        if datasets_by_name and dataset in datasets_by_name:
            for item in items:
                check_labels(item.path, item.predictions, datasets_by_name[dataset]["test"])
        by_model: dict[str, list[_Loaded]] = {}
        for item in items:
            by_model.setdefault(item.record.model, []).append(item)
        for model, group in sorted(by_model.items()):
            group.sort(key=lambda i: i.record.seed)
            entries.setdefault(dataset, []).append(
                Entry(
                    model=model,
                    kind=group[0].record.kind,
                    records=[i.record for i in group],
                    summary=summarize([i.metrics for i in group]),
                    scores=seed_bootstrap_scores(
                        [i.predictions for i in group], n_resamples=n_resamples, seed=seed, seed_draws=zlib.crc32(model.encode())
                    ),
                    ids=frozenset(group[0].predictions["id"]),
                    card=model_card(model),
                    builtin=is_builtin(model),
                    confusion=_pooled_confusion([i.predictions for i in group]),
                )
            )
    return entries


def _pooled_confusion(tables: list[pd.DataFrame]) -> np.ndarray | None:
    """The categorical emotion's confusion counts summed over seeds, if the board predicts it."""
    if "emotion_true" not in tables[0] or not (tables[0]["emotion_true"] >= 0).any():
        return None
    return sum(confusion_matrix(t["emotion_true"], t["emotion_pred"]) for t in tables)


REPOSITORY = Path(__file__).resolve().parents[2]


def is_builtin(entry_name: str) -> bool:
    """Whether an entry (``name`` or ``name+track``) is one of this repository's baselines."""
    from msa_bench.models import MODELS, load_builtin_baselines

    load_builtin_baselines()
    name = entry_name.split("+", 1)[0]
    return name in MODELS.names() and MODELS.get(name).__module__.startswith("baselines.")


#: Tag of a protocol entry whose model code is not one of this repository's baselines.
SUBMITTED_CODE = "submitted code"


def _tags(entry: Entry) -> list[str]:
    if entry.predictions_only:
        tags = ["predictions only"]
    else:
        tags = [] if entry.builtin or entry.reference else [SUBMITTED_CODE]
    return tags + training_tags(entry.records[0].config, entry.model)


def model_card(entry_name: str) -> str | None:
    """``baselines/cards/<module>.md`` of a built-in model (an entry ``name+track`` too), if it has one."""
    from msa_bench.models import MODELS, load_builtin_baselines

    load_builtin_baselines()
    name = entry_name.split("+", 1)[0]
    if name not in MODELS.names():
        return None
    module = MODELS.get(name).__module__
    card = f"baselines/cards/{module.rsplit('.', 1)[-1]}.md"
    return card if module.startswith("baselines.") and (REPOSITORY / card).is_file() else None


def _repository_link(folder: Path) -> str | None:
    """The repository root relative to ``folder`` when the page is written inside it (cards are
    linked only where the link resolves)."""
    folder = folder.resolve()
    return Path(os.path.relpath(REPOSITORY, folder)).as_posix() if folder.is_relative_to(REPOSITORY) else None




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
    """The ranked tables of protocol-trained entries, then unranked ones of predictions-only entries."""
    tables = []
    for ranked in (True, False):
        group = [e for e in entries if e.predictions_only != ranked]
        tables += [t for t in (_task_table(group, task, ranked) for task in TASKS) if t is not None]
    return tables


def _table_title(table: Table) -> str:
    title = TASK_TITLES[table.task]
    return title if table.ranked else f"{title}: predictions-only submissions (not verified, not ranked)"


def _board_notes(dataset: str, members: list[Entry]) -> list[str]:
    notes = []
    if dataset == "synthetic":
        notes.append(
            "These numbers come from the embedded synthetic dataset with each model's short \"synthetic\" "
            "schedule: they test the harness and are not comparable with any paper's."
        )
    few = sorted(e.model for e in members if len(e.records) < PROTOCOL_SEEDS)
    if few:
        notes.append(
            f"Entries with fewer than the protocol's {PROTOCOL_SEEDS} seeds (a quick `msa-bench run` uses one) show no ± "
            f"and their significance ignores seed variance: {', '.join(few)}."
        )
    return notes


def _provenance_rows(members: list[Entry]) -> list[list[str]]:
    """Per entry: seeds, schedule, epochs trained per seed, commit(s), environment."""
    rows = []
    for entry in sorted(members, key=lambda e: e.model):
        records = entry.records
        commits = sorted({(r.git_commit or "unknown")[:10] for r in records})
        environment = records[0].environment
        dirty = any(r.environment.get("dirty_tree") for r in records)
        where = ", ".join(
            str(v) for v in (environment.get("gpu") or environment.get("cpu"), f"{environment.get('threads')} threads" if environment.get("threads") else None,
                             f"torch {environment.get('torch')}" if environment.get("torch") else None) if v
        )
        rows.append([
            entry.model,
            ", ".join(str(r.seed) for r in records),
            ", ".join(sorted({r.training.get("schedule", "—") for r in records})),
            ", ".join(str(r.training.get("epochs", "—")) for r in records),
            ", ".join(commits) + (" (dirty tree)" if dirty else ""),
            where or "—",
        ])
    return rows


PROVENANCE_HEADER = ["model", "seeds", "schedule", "epochs trained (per seed)", "commit", "where"]


def _paper_sources(table: Table) -> list[tuple[str, str]]:
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


def _markdown_label(entry: Entry, root: str | None) -> str:
    tags = _tags(entry)
    name = f"[{entry.model}]({root}/{entry.card})" if root is not None and entry.card else entry.model
    return name + "".join(f" *({tag})*" for tag in tags)


def render_markdown(entries: dict[str, list[Entry]], root: str | None = None, links: Sequence[tuple[str, str]] = ()) -> str:
    """The Markdown page; ``root``: the repository root relative to the page, to link model cards;
    ``links``: (text, relative path) of related boards, listed under the legend."""
    from msa_bench.board import confusion as confusion_report
    from msa_bench.board import robustness as robustness_report  # they build on this module's formatting

    lines = ["# msa_bench leaderboard", "", "Rendered by `msa-bench leaderboard` from the result records.", "", LEGEND, ""]
    lines += [*(f"See also: [{text}]({href})" for text, href in links), ""] if links else []
    if not entries:
        lines += ["No records yet.", ""]
    for dataset, members in sorted(entries.items()):
        lines += [f"## {dataset}", ""]
        lines += [*(f"> {note}" for note in _board_notes(dataset, members)), ""] if _board_notes(dataset, members) else []
        for table in _tasks_of(members):
            lines += [f"### {_table_title(table)}", ""]
            header = ["model", "seeds", *(f"{m} {_arrow(m)}" for m in table.metrics)]
            rows = [
                [_markdown_label(e, root), str(len(e.records)), *(_markdown_cell(cells[m]) if m in cells else "—" for m in table.metrics)]
                for e, cells in table.rows
            ]
            lines += _markdown_table(header, rows)
            lines += [f"Paper numbers for {model}: {source}" for model, source in _paper_sources(table)]
            if _paper_sources(table):
                lines.append("")
        lines += confusion_report.render_markdown(members)
        lines += ["### Provenance", ""] + _markdown_table(PROVENANCE_HEADER, _provenance_rows(members))
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


def _html_label(entry: Entry, root: str | None) -> str:
    tags = _tags(entry)
    shown = "".join(f' <span class="tag">{escape(tag)}</span>' for tag in tags)
    name = escape(entry.model)
    if root is not None and entry.card:
        name = f'<a href="{escape(root)}/{escape(entry.card)}" title="model card and fidelity table">{name}</a>'
    return f'<td data-value="{escape(entry.model)}">{name}{shown}</td>'


def _html_table(header: list[tuple[str, str]], rows: list[str], caption: str) -> str:
    head = "".join(f'<th title="{escape(title)}">{escape(name)}</th>' for name, title in header)
    body = "\n".join(f"<tr>{row}</tr>" for row in rows)
    return (
        f'<div class="scroll"><table class="sortable"><caption>{escape(caption)}</caption>\n'
        f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>"
    )


def _html_task_table(dataset: str, table: Table, root: str | None = None) -> str:
    header = [("model", "model name"), ("seeds", "number of training seeds")]
    header += [(f"{m} {_arrow(m)}", METRICS.get(m).description) for m in table.metrics]
    rows = []
    for entry, cells in table.rows:
        values = "".join(_html_cell(cells[m]) if m in cells else '<td data-value="">—</td>' for m in table.metrics)
        rows.append(f'{_html_label(entry, root)}<td data-value="{len(entry.records)}">{len(entry.records)}</td>{values}')
    html = [f"<h3>{escape(_table_title(table))}</h3>", _html_table(header, rows, f"{dataset}: {_table_title(table)}")]
    sources = _paper_sources(table)
    if sources:
        items = "".join(f"<li>{escape(model)}: {escape(source)}</li>" for model, source in sources)
        html.append(f"<p>Paper numbers:</p><ul>{items}</ul>")
    return "\n".join(html)


def render_html(entries: dict[str, list[Entry]], root: str | None = None, links: Sequence[tuple[str, str]] = ()) -> str:
    """The page; ``root``: the repository root relative to the page, to link model cards;
    ``links``: (text, relative href) of related boards, in the navigation."""
    from msa_bench.board import confusion as confusion_report
    from msa_bench.board import robustness as robustness_report  # they build on this module's formatting

    sections = []
    for dataset, members in sorted(entries.items()):
        parts = [f'<section id="{escape(dataset)}"><h2>{escape(dataset)}</h2>']
        parts += [f'<p class="note">{escape(note).replace("`", "")}</p>' for note in _board_notes(dataset, members)]
        parts += [_html_task_table(dataset, table, root) for table in _tasks_of(members)]
        parts.append(confusion_report.render_html(members))
        provenance = [
            "".join(f'<td data-value="{escape(value)}">{escape(value)}</td>' for value in row) for row in _provenance_rows(members)
        ]
        parts += ["<h3>Provenance</h3>", _html_table([(h, h) for h in PROVENANCE_HEADER], provenance, f"{dataset}: where each entry comes from")]
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


# --- entry point --------------------------------------------------------------------------------


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
    entries = _load_entries(Path(records_dir), n_resamples, seed, datasets_by_name)
    out_dir = Path(out_dir)
    paths = {"markdown": out_dir / "LEADERBOARD.md", "html": out_dir / "site" / "index.html"}
    paths["html"].parent.mkdir(parents=True, exist_ok=True)
    related = _related_boards(out_dir)
    markdown_links = [(text, os.path.relpath(board / "LEADERBOARD.md", out_dir)) for text, board in related]
    html_links = [(text, os.path.relpath(board / "site" / "index.html", paths["html"].parent)) for text, board in related]
    paths["markdown"].write_text(render_markdown(entries, _repository_link(paths["markdown"].parent), markdown_links), encoding="utf-8")
    paths["html"].write_text(render_html(entries, _repository_link(paths["html"].parent), html_links), encoding="utf-8")
    return paths


def _related_boards(out_dir: Path) -> list[tuple[str, Path]]:
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
