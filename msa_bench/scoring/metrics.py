"""Evaluation metrics, defined once, with bootstrap confidence intervals and paired significance.

Every metric is a weighted statistic of per-example quantities. The point estimate uses weight 1
for every test example; a bootstrap resample is the same computation with multinomial weights
(how often each example was drawn). So one implementation serves the metric, its confidence
interval and the paired significance test, and 1,000 resamples are a few matrix products.

Test predictions live in one table per run (see :func:`predictions_frame`): one row per test
example, NaN / -1 where a label is not annotated or a task not predicted.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from msa_bench.util.registry import Registry
from msa_bench.data.schema import EKMAN_EMOTIONS, EMOTION_CLASSES

TASKS: tuple[str, ...] = ("sentiment", "emotions", "emotion")

#: ``emotion_true`` / ``emotion_pred`` value meaning "not annotated" / "not predicted".
NO_CLASS = -1

#: The metric each task is ranked by by default (leaderboard row order, robustness curves).
PRIMARY_METRIC: dict[str, str] = {"sentiment": "acc2_non0", "emotions": "emotions_wacc_mean", "emotion": "emotion_wa"}


class UndefinedMetricWarning(UserWarning):
    """A metric is undefined on the given input (e.g. correlation of a constant) and is NaN."""


@dataclass(frozen=True)
class MetricInfo:
    """What the leaderboard needs to know about a metric."""

    name: str
    task: str
    higher_is_better: bool
    description: str


METRICS: Registry[MetricInfo] = Registry("metric")
_TASK_METRICS: dict[str, list[str]] = {task: [] for task in TASKS}


def _declare(name: str, task: str, higher_is_better: bool, description: str) -> None:
    METRICS.register(name, MetricInfo(name, task, higher_is_better, description))
    _TASK_METRICS[task].append(name)


def task_metrics(task: str) -> tuple[str, ...]:
    """The metric names of ``task``, in reporting order."""
    return tuple(_TASK_METRICS[task])


_declare("mae", "sentiment", False, "mean absolute error of the unclipped scores")
_declare("corr", "sentiment", True, "Pearson correlation of the unclipped scores (NaN when either side is constant)")
_declare("acc2_has0", "sentiment", True, "accuracy of label >= 0 vs prediction >= 0, all samples")
_declare("f1_has0", "sentiment", True, "weighted F1 of label >= 0 vs prediction >= 0, all samples")
_declare("acc2_non0", "sentiment", True, "accuracy of label > 0 vs prediction > 0, samples with label != 0")
_declare("f1_non0", "sentiment", True, "weighted F1 of label > 0 vs prediction > 0, samples with label != 0")
_declare("acc5", "sentiment", True, "5-class accuracy: clip to [-2, 2], round half to even")
_declare("acc7", "sentiment", True, "7-class accuracy: clip to [-3, 3], round half to even")
_declare("acc7_sdk", "sentiment", True, "7-class accuracy with the CMU SDK's interval bins")
_declare("emotions_wacc_mean", "emotions", True, "mean of the six per-emotion weighted accuracies")
_declare("emotions_f1_mean", "emotions", True, "mean of the six per-emotion F1 scores")
for _emotion in EKMAN_EMOTIONS:
    _declare(
        f"{_emotion}_wacc",
        "emotions",
        True,
        f"{_emotion} presence (intensity > 0) weighted accuracy (TP*N/P + TN) / 2N (NaN without both classes)",
    )
    _declare(f"{_emotion}_f1", "emotions", True, f"{_emotion} presence (intensity > 0) binary F1 of the present class")
_declare("emotion_wa", "emotion", True, "categorical emotion accuracy (weighted accuracy, WA)")
_declare("emotion_ua", "emotion", True, "mean per-class recall over the classes present in the labels (UA)")
_declare("emotion_macro_f1", "emotion", True, "macro F1 over the classes present in labels or predictions")


# --- weighted statistics: weights have shape (B, n), results shape (B,) --------------------------


def _weighted_sums(weights: np.ndarray, columns: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """``weights @ column`` for every per-example column at once (one matrix product).

    A 1-D column (n,) gives sums of shape (B,); a 2-D block (n, k) gives (B, k).
    """
    blocks = {name: np.asarray(c, dtype=np.float64) for name, c in columns.items()}
    product = weights @ np.concatenate([b[:, None] if b.ndim == 1 else b for b in blocks.values()], axis=1)
    sums, start = {}, 0
    for name, block in blocks.items():
        if block.ndim == 1:
            sums[name], start = product[:, start], start + 1
        else:
            sums[name], start = product[:, start : start + block.shape[1]], start + block.shape[1]
    return sums


def _one_hot_cells(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n_classes**2): a 1 in each example's (true class, predicted class) cell."""
    cell = y_true.astype(np.int64) * n_classes + y_pred.astype(np.int64)
    one_hot = np.zeros((cell.size, n_classes * n_classes))
    one_hot[np.arange(cell.size), cell] = 1.0
    return one_hot


def _counts(cell_sums: np.ndarray, n_classes: int) -> np.ndarray:
    """Weighted confusion counts, shape (B, true class, predicted class)."""
    return cell_sums.reshape(-1, n_classes, n_classes)


def _centred_moments(x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Per-example terms of the correlation's moments (shifting does not change the
    correlation; centring keeps precision)."""
    x = x - x.mean() if x.size else x
    y = y - y.mean() if y.size else y
    return {"x": x, "y": y, "xx": x * x, "yy": y * y, "xy": x * y}


def _correlation(sums: dict[str, np.ndarray], total: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x, mean_y = sums["x"] / total, sums["y"] / total
        var_x = np.maximum(sums["xx"] / total - mean_x**2, 0.0)
        var_y = np.maximum(sums["yy"] / total - mean_y**2, 0.0)
        # A constant side has (numerically) zero variance: undefined, not a huge number.
        tiny = np.finfo(np.float64).tiny
        degenerate = (var_x <= 1e-12 * np.maximum(sums["xx"] / total, tiny)) | (
            var_y <= 1e-12 * np.maximum(sums["yy"] / total, tiny)
        )
        corr = (sums["xy"] / total - mean_x * mean_y) / np.sqrt(var_x * var_y)
    return np.where(degenerate, np.nan, np.clip(corr, -1.0, 1.0))


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / np.where(denominator > 0, denominator, 1.0), np.nan)


def _mean_defined(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """Mean over the defined (non-NaN) entries; NaN when none is defined."""
    defined = ~np.isnan(values)
    return _ratio(np.where(defined, values, 0.0).sum(axis=axis), defined.sum(axis=axis).astype(np.float64))


def _accuracy(counts: np.ndarray) -> np.ndarray:
    return _ratio(np.trace(counts, axis1=1, axis2=2), counts.sum(axis=(1, 2)))


def _per_class_f1(counts: np.ndarray) -> np.ndarray:
    """F1 per class, NaN for a class absent from both labels and predictions."""
    true_positive = np.diagonal(counts, axis1=1, axis2=2)
    return _ratio(2 * true_positive, counts.sum(axis=2) + counts.sum(axis=1))


def _weighted_f1(counts: np.ndarray) -> np.ndarray:
    """scikit-learn's ``f1_score(y_true, y_pred, average="weighted")``."""
    support = counts.sum(axis=2)
    return _ratio((support * np.nan_to_num(_per_class_f1(counts))).sum(axis=1), support.sum(axis=1))


def _per_class_recall(counts: np.ndarray) -> np.ndarray:
    """Recall per class, NaN for a class absent from the labels."""
    return _ratio(np.diagonal(counts, axis1=1, axis2=2), counts.sum(axis=2))


# --- per-task scores ----------------------------------------------------------------------------


def _sdk_bins(scores: np.ndarray) -> np.ndarray:
    """The CMU SDK's 7 classes: < -2 -> -3, [-2, -1) -> -2, [-1, 0) -> -1, 0 -> 0, (0, 1] -> 1,
    (1, 2] -> 2, > 2 -> 3 (each half-open interval rounds away from zero)."""
    return np.clip(np.sign(scores) * np.ceil(np.abs(scores)), -3, 3)


def _rounded_class(scores: np.ndarray, bound: float) -> np.ndarray:
    return np.round(np.clip(scores, -bound, bound))  # numpy rounds half to even


def _sentiment_scores(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    non0 = (y_true != 0).astype(np.float64)
    sums = _weighted_sums(
        weights,
        {
            "total": np.ones_like(y_true),
            "abs_error": np.abs(y_true - y_pred),
            **_centred_moments(y_true, y_pred),
            "acc5": _rounded_class(y_true, 2) == _rounded_class(y_pred, 2),
            "acc7": _rounded_class(y_true, 3) == _rounded_class(y_pred, 3),
            "acc7_sdk": _sdk_bins(y_true) == _sdk_bins(y_pred),
            "has0": _one_hot_cells(y_true >= 0, y_pred >= 0, 2),
            "non0": _one_hot_cells(y_true > 0, y_pred > 0, 2) * non0[:, None],
        },
    )
    total = sums["total"]
    has0, non0_counts = _counts(sums["has0"], 2), _counts(sums["non0"], 2)
    return {
        "mae": _ratio(sums["abs_error"], total),
        "corr": _correlation(sums, total),
        "acc2_has0": _accuracy(has0),
        "f1_has0": _weighted_f1(has0),
        "acc2_non0": _accuracy(non0_counts),
        "f1_non0": _weighted_f1(non0_counts),
        "acc5": _ratio(sums["acc5"], total),
        "acc7": _ratio(sums["acc7"], total),
        "acc7_sdk": _ratio(sums["acc7_sdk"], total),
    }


def _emotions_scores(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    sums = _weighted_sums(
        weights, {e: _one_hot_cells(y_true[:, k] > 0, y_pred[:, k] > 0, 2) for k, e in enumerate(EKMAN_EMOTIONS)}
    )
    scores: dict[str, np.ndarray] = {}
    for emotion in EKMAN_EMOTIONS:
        counts = _counts(sums[emotion], 2)
        recall = _per_class_recall(counts)
        scores[f"{emotion}_wacc"] = (recall[:, 0] + recall[:, 1]) / 2  # (TP*N/P + TN) / 2N
        scores[f"{emotion}_f1"] = _per_class_f1(counts)[:, 1]
    scores["emotions_wacc_mean"] = np.mean([scores[f"{e}_wacc"] for e in EKMAN_EMOTIONS], axis=0)
    scores["emotions_f1_mean"] = np.mean([scores[f"{e}_f1"] for e in EKMAN_EMOTIONS], axis=0)
    return scores


def _emotion_class_scores(y_true: np.ndarray, y_pred: np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray]:
    counts = _confusion_counts(y_true, y_pred, len(EMOTION_CLASSES), weights)
    return {
        "emotion_wa": _accuracy(counts),
        "emotion_ua": _mean_defined(_per_class_recall(counts)),
        "emotion_macro_f1": _mean_defined(_per_class_f1(counts)),
    }


def _confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, weights: np.ndarray) -> np.ndarray:
    return _counts(weights @ _one_hot_cells(y_true, y_pred, n_classes), n_classes)


_SCORERS = {"sentiment": _sentiment_scores, "emotions": _emotions_scores, "emotion": _emotion_class_scores}


# --- input checks and the plain-array API -------------------------------------------------------


def _check_pair(y_true, y_pred, ndim: int) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true, dtype=np.float64), np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true has shape {y_true.shape} but y_pred has shape {y_pred.shape}")
    if y_true.ndim != ndim or (ndim == 2 and y_true.shape[1] != len(EKMAN_EMOTIONS)):
        expected = "(N,)" if ndim == 1 else f"(N, {len(EKMAN_EMOTIONS)})"
        raise ValueError(f"expected arrays of shape {expected}, got {y_true.shape}")
    return y_true, y_pred


def _annotated(y_true: np.ndarray, y_pred: np.ndarray, annotated: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep annotated rows; every one of them must have a finite prediction."""
    bad = annotated & ~np.isfinite(y_pred).reshape(len(y_pred), -1).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"y_pred has {int(bad.sum())} non-finite value(s) where y_true is annotated "
            f"(first at index {first}: {y_pred[first]!r})"
        )
    return y_true[annotated], y_pred[annotated]


def _point(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    scores = {name: float(v[0]) for name, v in _SCORERS[task](y_true, y_pred, np.ones((1, len(y_true)))).items()}
    for name, value in scores.items():
        if np.isnan(value):
            warnings.warn(
                f"{name} is undefined on this input ({len(y_true)} annotated samples); it is NaN. "
                f"{name}: {METRICS.get(name).description}",
                UndefinedMetricWarning,
                stacklevel=3,
            )
    return scores


def sentiment_metrics(y_true, y_pred) -> dict[str, float]:
    """Sentiment regression metrics; NaN labels (not annotated) are dropped.

    >>> sentiment_metrics([-1.0, 0.0, 2.0], [-0.5, 0.5, 2.0])["mae"]  # doctest: +ELLIPSIS
    0.333...
    """
    y_true, y_pred = _check_pair(y_true, y_pred, ndim=1)
    return _point("sentiment", *_annotated(y_true, y_pred, ~np.isnan(y_true)))


def emotions_metrics(y_true, y_pred) -> dict[str, float]:
    """Per-emotion presence (intensity > 0) weighted accuracy and F1, and their means.

    Inputs have shape (N, 6) in ``EKMAN_EMOTIONS`` order; rows with NaN labels are dropped.
    """
    y_true, y_pred = _check_pair(y_true, y_pred, ndim=2)
    return _point("emotions", *_annotated(y_true, y_pred, ~np.isnan(y_true).any(axis=1)))


def _check_classes(y_true, y_pred, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"expected two arrays of shape (N,), got {y_true.shape} and {y_pred.shape}")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if values.size and not np.issubdtype(values.dtype, np.integer):
            raise ValueError(f"{name} must hold integer class indices, got dtype {values.dtype}")
        out_of_range = (values < NO_CLASS) | (values >= n_classes)
        if out_of_range.any():
            raise ValueError(f"{name} has class {values[out_of_range][0]} outside [0, {n_classes}) (-1 = none)")
    annotated = y_true != NO_CLASS
    missing = annotated & (y_pred == NO_CLASS)
    if missing.any():
        raise ValueError(f"y_pred has no class for {int(missing.sum())} annotated sample(s)")
    return y_true[annotated], y_pred[annotated]


def emotion_class_metrics(y_true, y_pred) -> dict[str, float]:
    """Categorical emotion WA (accuracy), UA (mean recall over classes in y_true), macro F1.

    Class indices follow ``EMOTION_CLASSES``; labels of -1 (not annotated) are dropped.

    >>> emotion_class_metrics([0, 1, 1, 2], [0, 1, 2, 2])["emotion_ua"]
    0.8333333333333334
    """
    return _point("emotion", *_check_classes(y_true, y_pred, len(EMOTION_CLASSES)))


def confusion_matrix(y_true, y_pred, n_classes: int = len(EMOTION_CLASSES)) -> np.ndarray:
    """Counts with true classes as rows and predicted classes as columns (labels of -1 dropped)."""
    y_true, y_pred = _check_classes(y_true, y_pred, n_classes)
    return _confusion_counts(y_true, y_pred, n_classes, np.ones((1, len(y_true))))[0].astype(np.int64)


# --- the predictions table ----------------------------------------------------------------------


def _emotions_columns(kind: str) -> list[str]:
    return [f"emotions_{kind}_{e}" for e in EKMAN_EMOTIONS]


FLOAT_COLUMNS: tuple[str, ...] = (
    "sentiment_true",
    "sentiment_pred",
    *_emotions_columns("true"),
    *_emotions_columns("pred"),
)
INT_COLUMNS: tuple[str, ...] = ("emotion_true", "emotion_pred")
PREDICTION_COLUMNS: tuple[str, ...] = ("id", *FLOAT_COLUMNS, *INT_COLUMNS)


def predictions_frame(
    ids,
    sentiment_true=None,
    sentiment_pred=None,
    emotions_true=None,
    emotions_pred=None,
    emotion_true=None,
    emotion_pred=None,
) -> pd.DataFrame:
    """The predictions table of one run: one row per test example, keyed by ``id``.

    Arrays may be numpy arrays, lists or CPU tensors; ``None`` means not annotated / not
    predicted (NaN, or -1 for the categorical emotion).
    """
    ids = [str(i) for i in ids]
    n = len(ids)
    columns: dict[str, object] = {"id": pd.array(ids, dtype="str")}

    def values(name: str, array, shape: tuple[int, ...], fill, dtype) -> np.ndarray:
        if array is None:
            return np.full(shape, fill, dtype=dtype)
        array = np.asarray(array)
        if array.shape != shape:
            raise ValueError(f"{name} has shape {array.shape}, expected {shape} ({n} ids)")
        return array.astype(dtype)

    for kind, array in (("true", sentiment_true), ("pred", sentiment_pred)):
        columns[f"sentiment_{kind}"] = values(f"sentiment_{kind}", array, (n,), np.nan, np.float64)
    for kind, array in (("true", emotions_true), ("pred", emotions_pred)):
        block = values(f"emotions_{kind}", array, (n, len(EKMAN_EMOTIONS)), np.nan, np.float64)
        columns.update(zip(_emotions_columns(kind), block.T))
    for kind, array in (("true", emotion_true), ("pred", emotion_pred)):
        columns[f"emotion_{kind}"] = values(f"emotion_{kind}", array, (n,), NO_CLASS, np.int64)
    frame = pd.DataFrame(columns)
    validate_predictions(frame)
    return frame


def _ids_preview(ids: pd.Series) -> str:
    shown = ", ".join(repr(i) for i in ids.iloc[:5])
    return shown + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")


def validate_predictions(df: pd.DataFrame, source: str = "predictions") -> None:
    """Raise ``ValueError`` (message starting with ``source``) unless ``df`` is a valid table."""

    def fail(problem: str) -> None:
        raise ValueError(f"{source}: {problem}")

    if not isinstance(df, pd.DataFrame):
        fail(f"expected a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    extra = [c for c in df.columns if c not in PREDICTION_COLUMNS]
    if missing or extra:
        fail(f"missing columns {missing}, unexpected columns {extra} (expected {list(PREDICTION_COLUMNS)})")
    if not pd.api.types.is_string_dtype(df["id"]) or df["id"].isna().any():
        fail("column 'id' must hold strings, with no missing values")
    duplicated = df["id"][df["id"].duplicated()]
    if len(duplicated):
        fail(f"{len(duplicated)} duplicated id(s): {_ids_preview(duplicated)}")
    for column in FLOAT_COLUMNS:
        if not pd.api.types.is_float_dtype(df[column]):
            fail(f"column {column!r} must be float, got {df[column].dtype}")
        if np.isinf(df[column].to_numpy(dtype=np.float64)).any():
            fail(f"column {column!r} has infinite values")
    for column in INT_COLUMNS:
        if not pd.api.types.is_integer_dtype(df[column]) or df[column].isna().any():
            fail(f"column {column!r} must be integer with -1 for 'none', got {df[column].dtype}")
        out_of_range = df[column][(df[column] < NO_CLASS) | (df[column] >= len(EMOTION_CLASSES))]
        if len(out_of_range):
            fail(f"column {column!r} has class {out_of_range.iloc[0]} outside [0, {len(EMOTION_CLASSES)}) (-1 = none)")
    for kind in ("true", "pred"):
        nan = np.isnan(_float_block(df, _emotions_columns(kind)))
        partial = nan.any(axis=1) & ~nan.all(axis=1)
        if partial.any():
            fail(f"emotions_{kind}_* are partly missing for id(s) {_ids_preview(df['id'][partial])}")
    for task in TASKS:
        annotated, predicted = _task_masks(df, task)
        unpredicted = annotated & ~predicted
        if predicted.any() and unpredicted.any():
            fail(f"{task} is predicted for some examples but not for annotated id(s) {_ids_preview(df['id'][unpredicted])}")


def _float_block(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return np.column_stack([df[c].to_numpy(dtype=np.float64) for c in columns])


def _task_masks(df: pd.DataFrame, task: str) -> tuple[np.ndarray, np.ndarray]:
    """(annotated, predicted) row masks of one task."""
    if task == "sentiment":
        return ~np.isnan(df["sentiment_true"].to_numpy(dtype=np.float64)), ~np.isnan(
            df["sentiment_pred"].to_numpy(dtype=np.float64)
        )
    if task == "emotions":
        return tuple(~np.isnan(_float_block(df, _emotions_columns(kind))).any(axis=1) for kind in ("true", "pred"))
    return df["emotion_true"].to_numpy() != NO_CLASS, df["emotion_pred"].to_numpy() != NO_CLASS


@dataclass(frozen=True)
class _TaskData:
    task: str
    rows: np.ndarray  # positions of the annotated rows among the id-sorted rows
    y_true: np.ndarray
    y_pred: np.ndarray


def _sorted_ids(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(the ids in sorted order, the row order that sorts them)."""
    ids = df["id"].to_numpy(dtype=str)
    order = np.argsort(ids, kind="stable")
    return ids[order], order


def _task_data(df: pd.DataFrame) -> list[_TaskData]:
    """The scorable tasks of a table (those with labels and predictions), rows in id order."""
    _, order = _sorted_ids(df)
    found = []
    for task in TASKS:
        annotated, predicted = (mask[order] for mask in _task_masks(df, task))
        if not (annotated & predicted).any():
            continue
        if task == "emotions":
            y_true, y_pred = _float_block(df, _emotions_columns("true")), _float_block(df, _emotions_columns("pred"))
        else:
            y_true, y_pred = df[f"{task}_true"].to_numpy(), df[f"{task}_pred"].to_numpy()
        y_true, y_pred = y_true[order][annotated], y_pred[order][annotated]
        found.append(_TaskData(task, np.flatnonzero(annotated), y_true, y_pred))
    return found


def compute_metrics(predictions: pd.DataFrame) -> dict[str, float]:
    """Every metric of every task that has both labels and predictions in the table."""
    validate_predictions(predictions)
    metrics: dict[str, float] = {}
    for data in _task_data(predictions):
        metrics.update(_point(data.task, data.y_true, data.y_pred))
    return metrics


# --- bootstrap ----------------------------------------------------------------------------------


def resample_weights(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """Multinomial weights (n_resamples, n): how often each row is drawn in each resample."""
    if n < 1 or n_resamples < 1:
        raise ValueError(f"need at least one row and one resample, got n={n}, n_resamples={n_resamples}")
    drawn = np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))
    flat = (drawn + np.arange(n_resamples)[:, None] * n).ravel()
    return np.bincount(flat, minlength=n_resamples * n).reshape(n_resamples, n).astype(np.float64)


def _as_tables(predictions: pd.DataFrame | Sequence[pd.DataFrame]) -> list[pd.DataFrame]:
    return [predictions] if isinstance(predictions, pd.DataFrame) else list(predictions)


def bootstrap_scores(
    predictions: pd.DataFrame | Sequence[pd.DataFrame], n_resamples: int = 1000, seed: int = 0
) -> dict[str, np.ndarray]:
    """Each metric on each bootstrap resample of the test rows, shape (n_resamples,).

    Rows are ordered by id before resampling, so the same seed draws the same examples for every
    table over the same ids: resamples are paired across models. Given several tables (one per
    training seed, same ids), each resample's score is the mean over them, matching the
    leaderboard's mean over seeds.
    """
    tables = _as_tables(predictions)
    if not tables:
        raise ValueError("no predictions given")
    for table in tables:
        validate_predictions(table)
    ids = _sorted_ids(tables[0])[0]
    if any(not np.array_equal(_sorted_ids(table)[0], ids) for table in tables[1:]):
        raise ValueError("the prediction tables cover different test ids")
    weights = resample_weights(len(ids), n_resamples, seed)
    per_table = []
    for table in tables:
        scores: dict[str, np.ndarray] = {}
        for data in _task_data(table):
            rows = weights if len(data.rows) == len(ids) else weights[:, data.rows]
            scores.update(_SCORERS[data.task](data.y_true, data.y_pred, rows))
        per_table.append(scores)
    shared = set.intersection(*(set(s) for s in per_table))
    return {name: np.mean([s[name] for s in per_table], axis=0) for name in per_table[0] if name in shared}


def seed_bootstrap_scores(
    predictions: Sequence[pd.DataFrame], n_resamples: int = 1000, seed: int = 0, seed_draws: int = 0
) -> dict[str, np.ndarray]:
    """Like :func:`bootstrap_scores` over several training seeds' tables, resampling the seeds too.

    Each resample draws the test rows (paired across models: the same ``seed`` draws the same
    rows) and, independently, as many training seeds as there are, with replacement (``seed_draws``
    seeds that draw), and scores the mean over the drawn seeds. The spread then holds both the
    test-set variance and the seed-to-seed variance; with one seed it is :func:`bootstrap_scores`.
    """
    tables = list(predictions)
    per_table = [bootstrap_scores(table, n_resamples, seed) for table in tables]
    ids = [_sorted_ids(table)[0] for table in tables]
    if any(not np.array_equal(other, ids[0]) for other in ids[1:]):
        raise ValueError("the prediction tables cover different test ids")
    drawn = np.random.default_rng(seed_draws).integers(0, len(tables), size=(n_resamples, len(tables)))
    resample = np.arange(n_resamples)[:, None]
    shared = set.intersection(*(set(scores) for scores in per_table))
    return {
        name: np.stack([scores[name] for scores in per_table])[drawn, resample].mean(axis=1)
        for name in per_table[0]
        if name in shared
    }


def holm_rejections(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Holm's step-down procedure: which of the hypotheses are rejected at family-wise ``alpha``.

    >>> holm_rejections([0.01, 0.04, 0.03])
    [True, False, False]
    """
    order = np.argsort(np.asarray(p_values, dtype=np.float64), kind="stable")
    rejected = [False] * len(order)
    for rank, index in enumerate(order):
        if p_values[index] > alpha / (len(order) - rank):
            break
        rejected[index] = True
    return rejected


def bootstrap_ci(
    predictions: pd.DataFrame, n_resamples: int = 1000, seed: int = 0, confidence: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Percentile bootstrap confidence interval of every metric (resampling test rows)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    tail = (1 - confidence) / 2 * 100
    intervals = {}
    for name, values in bootstrap_scores(predictions, n_resamples, seed).items():
        defined = values[~np.isnan(values)]
        low, high = np.percentile(defined, [tail, 100 - tail]) if defined.size else (np.nan, np.nan)
        intervals[name] = (float(low), float(high))
    return intervals


def paired_pvalue(scores_a: np.ndarray, scores_b: np.ndarray, metric: str) -> float:
    """One-sided p-value that A is better than B from paired bootstrap scores.

    The share of resamples in which A is not better (NaN counts as not better), with the usual
    add-one correction ``(1 + count) / (1 + n_resamples)``, so p is never exactly 0.
    """
    difference = scores_a - scores_b if METRICS.get(metric).higher_is_better else scores_b - scores_a
    not_better = int(np.count_nonzero(~(difference > 0)))
    return (1 + not_better) / (1 + len(difference))


def paired_bootstrap_pvalue(
    pred_a: pd.DataFrame | Sequence[pd.DataFrame],
    pred_b: pd.DataFrame | Sequence[pd.DataFrame],
    metric: str,
    n_resamples: int = 1000,
    seed: int = 0,
) -> float:
    """One-sided paired bootstrap p-value that A is better than B on ``metric``.

    Both sides are scored on the same resampled test rows (aligned by id); ``higher_is_better``
    of the metric sets the direction. Each side may be several tables (one per training seed).
    """
    METRICS.get(metric)  # an unknown name fails here, with "did you mean"
    tables_a, tables_b = _as_tables(pred_a), _as_tables(pred_b)
    if tables_a and tables_b and set(tables_a[0]["id"]) != set(tables_b[0]["id"]):
        raise ValueError("A and B cover different test ids; paired resampling needs the same ids")
    scores = []
    for side, tables in (("A", tables_a), ("B", tables_b)):
        side_scores = bootstrap_scores(tables, n_resamples, seed)
        if metric not in side_scores:
            raise ValueError(f"{side} has no {metric!r}: its tables lack labels or predictions for that task")
        scores.append(side_scores[metric])
    return paired_pvalue(scores[0], scores[1], metric)
