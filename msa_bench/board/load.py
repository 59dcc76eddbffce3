"""Reading one record and checking it before anything is rendered.

Nothing in a record is taken on trust: the metrics are recomputed from the saved predictions, and
given the dataset, the labels inside the predictions file are checked against its test split.
:func:`check_record` runs every check of one record file and raises
:class:`~msa_bench.board.entries.LeaderboardError` with the reason; the board
(:mod:`msa_bench.board.boards`) turns that into a refusal of the file and renders the others.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from msa_bench.board.entries import LeaderboardError
from msa_bench.board.sweeps import check_sweep
from msa_bench.records.record import (
    ResultRecord,
    load_predictions,
    load_record,
    predictions_path,
)
from msa_bench.models import builtin_model_names
from msa_bench.records.names import base_name
from msa_bench.records.integrity import seal_problem
from msa_bench.scoring.metrics import compute_metrics

#: Stored metrics may differ from those recomputed from the predictions by float rounding only.
METRIC_TOLERANCE = 1e-6

#: The largest magnitude of a prediction or a robustness number on the board. Labels and metrics
#: are on scales of a few units; a value beyond this is an overflow or an edited file, and it
#: would make every mean it enters (and every plot's axis) meaningless.
VALUE_LIMIT = 1e6


@dataclass(frozen=True)
class CheckedRecord:
    """A record that passed every check, its predictions and the metrics recomputed from them."""

    path: Path
    name: str  # the file, relative to the records folder
    record: ResultRecord
    predictions: pd.DataFrame
    metrics: dict[str, float]


def check_record(
    path: Path, records_dir: Path, datasets_by_name: Mapping[str, datasets.DatasetDict] | None = None
) -> CheckedRecord:
    """Every check of one record file; raises :class:`LeaderboardError` with the reason."""
    record = _read(path)
    if (path.parent.parent.name, path.parent.name, path.name) != (record.dataset, record.model, f"seed{record.seed}.json"):
        raise LeaderboardError(f"it holds {record.dataset}/{record.model}/seed{record.seed}; the file is misplaced")
    for field in ("config", "robustness", "training", "environment", "paper_results"):
        if not isinstance(getattr(record, field), dict):
            raise LeaderboardError(f"its {field} is a {type(getattr(record, field)).__name__}, not a JSON object")
    if not isinstance(record.dataset_fingerprint, str):
        raise LeaderboardError(f"its dataset_fingerprint is {record.dataset_fingerprint!r}, not text")
    problem = seal_problem(path, record)
    if problem:
        raise LeaderboardError(problem)
    reserved = base_name(record.model) in builtin_model_names()
    if reserved and record.code.get("kind") not in ("builtin",) and not record.config.get("reference"):
        raise LeaderboardError(f"{record.model!r} uses the reserved name of a built-in model, but its code is not the built-in model's")
    if record.code.get("kind") == "builtin" and record.code.get("entry") != base_name(record.model):
        raise LeaderboardError(f"its code is the built-in model {record.code.get('entry')!r}, not {base_name(record.model)!r}")
    predictions = _read_predictions(path)
    for column in predictions.columns:
        if pd.api.types.is_float_dtype(predictions[column]):
            _check_magnitude(predictions[column].to_numpy(dtype=np.float64), f"its predictions' {column} column")
    check_sweep(record.robustness)
    for where, value in [*_numbers(record.robustness, "robustness"), *_numbers(record.paper_results, "paper_results")]:
        _check_magnitude(np.array([value], dtype=np.float64), f"its {where}")
    metrics = compute_metrics(predictions)
    wrong = sorted(
        name for name in set(metrics) | set(record.metrics)
        if name not in metrics or name not in record.metrics or not _same(record.metrics[name], metrics[name])
    )
    if wrong:
        shown = ", ".join(f"{n} {record.metrics.get(n, math.nan):.4f} stored, {metrics.get(n, math.nan):.4f} from predictions" for n in wrong[:3])
        raise LeaderboardError(f"its metrics disagree with its predictions file ({shown}); the record was edited or is corrupt")
    if datasets_by_name and record.dataset in datasets_by_name:
        check_labels(predictions, datasets_by_name[record.dataset]["test"])
    return CheckedRecord(path, path.relative_to(records_dir).as_posix(), record, predictions, metrics)


def _without_path(path: Path, message: str) -> str:
    """The reason of an error whose message starts with the file's path (the refusal names it)."""
    for prefix in (f"{path}: ", f"{predictions_path(path)}: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _read(path: Path) -> ResultRecord:
    try:
        return load_record(path)
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise LeaderboardError(f"unreadable record ({_without_path(path, str(err))})") from None


def _read_predictions(path: Path) -> pd.DataFrame:
    try:
        return load_predictions(path)
    except (OSError, ValueError) as err:
        raise LeaderboardError(f"its predictions file cannot be used ({_without_path(path, str(err))})") from None


def _numbers(value: object, where: str) -> Iterator[tuple[str, float]]:
    """Every number inside a JSON value, with where it is (``robustness.clean.mae``)."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        yield where, float(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _numbers(item, f"{where}.{key}")
    elif isinstance(value, (list, tuple)):
        for k, item in enumerate(value):
            yield from _numbers(item, f"{where}[{k}]")


def _check_magnitude(values: np.ndarray, what: str) -> None:
    magnitude = np.abs(values[~np.isnan(values)])
    if magnitude.size and not magnitude.max() <= VALUE_LIMIT:
        raise LeaderboardError(
            f"{what} holds {magnitude.max():.3g}, beyond ±{VALUE_LIMIT:.0e}: an overflow or an edited file, "
            "not a score on the labels' scale"
        )


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= METRIC_TOLERANCE * max(1.0, abs(b))


LABEL_COLUMNS = {"sentiment_true": "sentiment", "emotion_true": "emotion"}


def check_labels(predictions: pd.DataFrame, test: datasets.Dataset) -> None:
    """The labels inside a predictions file must be the dataset's own test labels."""
    index = {example_id: row for row, example_id in enumerate(test["id"])}
    unknown = [i for i in predictions["id"] if i not in index]
    if unknown:
        raise LeaderboardError(f"{len(unknown)} predicted ids are not in the test split (e.g. {unknown[0]!r})")
    rows = [index[i] for i in predictions["id"]]
    for column, label in LABEL_COLUMNS.items():
        if column not in predictions or label not in test.column_names:
            continue
        truth = np.array([np.nan if v is None else v for v in test.select_columns([label])[label]], dtype=np.float64)[rows]
        given = predictions[column].to_numpy(dtype=np.float64)
        if label == "emotion":
            truth = np.where(np.isnan(truth), -1, truth)
        if not np.allclose(given, truth, atol=1e-6, equal_nan=True):
            raise LeaderboardError(f"its {column} column differs from the dataset's test labels")
