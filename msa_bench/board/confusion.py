"""Confusion matrices of the categorical emotion on the leaderboard pages.

A cell is the share of a true class's test clips predicted as each class, pooled over an entry's
training seeds (every seed predicts the same test clips, so pooling weights the seeds equally).
The Markdown page shows the best model by UA and every reference entry; the HTML page shows every
entry, those two kinds unfolded.
"""

from __future__ import annotations

from html import escape

import numpy as np

from msa_bench.board.entries import Entry
from msa_bench.board.format import markdown_text
from msa_bench.data.schema import EMOTION_CLASSES

PRIMARY = "emotion_ua"
EXPLANATION = (
    "Rows: the true class; columns: the predicted class; each cell is the percentage of the true class's "
    "test clips (all seeds pooled) predicted as that class, so the diagonal is each class's recall."
)


def _ranked(members: list[Entry]) -> list[Entry]:
    """Entries with a confusion matrix, best UA first (ties by name), predictions-only ones left out."""
    found = [e for e in members if e.confusion is not None and not e.predictions_only and PRIMARY in e.summary]
    return sorted(found, key=lambda e: (-e.summary[PRIMARY].mean, e.model))


def _rates(counts: np.ndarray) -> tuple[list[int], np.ndarray]:
    """The classes present as true labels and the row-normalised percentages over them."""
    classes = [i for i in range(len(counts)) if counts[i].sum() > 0]
    shown = counts[np.ix_(classes, classes)]
    return classes, 100.0 * shown / counts[classes].sum(axis=1, keepdims=True)


def _title(entry: Entry, best: Entry | None) -> str:
    role = "reference, " if entry.reference else ("best model by UA, " if entry is best else "")
    return f"{entry.model} ({role}UA {entry.summary[PRIMARY].mean:.3f})"


def _best_model(ranked: list[Entry]) -> Entry | None:
    return next((e for e in ranked if not e.reference), None)


def render_markdown(members: list[Entry]) -> list[str]:
    ranked = _ranked(members)
    if not ranked:
        return []
    best = _best_model(ranked)
    shown = [e for e in ranked if e is best or e.reference]
    lines = ["### Confusion matrices (categorical emotion)", "", EXPLANATION, ""]
    for entry in shown:
        classes, rates = _rates(entry.confusion)
        names = [EMOTION_CLASSES[i] for i in classes]
        lines += [f"#### {markdown_text(_title(entry, best))}", ""]
        lines += ["| true \\ predicted | " + " | ".join(names) + " |", "| --- |" + " ---: |" * len(names)]
        lines += [f"| {name} | " + " | ".join(f"{v:.0f}" for v in row) + " |" for name, row in zip(names, rates)]
        lines.append("")
    return lines


def render_html(members: list[Entry]) -> str:
    ranked = _ranked(members)
    if not ranked:
        return ""
    best = _best_model(ranked)
    parts = ["<h3>Confusion matrices (categorical emotion)</h3>", f"<p>{escape(EXPLANATION)}</p>"]
    for entry in ranked:
        classes, rates = _rates(entry.confusion)
        names = [EMOTION_CLASSES[i] for i in classes]
        head = "".join(f"<th>{escape(n)}</th>" for n in names)
        body = "".join(
            f"<tr><th>{escape(name)}</th>" + "".join(f'<td style="background: rgba(46, 125, 50, {v / 100:.2f})">{v:.0f}</td>' for v in row) + "</tr>"
            for name, row in zip(names, rates)
        )
        opened = " open" if entry is best or entry.reference else ""
        parts.append(
            f"<details{opened}><summary>{escape(_title(entry, best))}</summary>"
            f'<div class="scroll"><table><thead><tr><th>true \\ predicted</th>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div></details>"
        )
    return "\n".join(parts)
