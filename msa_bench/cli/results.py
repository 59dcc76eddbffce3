"""The results a command prints at its end: test metrics per seed and mean ± std, per entry.

Like lm-evaluation-harness's final table: one block per entry, one row per seed and a mean ± std
row, the task's primary metric first. ``--json`` prints the same numbers as JSON for scripts.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from msa_bench.records.record import ResultRecord

#: The columns shown per task (the primary metric first); --json carries every metric.
SHOWN: dict[str, tuple[str, ...]] = {
    "sentiment": ("acc2_non0", "f1_non0", "mae", "corr", "acc7"),
    "emotion": ("emotion_wa", "emotion_ua", "emotion_macro_f1"),
    "emotions": ("emotions_wacc_mean", "emotions_f1_mean"),
}


def _columns(records: Sequence[ResultRecord]) -> list[str]:
    from msa_bench.scoring.metrics import PRIMARY_METRIC, TASKS, task_metrics

    present = {name for record in records for name in record.metrics}
    columns = []
    for task in TASKS:
        names = [PRIMARY_METRIC[task], *(m for m in SHOWN[task] if m != PRIMARY_METRIC[task])]
        columns += [m for m in names if m in present and m in task_metrics(task)]
    return columns


def _cell(value: float) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:.3f}"


def results_table(records: Sequence[ResultRecord]) -> str:
    """One text block per entry (dataset, name): its seeds, then mean ± std."""
    from msa_bench.records.record import summarize

    blocks = []
    entries: dict[tuple[str, str], list[ResultRecord]] = {}
    for record in records:
        entries.setdefault((record.dataset, record.model), []).append(record)
    for (dataset, name), group in sorted(entries.items()):
        group = sorted(group, key=lambda r: r.seed)
        columns = _columns(group)
        rows = [["seed", *columns]]
        rows += [[str(r.seed), *(_cell(r.metrics.get(m, math.nan)) for m in columns)] for r in group]
        summary = summarize([r.metrics for r in group])
        mean = ["mean ± std"]
        for metric in columns:
            value = summary[metric]
            mean.append(_cell(value.mean) + (f" ± {value.std:.3f}" if value.n > 1 and math.isfinite(value.std) else ""))
        rows.append(mean)
        widths = [max(len(row[k]) for row in rows) for k in range(len(rows[0]))]
        lines = [f"{name} on {dataset} (test split, isolation: {', '.join(sorted({r.isolation for r in group}))})"]
        for index, row in enumerate(rows):
            lines.append("  " + "  ".join(cell.rjust(width) if k else cell.ljust(width) for k, (cell, width) in enumerate(zip(row, widths))))
            if index == 0 or index == len(rows) - 2:
                lines.append("  " + "  ".join("-" * width for width in widths))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def results_json(records: Sequence[ResultRecord], paths: Sequence[Path]) -> str:
    """The same results for scripts: per record its entry, seed, metrics and file."""
    from msa_bench.records.seal import json_safe

    rows = [
        {"dataset": r.dataset, "model": r.model, "seed": r.seed, "isolation": r.isolation, "metrics": r.metrics, "record": str(p)}
        for r, p in zip(records, paths)
    ]
    return json.dumps(json_safe(rows), indent=2, sort_keys=True)


def print_results(paths: Sequence[Path], as_json: bool, echo) -> None:
    from msa_bench.records.record import load_record

    records = [load_record(path) for path in paths]
    if as_json:
        echo(results_json(records, paths))
    elif records:
        echo(results_table(records))
