"""Reading the records of a board and checking every one before anything is rendered.

Nothing in a record is taken on trust: the metrics are recomputed from the saved predictions. A
record whose stored metrics disagree with its predictions, whose test ids differ from the
board's, whose dataset fingerprint differs from the board's, or that shares a model name with
another config is refused with an error naming the file; given the datasets, the labels inside
every predictions file are checked against them too.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from msa_bench.board.entries import Entry, LeaderboardError, is_builtin, model_card
from msa_bench.records.record import ResultRecord, load_predictions, load_record, record_files, summarize
from msa_bench.scoring.metrics import compute_metrics, confusion_matrix, seed_bootstrap_scores


#: Stored metrics may differ from those recomputed from the predictions by float rounding only.
METRIC_TOLERANCE = 1e-6


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


def load_entries(
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
