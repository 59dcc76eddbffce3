"""The robustness part of the leaderboard: tables and curves per (track, grid, metric).

A *robustness board* gathers the entries of one board (:class:`~msa_bench.board.entries.Board`)
whose records share a training track (:data:`msa_bench.harness.robustness.TRACKS`), a level grid
and a primary metric, so every number on it is comparable with the others: areas of the quick
grid are labelled "quick" and never share a table with full-grid areas, and models trained the
LNLN way sit on their own board. Each shows, for both protocols
(:data:`msa_bench.inputs.corruption.PROTOCOLS`), modality dropping, the AUILC of every curve,
MultiBench's effective robustness (against :data:`~msa_bench.scoring.robustness.REFERENCE_MODEL`
on the same board) and relative robustness, then the noise curves. Conditions a record lists as
skipped (a modality the dataset lacks) are neither a column nor a curve: they are named as not
applicable. The page adds the curves of the primary metric with a CSS-only switch between the
two protocols; every panel of a robustness board shares one y-range and one legend.

Records reach this module checked (:mod:`msa_bench.board.sweeps`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

import numpy as np

from msa_bench.board.entries import Board, Entry, training_tags
from msa_bench.board.format import (
    arrow,
    html_table,
    markdown_table,
    markdown_text,
    mean_std,
    value_attribute,
)
from msa_bench.board.svgplot import STYLE as PLOT_STYLE
from msa_bench.board.svgplot import (
    Series,
    Style,
    legend,
    line_plot,
    padded_range,
    series_style,
)
from msa_bench.board.sweeps import CURVE_KEYS
from msa_bench.data.schema import MODALITIES
from msa_bench.inputs.corruption import PROTOCOLS
from msa_bench.records.record import MetricSummary, ResultRecord
from msa_bench.scoring.metrics import METRICS
from msa_bench.scoring.robustness import (
    REFERENCE_MODEL,
    effective_robustness,
    relative_robustness,
)

PROTOCOL_TITLES = {
    "unannounced": "unannounced protocol (LNLN, EMT-DLFR): dropped frames zero-filled, dropped words → [UNK], the model is not told",
    "announced": "announced protocol: dropped frames masked out, removed modalities marked absent",
}

STYLE = """
.switch > input { margin-left: 0.8rem; }
.switch > .show-unannounced:checked ~ .panel-announced, .switch > .show-announced:checked ~ .panel-unannounced { display: none; }
""".strip() + "\n" + PLOT_STYLE


# --- boards -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RobustnessBoard:
    """The comparable robustness results of one board: one track, one grid, one metric."""

    board: Board
    track: str
    grid: str
    metric: str
    metrics: tuple[str, ...]
    levels: tuple[float, ...]
    rows: list[tuple[Entry, list[ResultRecord]]]

    def title(self, quote: Callable[[str], str] = str) -> str:
        """The heading; ``quote`` escapes the free text in it (the track a record's config names)."""
        grid = "full grid" if self.grid == "full" else f"{self.grid} grid"
        return f"Robustness: {quote(self.track)} track, {grid} ({self.metric} {arrow(self.metric)})"

    @property
    def area_label(self) -> str:
        return "AUILC" if self.grid == "full" else f"AUILC ({self.grid})"

    def skipped(self) -> dict[str, str]:
        return {k: v for _, records in self.rows for r in records for k, v in sorted(r.robustness.get("skipped", {}).items())}

    def applies(self, part: str, key: str) -> bool:
        """Whether a curve (``part`` "missing_rate" or "noise") or a dropped set of modalities
        (``part`` "modality_drop", ``key`` "text+audio") is not listed as skipped on this board."""
        skipped = self.skipped()
        if any(f"modality {name}" in skipped for name in key.split("+")):
            return False
        return not (part == "noise" and f"noise {key}" in skipped)

    def curves(self, records: list[ResultRecord], part: str, key: str, protocol: str | None = None) -> list[dict]:
        """One curve per seed (``part`` is "missing_rate" or "noise")."""
        if not self.applies(part, key):
            return []
        found = []
        for record in records:
            source = record.robustness if protocol is None else record.robustness["protocols"].get(protocol, {})
            curve = source.get(part, {}).get(key)
            if curve:
                found.append(curve)
        return found

    def reference(self, part: str, key: str, protocol: str | None) -> np.ndarray | None:
        """The seed-mean curve of the reference model on this board (same track and grid)."""
        for entry, records in self.rows:
            if entry.model.split("+")[0] == REFERENCE_MODEL:
                curves = self.curves(records, part, key, protocol)
                return _mean_curve(curves, self.metric) if curves else None
        return None

    def styles(self) -> dict[str, Style]:
        """One line style per entry, the same in every panel of the board."""
        return {entry.model: series_style(k) for k, (entry, _) in enumerate(self.rows)}

    def y_range(self) -> tuple[float, float]:
        """One y-range for every panel of the board (they all plot its metric)."""
        values: list[float] = []
        panels = [("missing_rate", key, protocol) for protocol in PROTOCOLS for key in CURVE_KEYS]
        for part, key, protocol in panels + [("noise", key, None) for key in MODALITIES]:
            for _, records in self.rows:
                curves = self.curves(records, part, key, protocol)
                values += list(_mean_curve(curves, self.metric)) if curves else []
        return padded_range(values)


def robustness_boards(board: Board) -> list[RobustnessBoard]:
    """The robustness boards of one board (records in an older robustness format are left out)."""
    groups: dict[tuple, dict[str, tuple[Entry, list[ResultRecord]]]] = {}
    for entry in board.entries:
        for record in entry.records:
            sweep = record.robustness
            if "protocols" not in sweep:
                continue
            track = str(record.config.get("track", "default"))
            key = (track, sweep["grid"], sweep["metric"], tuple(sweep["metrics"]), tuple(float(v) for v in sweep["levels"]))
            groups.setdefault(key, {}).setdefault(entry.model, (entry, []))[1].append(record)
    order = {"default": 0}
    return [
        RobustnessBoard(board, track, grid, metric, metrics, levels, [rows[m] for m in sorted(rows)])
        for (track, grid, metric, metrics, levels), rows in sorted(
            groups.items(), key=lambda item: (order.get(item[0][0], 1), item[0][0], item[0][1] != "full", item[0][1:])
        )
    ]


def _float(value) -> float:
    return math.nan if value is None else float(value)


def _summary(values: list) -> MetricSummary | None:
    values = [_float(v) for v in values]
    if not values:
        return None
    std = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    return MetricSummary(float(np.mean(values)), std, len(values))


def _mean_curve(curves: list[dict], metric: str) -> np.ndarray:
    return np.mean([[_float(v) for v in c["values"][metric]] for c in curves], axis=0)


def _drop_order(condition: str) -> tuple:
    names = condition.split("+")
    return len(names), [MODALITIES.index(n) for n in names]


@dataclass(frozen=True)
class Tables:
    """The numbers of one board under one protocol (``None`` protocol: the noise curves)."""

    header: list[tuple[str, str]]
    rows: list[tuple[Entry, list[MetricSummary | None]]]
    caption: str


def _drop_table(board: RobustnessBoard, protocol: str) -> Tables:
    def drops(record: ResultRecord) -> dict:
        return record.robustness["protocols"].get(protocol, {}).get("modality_drop", {})

    conditions = sorted(
        {c for _, records in board.rows for r in records for c in drops(r) if board.applies("modality_drop", c)}, key=_drop_order
    )
    header = [("clean", "no corruption")] + [(f"−{c}", f"{c} removed at test time") for c in conditions]
    rows = []
    for entry, records in board.rows:
        clean = _summary([r.robustness["clean"].get(board.metric) for r in records])
        cells = [_summary([drops(r)[c].get(board.metric) for r in records if c in drops(r)]) for c in conditions]
        rows.append((entry, [clean, *cells]))
    return Tables(header, rows, f"modality dropping, {protocol} ({board.metric})")


def _curve_table(board: RobustnessBoard, part: str, protocol: str | None) -> Tables:
    """AUILC of the primary metric per curve, and effective/relative robustness of the first curve."""
    keys = [k for k in CURVE_KEYS if any(board.curves(records, part, k, protocol) for _, records in board.rows)]
    if not keys:
        return Tables([], [], "")
    head = keys[0]
    reference = board.reference(part, head, protocol)
    means = {}
    for entry, records in board.rows:
        curves = board.curves(records, part, head, protocol)
        means[entry.model] = float(np.mean([_float(c["auilc"].get(board.metric)) for c in curves])) if curves else math.nan
    relative = relative_robustness(means, METRICS.get(board.metric).higher_is_better)
    rows = []
    for entry, records in board.rows:
        cells = []
        for key in keys:
            curves = board.curves(records, part, key, protocol)
            cells.append(_summary([c["auilc"].get(board.metric) for c in curves]) if curves else None)
        curves = board.curves(records, part, head, protocol)
        effective = None
        if reference is not None and curves:
            effective = _summary([effective_robustness(board.levels, [_float(v) for v in c["values"][board.metric]], reference) for c in curves])
        rows.append((entry, [*cells, effective, MetricSummary(relative[entry.model], math.nan, 1)]))
    area = board.area_label
    header = [(f"{area} {k}", f"area under the {k} curve, trapezoid over [0, 1]") for k in keys]
    header += [
        (f"effective ({head})", f"MultiBench effective robustness of the {head} curve against {REFERENCE_MODEL}"),
        (f"relative ({head})", f"MultiBench relative robustness of the {head} curve: its area min-max normalised over this table"),
    ]
    what = "noise" if protocol is None else f"missing rate, {protocol}"
    return Tables(header, rows, f"{what}: {area} of {board.metric}")


def _metrics_table(board: RobustnessBoard, protocol: str) -> Tables:
    """AUILC of every curve metric on the joint ("all") missing-rate curve."""
    rows = []
    for entry, records in board.rows:
        curves = board.curves(records, "missing_rate", "all", protocol)
        rows.append((entry, [_summary([c["auilc"].get(m) for c in curves]) if curves else None for m in board.metrics]))
    header = [(f"{m} {arrow(m)}", METRICS.get(m).description) for m in board.metrics]
    return Tables(header, rows, f"joint missing rate, {protocol}: {board.area_label} of every metric")


def _sections(board: RobustnessBoard) -> list[tuple[str | None, list[Tables]]]:
    sections: list[tuple[str | None, list[Tables]]] = [
        (p, [_drop_table(board, p), _curve_table(board, "missing_rate", p), _metrics_table(board, p)]) for p in PROTOCOLS
    ]
    noise = _curve_table(board, "noise", None)
    if noise.header:
        sections.append((None, [noise]))
    return sections


def _notes(board: RobustnessBoard) -> list[str]:
    notes = [f"Levels {', '.join(f'{v:.1f}' for v in board.levels)}."]
    if board.grid != "full":
        notes.append("Quick-grid summaries: a coarser trapezoid than the full grid's, not comparable with full-grid numbers.")
    if board.reference("missing_rate", "all", PROTOCOLS[0]) is None:
        notes.append(f"Effective robustness needs {REFERENCE_MODEL} on this board; it is not here.")
    notes += [f"Not applicable: {condition} ({reason})." for condition, reason in board.skipped().items()]
    return notes


# --- Markdown -----------------------------------------------------------------------------------


def _markdown_label(entry: Entry) -> str:
    return markdown_text(entry.model) + "".join(f" *({markdown_text(tag)})*" for tag in training_tags(entry.records[0].config, entry.model))


def render_markdown(board: Board) -> list[str]:
    """The robustness sections of one board's part of ``LEADERBOARD.md``."""
    lines: list[str] = []
    for robustness in robustness_boards(board):
        lines += [f"### {robustness.title(markdown_text)}", "", markdown_text(" ".join(_notes(robustness))), ""]
        for protocol, tables in _sections(robustness):
            lines += [f"#### {markdown_text(PROTOCOL_TITLES[protocol]) if protocol else 'noise (protocol-independent)'}", ""]
            for table in tables:
                header = ["model", *(name for name, _ in table.header)]
                rows = [[_markdown_label(e), *(mean_std(s) for s in cells)] for e, cells in table.rows]
                caption = markdown_text(f"{table.caption[0].upper()}{table.caption[1:]}:")
                lines += [caption, "", *markdown_table(header, rows)]
    return lines


# --- HTML ---------------------------------------------------------------------------------------


def _html_label(entry: Entry) -> str:
    tags = "".join(f' <span class="tag">{escape(tag)}</span>' for tag in training_tags(entry.records[0].config, entry.model))
    return f'<td data-value="{escape(entry.model)}">{escape(entry.model)}{tags}</td>'


def _html_cell(summary: MetricSummary | None) -> str:
    return f'<td data-value="{value_attribute(summary.mean if summary else None)}"><span class="value">{escape(mean_std(summary))}</span></td>'


def _html_tables(caption: str, tables: list[Tables]) -> list[str]:
    html = []
    for table in tables:
        if table.header:
            rows = [_html_label(e) + "".join(_html_cell(s) for s in cells) for e, cells in table.rows]
            html.append(html_table([("model", "model name"), *table.header], rows, f"{caption}: {table.caption}"))
    return html


def _plots(board: RobustnessBoard, part: str, protocol: str | None, y_range: tuple[float, float]) -> str:
    axis = "noise level" if part == "noise" else "missing rate"
    styles = board.styles()
    plots = []
    for key in CURVE_KEYS:
        series = []
        for entry, records in board.rows:
            curves = board.curves(records, part, key, protocol)
            if curves:
                series.append(Series(entry.model, list(board.levels), [float(v) for v in _mean_curve(curves, board.metric)], styles[entry.model]))
        if series:
            plots.append(line_plot(f"{axis}, {key} ({protocol or 'both protocols'})", axis, board.metric, series, y_range))
    return '<div class="plots">' + "\n".join(plots) + "</div>" if plots else ""


def render_html(board: Board) -> str:
    """The robustness sections of one board's part of the page."""
    html = []
    for robustness in robustness_boards(board):
        name = re.sub(r"[^A-Za-z0-9_-]", "-", f"protocol-{board.anchor}-{robustness.track}-{robustness.grid}-{robustness.metric}")
        styles = robustness.styles()
        y_range = robustness.y_range()
        html += [f"<h3>{escape(robustness.title())}</h3>", f"<p>{escape(' '.join(_notes(robustness)))}</p>"]
        html.append(legend([(entry.model, styles[entry.model]) for entry, _ in robustness.rows]))
        switch = ['<div class="switch"><span>Protocol:</span>']
        for k, protocol in enumerate(PROTOCOLS):
            checked = " checked" if k == 0 else ""
            switch.append(
                f'<input type="radio" name="{name}" id="{name}-{protocol}" class="show-{protocol}"{checked}>'
                f'<label for="{name}-{protocol}">{escape(protocol)}</label>'
            )
        sections = _sections(robustness)
        for protocol, tables in sections:
            if protocol is None:
                continue
            switch.append(f'<div class="panel-{protocol}"><h4>{escape(PROTOCOL_TITLES[protocol])}</h4>')
            switch += [_plots(robustness, "missing_rate", protocol, y_range), *_html_tables(board.title, tables), "</div>"]
        html += [*switch, "</div>"]
        for protocol, tables in sections:
            if protocol is None:
                html += ["<h4>noise (protocol-independent)</h4>", _plots(robustness, "noise", None, y_range), *_html_tables(board.title, tables)]
    return "\n".join(html)
