"""Dataset summaries for ``msa-bench info``: split sizes, features, labelled tasks, warnings.

The ``--json`` form is stable: keys are only ever added, never renamed or removed.
"""

from __future__ import annotations

from collections import Counter

import datasets
import numpy as np
import pyarrow.compute as pc

from msa_bench.builders import DESCRIPTIONS
from msa_bench.data.schema import EKMAN_EMOTIONS, MODALITIES, msa_metadata
from msa_bench.loading.describe import COUNTS_PER_SPLIT, in_words, report_warnings, split_scheme, words
from msa_bench.loading.load import canonical_name
from msa_bench.loading.trainable import FEATURES_DOCS

LABEL_COLUMNS = ("sentiment", "polarity", "intensity", "emotions", "emotion")
#: Report keys shown in the split line (or as warnings), not again under "build report".
SHOWN_ELSEWHERE = ("examples", "split_scheme", "actors", "folds", "splits", "videos", "resplit", "empty_splits")


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


def frame_counts(dataset: datasets.DatasetDict) -> dict[str, dict[str, int] | None]:
    """Per modality, the frames per example over every split (min, median, max), or ``None``
    when no example has features for it."""
    counts = {}
    for modality in MODALITIES:
        lengths = [
            pc.list_value_length(rows.with_format("arrow")[:].column(f"{modality}_features")).drop_null().to_numpy()
            for rows in dataset.values()
            if len(rows)
        ]
        found = np.concatenate(lengths) if lengths else np.array([], dtype=np.int64)
        counts[modality] = (
            None if found.size == 0 else {"min": int(found.min()), "median": int(np.median(found)), "max": int(found.max())}
        )
    return counts


def dataset_info(name: str, dataset: datasets.DatasetDict) -> dict[str, object]:
    """The summary printed by ``msa-bench info`` (see the docs for the JSON keys)."""
    metadata = msa_metadata(dataset)
    return {
        "dataset": canonical_name(name),
        "splits": {split: len(rows) for split, rows in dataset.items()},
        "split_scheme": split_scheme(metadata.report),
        "features": {m: {"name": getattr(metadata, m), "dim": getattr(metadata, f"{m}_dim")} for m in MODALITIES},
        "frames": frame_counts(dataset),
        "provenance": metadata.provenance,
        "report": metadata.report,
        "warnings": report_warnings(metadata.report),
        "labels": {split: split_summary(rows) for split, rows in dataset.items()},
    }


def _feature_line(modality: str, feature: dict, frames: dict | None, present: int, total: int) -> str:
    if frames is None:
        return f"  {modality:<7} absent"
    spread = f"{frames['min']}" if frames["min"] == frames["max"] else f"{frames['min']}-{frames['max']} (median {frames['median']})"
    frame_word = "frame" if frames["max"] == 1 else "frames"
    return (
        f"  {modality:<7} {feature['name']}: {feature['dim']:,} values per frame, {spread} {frame_word} per example, "
        f"in {present:,} of {total:,} examples"
    )


def _total(labels: dict, task: str, key: str) -> Counter:
    total: Counter = Counter()
    for stats in labels.values():
        total.update(stats[task][key])
    return total


def _task_lines(labels: dict) -> list[str]:
    lines = []
    annotated = {task: sum(stats[task]["annotated"] for stats in labels.values()) for task in ("sentiment", "polarity", "emotion", "emotions")}
    if annotated["sentiment"]:
        per_split = "; ".join(
            f"{split} mean {s['mean']:+.2f}, sd {s['std']:.2f}, from {s['min']:+.1f} to {s['max']:+.1f}"
            for split, stats in labels.items()
            if (s := stats["sentiment"])["annotated"]
        )
        lines.append(f"  sentiment  {annotated['sentiment']:,} examples, a score in [-3, 3]: {per_split}")
    for task, key, what in (("polarity", "counts", "classes"), ("emotion", "counts", "classes"), ("emotions", "present", "intensities above 0")):
        if annotated[task]:
            counts = ", ".join(f"{name} {count:,}" for name, count in _total(labels, task, key).items())
            lines.append(f"  {task:<10} {annotated[task]:,} examples, {what}: {counts}")
    missing = [task for task, count in annotated.items() if not count]
    if missing:
        lines.append(f"  not annotated: {', '.join(missing)}")
    return lines


def format_info(summary: dict[str, object]) -> str:
    """The readable form of :func:`dataset_info`."""
    name = summary["dataset"]
    lines = [f"{name}: {DESCRIPTIONS[name]}" if name in DESCRIPTIONS else name]
    sizes = ", ".join(f"{split} {count:,}" for split, count in summary["splits"].items())
    lines.append(f"splits: {sizes}")
    lines.append(f"split scheme: {summary['split_scheme']}")
    total = sum(summary["splits"].values())
    lines.append("features:")
    for m in MODALITIES:
        present = sum(stats["modality_present"][m] for stats in summary["labels"].values())
        lines.append(_feature_line(m, summary["features"][m], summary["frames"][m], present, total))
    if not any(summary["frames"].values()):
        lines.append(f"  labels only: no model can train on this folder; see {FEATURES_DOCS} for how to get features")
    lines.append("labelled tasks:")
    lines += _task_lines(summary["labels"])
    if summary["warnings"]:
        lines.append("warnings:")
        lines += [f"  {warning}" for warning in summary["warnings"]]
    details = {
        key: value
        for key, value in summary["report"].items()
        if key not in SHOWN_ELSEWHERE and key not in COUNTS_PER_SPLIT
        and not (isinstance(value, dict) and ("count" in value or not value))
    }
    if details:
        lines.append("build report:")
        lines += [f"  {words(key)}: {in_words(value)}" for key, value in details.items()]
    return "\n".join(lines)
