"""Dataset summaries for ``msa-bench info``: split sizes, feature dimensions, label statistics.

The ``--json`` form is stable: keys are only ever added, never renamed or removed.
"""

from __future__ import annotations

from collections import Counter

import datasets
import numpy as np

from msa_bench.loading.load import canonical_name
from msa_bench.data.schema import EKMAN_EMOTIONS, MODALITIES, msa_metadata

LABEL_COLUMNS = ("sentiment", "polarity", "intensity", "emotions", "emotion")


def _numeric_summary(values: list) -> dict[str, float | int]:
    known = np.array([v for v in values if v is not None], dtype=np.float64)
    if known.size == 0:
        return {"annotated": 0}
    return {
        "annotated": int(known.size),
        "mean": round(float(known.mean()), 4),
        "std": round(float(known.std(ddof=1)) if known.size > 1 else 0.0, 4),
        "min": round(float(known.min()), 4),
        "max": round(float(known.max()), 4),
    }


def _class_summary(values: list, names: list[str]) -> dict[str, object]:
    counts = Counter(names[v] for v in values if v is not None)
    return {"annotated": sum(counts.values()), "counts": {name: counts.get(name, 0) for name in names}}


def split_summary(split: datasets.Dataset) -> dict[str, object]:
    """Label statistics and modality coverage of one split."""
    labels = split.select_columns(list(LABEL_COLUMNS))[:]
    emotions = [e for e in labels["emotions"] if e is not None]
    table = split.with_format("arrow")[:]
    present = {m: len(split) - table.column(f"{m}_features").null_count for m in MODALITIES}
    return {
        "examples": len(split),
        "modality_present": present,
        "sentiment": _numeric_summary(labels["sentiment"]),
        "intensity": _numeric_summary(labels["intensity"]),
        "polarity": _class_summary(labels["polarity"], split.features["polarity"].names),
        "emotion": _class_summary(labels["emotion"], split.features["emotion"].names),
        "emotions": {
            "annotated": len(emotions),
            "present": {name: int(sum(1 for e in emotions if e[k] > 0)) for k, name in enumerate(EKMAN_EMOTIONS)},
        },
    }


def dataset_info(name: str, dataset: datasets.DatasetDict) -> dict[str, object]:
    """The summary printed by ``msa-bench info`` (see the README for the JSON keys)."""
    metadata = msa_metadata(dataset)
    return {
        "dataset": canonical_name(name),
        "splits": {split: len(rows) for split, rows in dataset.items()},
        "features": {m: {"name": getattr(metadata, m), "dim": getattr(metadata, f"{m}_dim")} for m in MODALITIES},
        "provenance": metadata.provenance,
        "report": metadata.report,
        "labels": {split: split_summary(rows) for split, rows in dataset.items()},
    }


def format_info(summary: dict[str, object]) -> str:
    """A short human-readable form of :func:`dataset_info`."""
    lines = [f"dataset: {summary['dataset']}"]
    lines.append("splits: " + ", ".join(f"{k} {v}" for k, v in summary["splits"].items()))
    lines.append("features: " + ", ".join(f"{m} {f['name']} ({f['dim']}-d)" for m, f in summary["features"].items()))
    for split, stats in summary["labels"].items():
        sentiment = stats["sentiment"]
        described = (
            f"sentiment mean {sentiment['mean']:+.3f} sd {sentiment['std']:.3f} [{sentiment['min']}, {sentiment['max']}]"
            if sentiment["annotated"]
            else "sentiment not annotated"
        )
        polarity = ", ".join(f"{k} {v}" for k, v in stats["polarity"]["counts"].items())
        lines.append(f"{split}: {stats['examples']} examples; {described}; polarity {polarity}")
    for key, value in summary["report"].items():
        lines.append(f"{key}: {value}")
    return "\n".join(lines)
