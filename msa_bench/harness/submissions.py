"""Predictions-only submissions: score a user's test predictions and add them to the leaderboard.

A submission is a parquet file with an ``id`` column and one or more prediction columns of the
predictions table (``sentiment_pred``, ``emotions_pred_<emotion>`` for all six emotions,
``emotion_pred``). Labels come from the dataset's test split, never from the submission; label
columns, when present, must agree with it. Nothing is written unless every check passes.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from msa_bench.util.errors import UserError
from msa_bench.scoring.metrics import (
    INT_COLUMNS,
    NO_CLASS,
    PREDICTION_COLUMNS,
    bootstrap_ci,
    compute_metrics,
    predictions_frame,
)
from msa_bench import __version__
from msa_bench.records.record import ResultRecord, current_git_commit
from msa_bench.records.store import RecordConflict, save_record
from msa_bench.data.schema import EKMAN_EMOTIONS, EMOTION_CLASSES

PREDICTED_COLUMNS: tuple[str, ...] = tuple(c for c in PREDICTION_COLUMNS if c.endswith("_pred") or "_pred_" in c)
LABEL_COLUMNS: tuple[str, ...] = tuple(c for c in PREDICTION_COLUMNS if c.endswith("_true") or "_true_" in c)
EMOTIONS_PRED = tuple(f"emotions_pred_{e}" for e in EKMAN_EMOTIONS)


class SubmissionError(UserError, ValueError):
    """A submission was rejected; the message says why. Nothing was written."""


def _preview(values) -> str:
    values = sorted(str(v) for v in values)
    shown = ", ".join(repr(v) for v in values[:5])
    return shown + (f" and {len(values) - 5} more" if len(values) > 5 else "")


def _read_submission(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise SubmissionError(f"{path}: no such file")
    try:
        return pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several unrelated types for a bad file
        raise SubmissionError(f"{path}: not a readable parquet file ({type(err).__name__}: {err})") from None


def labels_of_test_split(test_split: datasets.Dataset) -> pd.DataFrame:
    """The predictions table of a test split with its labels and no predictions."""
    rows = test_split.select_columns(["id", "sentiment", "emotions", "emotion"])[:]
    nan_row = [math.nan] * len(EKMAN_EMOTIONS)
    return predictions_frame(
        rows["id"],
        sentiment_true=[math.nan if v is None else v for v in rows["sentiment"]],
        emotions_true=[nan_row if v is None else v for v in rows["emotions"]],
        emotion_true=[NO_CLASS if v is None else v for v in rows["emotion"]],
    )


def _check_columns(submission: pd.DataFrame, fail) -> list[str]:
    unknown = [c for c in submission.columns if c not in PREDICTION_COLUMNS]
    if unknown:
        fail(f"unknown columns {unknown}; allowed: 'id' and {list(PREDICTED_COLUMNS)}")
    if "id" not in submission.columns:
        fail("no 'id' column")
    predicted = [c for c in PREDICTED_COLUMNS if c in submission.columns]
    if not predicted:
        fail(f"no prediction column; give at least one of {list(PREDICTED_COLUMNS)}")
    emotions = [c for c in EMOTIONS_PRED if c in submission.columns]
    if emotions and len(emotions) != len(EMOTIONS_PRED):
        fail(f"emotion intensities need all six columns {list(EMOTIONS_PRED)}; missing {sorted(set(EMOTIONS_PRED) - set(emotions))}")
    return predicted


def _check_ids(submission: pd.DataFrame, expected: set[str], fail) -> None:
    ids = submission["id"]
    if not pd.api.types.is_string_dtype(ids) or ids.isna().any():
        fail(f"'id' must hold strings with no missing values, got dtype {ids.dtype}")
    duplicated = set(ids[ids.duplicated()])
    missing, extra = expected - set(ids), set(ids) - expected
    if duplicated:
        fail(f"{len(duplicated)} id(s) appear more than once: {_preview(duplicated)}")
    if missing:
        fail(f"{len(missing)} test id(s) have no prediction: {_preview(missing)}")
    if extra:
        fail(f"{len(extra)} id(s) are not in the test split: {_preview(extra)}")


#: Predictions larger than this are no scores of any task (sentiment lies in [-3, 3], intensities
#: in [0, 3]); refusing them keeps every metric finite.
MAX_PREDICTION = 1e6


def prediction_columns(tasks) -> list[str]:
    """The prediction columns of ``tasks`` in the predictions table."""
    columns = {"sentiment": ["sentiment_pred"], "emotions": list(EMOTIONS_PRED), "emotion": ["emotion_pred"]}
    return [column for task in ("sentiment", "emotions", "emotion") if task in tasks for column in columns[task]]


def _check_values(submission: pd.DataFrame, predicted: list[str], fail) -> None:
    for column in predicted:
        values = submission[column]
        if column in INT_COLUMNS:
            if not pd.api.types.is_integer_dtype(values) or values.isna().any():
                fail(f"{column!r} must be integer class indices, got {values.dtype}")
            bad = values[(values < 0) | (values >= len(EMOTION_CLASSES))]
            if len(bad):
                fail(f"{column!r} has class {bad.iloc[0]} outside [0, {len(EMOTION_CLASSES)}) ({', '.join(EMOTION_CLASSES)})")
        else:
            if not pd.api.types.is_float_dtype(values) and not pd.api.types.is_integer_dtype(values):
                fail(f"{column!r} must be numeric, got {values.dtype}")
            finite = np.isfinite(values.to_numpy(dtype=np.float64))
            if not finite.all():
                fail(f"{column!r} has {int((~finite).sum())} missing or non-finite value(s), e.g. for id {submission['id'][~finite].iloc[0]!r}")
            huge = np.abs(values.to_numpy(dtype=np.float64)) > MAX_PREDICTION
            if huge.any():
                fail(f"{column!r} has {int(huge.sum())} value(s) beyond ±{MAX_PREDICTION:g}, e.g. {values[huge].iloc[0]!r} for id {submission['id'][huge].iloc[0]!r}: not a score")


def _check_labels(submission: pd.DataFrame, labels: pd.DataFrame, fail) -> None:
    for column in (c for c in LABEL_COLUMNS if c in submission.columns):
        given = submission[column].to_numpy(dtype=np.float64)
        truth = labels[column].to_numpy(dtype=np.float64)
        same = np.isclose(given, truth, atol=1e-5, equal_nan=True)
        if not same.all():
            fail(f"{column!r} disagrees with the dataset's test labels (e.g. id {submission['id'][~same].iloc[0]!r}): wrong dataset?")


def scored_table(submission: pd.DataFrame, labels: pd.DataFrame, source: str) -> pd.DataFrame:
    """The full predictions table: the test labels plus the submission's predictions.

    Raises :class:`SubmissionError` naming ``source`` when the submission is invalid.
    """

    def fail(problem: str) -> None:
        raise SubmissionError(f"{source}: {problem}")

    predicted = _check_columns(submission, fail)
    _check_ids(submission, set(labels["id"]), fail)
    _check_values(submission, predicted, fail)
    submission = submission.set_index("id").loc[labels["id"]].reset_index()
    _check_labels(submission, labels, fail)
    table = labels.copy()
    for column in predicted:
        table[column] = submission[column].to_numpy(dtype=np.int64 if column in INT_COLUMNS else np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # only whether anything is scorable matters here
        scorable = compute_metrics(table)
    if not scorable:
        fail("the predicted tasks are not labelled in this dataset's test split; nothing to score")
    return table


def submit_predictions(
    path: str | Path,
    dataset: str,
    name: str,
    records_dir: str | Path,
    data_dir: str | Path | None = None,
    *,
    seed: int = 0,
    cache_dir: str | Path | None = None,
    dataset_config: dict | None = None,
    replace: bool = False,
) -> Path:
    """Validate a predictions parquet against ``dataset``'s test split and add its record.

    ``seed`` tells apart several submitted runs of one model (their records form one entry).
    ``dataset_config`` is passed to the dataset builder (e.g. ``{"n_clips": 300}`` for a smaller
    synthetic set). Returns the record's path; raises :class:`SubmissionError` (writing nothing)
    when the file is invalid, when ``name`` breaks the naming rule or is reserved, holds records
    of another kind, or already has this seed (unless ``replace``: the old record is moved aside).
    """
    from msa_bench.harness.training import dataset_fingerprint
    from msa_bench.loading.load import canonical_name, load_dataset
    from msa_bench.models import builtin_model_names
    from msa_bench.records.names import check_entry_name, check_not_reserved
    from msa_bench.records.seal import code_identity

    path = Path(path)
    dataset = canonical_name(dataset)
    check_not_reserved(check_entry_name(name), builtin_model_names())
    submission = _read_submission(path)
    data = load_dataset(dataset, data_dir=data_dir, cache_dir=cache_dir, **(dataset_config or {}))
    table = scored_table(submission, labels_of_test_split(data["test"]), source=str(path))
    record = ResultRecord(
        model=name,
        dataset=dataset,
        seed=seed,
        kind="predictions_only",
        metrics=compute_metrics(table),
        ci=bootstrap_ci(table),
        dataset_fingerprint=dataset_fingerprint(data),
        config={"dataset": dataset, "dataset_config": dataset_config or {}},
        git_commit=current_git_commit(),
        device="none",
        code=code_identity("predictions", {}, f"msa_bench {__version__}"),
    )
    try:  # checked under the records lock: another submission may have taken the name meanwhile
        return save_record(record, table, records_dir, replace=replace)
    except RecordConflict as err:
        raise SubmissionError(str(err)) from None
