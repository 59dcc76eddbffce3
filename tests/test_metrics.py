"""Metrics against hand-computed values; bootstrap and paired significance behaviour."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from msa_bench.scoring.metrics import (
    METRICS,
    PREDICTION_COLUMNS,
    UndefinedMetricWarning,
    _sdk_bins,
    bootstrap_ci,
    bootstrap_scores,
    compute_metrics,
    confusion_matrix,
    emotion_class_metrics,
    emotions_metrics,
    paired_bootstrap_pvalue,
    predictions_frame,
    resample_weights,
    sentiment_metrics,
    validate_predictions,
)
from msa_bench.data.schema import EKMAN_EMOTIONS

# Labels and predictions with zeros on both sides, a prediction exactly at 0 for a negative
# label (wrong under Has0, right under Non0) and values exactly halfway between classes.
TRUE = [-2.5, -1.0, 0.0, 0.0, 0.5, 1.5, 3.0]
PRED = [-1.5, 0.0, 0.0, -0.5, 1.5, 2.5, 2.0]


def test_sentiment_metrics_hand_computed():
    m = sentiment_metrics(TRUE, PRED)
    assert m["mae"] == pytest.approx(5.5 / 7)
    # Has0: label >= 0 vs pred >= 0; wrong at the -1.0/0.0 and 0.0/-0.5 pairs.
    assert m["acc2_has0"] == pytest.approx(5 / 7)
    # positive class: support 5, TP 4, FP 1, FN 1 -> F1 0.8; negative: support 2, F1 0.5
    assert m["f1_has0"] == pytest.approx((5 * 0.8 + 2 * 0.5) / 7)
    # Non0 drops the two zero labels; the 0.0 prediction for -1.0 counts as negative: all right.
    assert m["acc2_non0"] == 1.0
    assert m["f1_non0"] == 1.0
    # clipped to [-2, 2] and rounded half to even: -2 -1 0 0 0 2 2 vs -2 0 0 -0 2 2 2
    assert m["acc5"] == pytest.approx(5 / 7)
    # clipped to [-3, 3]: -2 -1 0 0 0 2 3 vs -2 0 0 -0 2 2 2
    assert m["acc7"] == pytest.approx(4 / 7)
    # SDK bins: -3 -1 0 0 1 2 3 vs -2 0 0 -1 2 3 2
    assert m["acc7_sdk"] == pytest.approx(1 / 7)


def test_sentiment_f1_is_sklearn_f1_of_true_then_pred():
    rng = np.random.default_rng(3)
    y_true = np.round(rng.normal(0, 1.5, 300), 1)
    y_pred = y_true + rng.normal(0, 1.0, 300)
    y_pred[:20] = 0.0
    m = sentiment_metrics(y_true, y_pred)
    assert m["f1_has0"] == pytest.approx(skm.f1_score(y_true >= 0, y_pred >= 0, average="weighted"))
    non0 = y_true != 0
    assert m["f1_non0"] == pytest.approx(skm.f1_score(y_true[non0] > 0, y_pred[non0] > 0, average="weighted"))
    assert m["corr"] == pytest.approx(np.corrcoef(y_true, y_pred)[0, 1])


def test_correlation_hand_computed_and_undefined_for_constant():
    assert sentiment_metrics([1.0, 2.0, 3.0], [1.0, 3.0, 2.0])["corr"] == pytest.approx(0.5)
    with pytest.warns(UndefinedMetricWarning, match="corr"):
        m = sentiment_metrics([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert np.isnan(m["corr"])
    assert m["mae"] == pytest.approx(2.0)


def test_sdk_bins_at_every_boundary():
    scores = np.array([-3.5, -2.0001, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.0001, 3.5])
    assert _sdk_bins(scores).tolist() == [-3, -3, -2, -2, -1, -1, 0, 1, 1, 2, 2, 3, 3]


def test_round_half_to_even():
    halves = [0.5, 1.5, 2.5, -0.5, -2.5]
    assert sentiment_metrics(halves, [0.0, 2.0, 2.0, 0.0, -2.0])["acc7"] == 1.0
    assert sentiment_metrics(halves, [1.0, 1.0, 3.0, -1.0, -3.0])["acc7"] == 0.0


def test_unannotated_sentiment_is_dropped_and_missing_predictions_rejected():
    assert sentiment_metrics([np.nan, 1.0, -1.0], [5.0, 1.0, -1.0])["mae"] == 0.0
    with pytest.raises(ValueError, match="non-finite"):
        sentiment_metrics([0.5, 1.0], [np.nan, 1.0])
    with pytest.raises(ValueError, match="shape"):
        sentiment_metrics([0.5, 1.0], [1.0])


def _emotion_block(first: list[float], second: list[float]) -> np.ndarray:
    """anger and the last four emotions take ``first``; disgust takes ``second``."""
    block = np.array([first] * len(EKMAN_EMOTIONS)).T
    block[:, 1] = second
    return block


def test_emotions_metrics_hand_computed():
    y_true = _emotion_block([0, 1, 2, 0], [1, 1, 1, 0])
    y_pred = _emotion_block([0.5, 0, 1, 0], [1, 1, 0, 0])  # a 0 prediction means "absent"
    m = emotions_metrics(y_true, y_pred)
    # anger: TP 1, FN 1, FP 1, TN 1 -> WA (1*2/2 + 1) / 4 = 0.5, F1 2/4
    assert m["anger_wacc"] == pytest.approx(0.5)
    assert m["anger_f1"] == pytest.approx(0.5)
    # disgust: P 3, N 1, TP 2, TN 1 -> WA (2*1/3 + 1) / 2 = 5/6; F1 4/5
    assert m["disgust_wacc"] == pytest.approx(5 / 6)
    assert m["disgust_f1"] == pytest.approx(0.8)
    assert m["emotions_wacc_mean"] == pytest.approx((5 / 6 + 5 * 0.5) / 6)
    assert m["emotions_f1_mean"] == pytest.approx((0.8 + 5 * 0.5) / 6)
    assert set(m) == {f"{e}_{s}" for e in EKMAN_EMOTIONS for s in ("wacc", "f1")} | {
        "emotions_wacc_mean",
        "emotions_f1_mean",
    }


def test_emotions_weighted_accuracy_is_balanced_accuracy():
    rng = np.random.default_rng(0)
    y_true = np.maximum(rng.normal(0, 1, (200, 6)), 0)
    y_pred = np.maximum(y_true + rng.normal(0, 0.7, (200, 6)), 0)
    m = emotions_metrics(y_true, y_pred)
    for k, emotion in enumerate(EKMAN_EMOTIONS):
        truth, guess = y_true[:, k] > 0, y_pred[:, k] > 0
        assert m[f"{emotion}_wacc"] == pytest.approx(skm.balanced_accuracy_score(truth, guess))
        assert m[f"{emotion}_f1"] == pytest.approx(skm.f1_score(truth, guess))


def test_emotion_absent_everywhere_is_undefined():
    y_true = _emotion_block([0, 1, 2, 0], [0, 0, 0, 0])
    with pytest.warns(UndefinedMetricWarning) as caught:
        m = emotions_metrics(y_true, y_true)
    warned = {str(w.message).split()[0] for w in caught}
    assert warned == {"disgust_wacc", "disgust_f1", "emotions_wacc_mean", "emotions_f1_mean"}
    assert np.isnan(m["disgust_wacc"]) and np.isnan(m["disgust_f1"]) and np.isnan(m["emotions_wacc_mean"])
    assert m["anger_wacc"] == 1.0


def test_emotion_class_metrics_hand_computed():
    y_true = [0, 1, 1, 2, 2, 2, -1]
    y_pred = [0, 1, 2, 2, 2, 3, 0]  # class 3 predicted but never a label; the -1 label is dropped
    m = emotion_class_metrics(y_true, y_pred)
    assert m["emotion_wa"] == pytest.approx(4 / 6)
    assert m["emotion_ua"] == pytest.approx((1 + 1 / 2 + 2 / 3) / 3)  # classes in the labels only
    assert m["emotion_macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3 + 0) / 4)  # labels or predictions
    assert m["emotion_macro_f1"] == pytest.approx(skm.f1_score(y_true[:6], y_pred[:6], average="macro"))
    matrix = confusion_matrix(y_true, y_pred, n_classes=4)
    assert matrix.tolist() == [[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 2, 1], [0, 0, 0, 0]]


def test_emotion_class_input_errors():
    with pytest.raises(ValueError, match="outside"):
        emotion_class_metrics([0, 9], [0, 1])
    with pytest.raises(ValueError, match="integer"):
        emotion_class_metrics([0.0, 1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="no class"):
        emotion_class_metrics([0, 1], [0, -1])


def test_every_metric_is_registered_with_its_task():
    frame = predictions_frame(
        ["a", "b", "c", "d"],
        sentiment_true=[-1.0, 0.0, 1.0, 2.0],
        sentiment_pred=[-0.5, 0.5, 1.0, 1.0],
        emotions_true=_emotion_block([0, 1, 2, 0], [1, 1, 1, 0]),
        emotions_pred=_emotion_block([0.5, 0, 1, 0], [1, 1, 0, 0]),
        emotion_true=[0, 1, 1, 2],
        emotion_pred=[0, 1, 2, 2],
    )
    computed = compute_metrics(frame)
    assert set(computed) == set(METRICS.names())
    assert METRICS.get("mae").higher_is_better is False and METRICS.get("acc7").higher_is_better
    assert {METRICS.get(name).task for name in emotion_class_metrics([0], [0])} == {"emotion"}


# --- the predictions table ----------------------------------------------------------------------


def sentiment_frame(n: int = 200, noise: float = 1.0, seed: int = 0, ids=None) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = np.round(np.random.default_rng(1234).normal(0, 1.5, n), 1)
    ids = ids if ids is not None else [f"clip{i:04d}" for i in range(n)]
    return predictions_frame(ids, sentiment_true=truth, sentiment_pred=truth + rng.normal(0, noise, n))


def test_predictions_frame_columns_and_missing_values(tmp_path):
    frame = predictions_frame([1, 2], sentiment_true=[0.5, np.nan], emotion_pred=np.array([3, 4]))
    assert tuple(frame.columns) == PREDICTION_COLUMNS
    assert pd.api.types.is_string_dtype(frame["id"]) and frame["id"].tolist() == ["1", "2"]
    assert frame["sentiment_pred"].isna().all() and frame["emotions_true_anger"].isna().all()
    assert frame["emotion_true"].tolist() == [-1, -1] and frame["emotion_true"].dtype == np.int64
    frame.to_parquet(tmp_path / "p.parquet")
    validate_predictions(pd.read_parquet(tmp_path / "p.parquet"))
    with pytest.raises(ValueError, match="shape"):
        predictions_frame(["a", "b"], sentiment_true=[1.0])


def test_only_tasks_with_labels_and_predictions_are_scored():
    frame = predictions_frame(["a", "b", "c"], sentiment_true=[1.0, -1.0, 0.5], emotion_true=[0, 1, 2])
    frame["sentiment_pred"] = [1.0, -1.0, 0.0]
    assert set(compute_metrics(frame)) == {name for name in METRICS.names() if METRICS.get(name).task == "sentiment"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns=["emotion_pred"]), "missing columns \\['emotion_pred'\\]"),
        (lambda f: f.assign(extra=1.0), "unexpected columns \\['extra'\\]"),
        (lambda f: f.assign(id=["a", "a", "c"]), "duplicated id.*'a'"),
        (lambda f: f.assign(sentiment_pred=[np.inf, 1.0, 1.0]), "infinite"),
        (lambda f: f.assign(emotion_pred=[0.0, 1.0, 2.0]), "integer"),
        (lambda f: f.assign(emotion_pred=[0, 1, 8]), "outside"),
        (lambda f: f.assign(emotions_pred_anger=[1.0, 1.0, 1.0]), "partly missing"),
        (lambda f: f.assign(sentiment_pred=[1.0, np.nan, 1.0]), "not for annotated id.*'b'"),
    ],
)
def test_invalid_tables_are_rejected_with_the_reason(change, message):
    frame = predictions_frame(["a", "b", "c"], sentiment_true=[1.0, -1.0, 0.5], sentiment_pred=[1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match=message):
        validate_predictions(change(frame), source="mine.parquet")


# --- bootstrap ----------------------------------------------------------------------------------


def test_resample_weights_draw_n_rows_each():
    weights = resample_weights(50, 20, seed=1)
    assert weights.shape == (20, 50) and (weights.sum(axis=1) == 50).all()
    assert np.array_equal(weights, resample_weights(50, 20, seed=1))
    assert not np.array_equal(weights, resample_weights(50, 20, seed=2))


def test_bootstrap_scores_equal_metrics_of_the_resampled_rows():
    frame = predictions_frame(
        [f"r{i}" for i in range(30)],
        sentiment_true=np.r_[np.zeros(5), np.linspace(-3, 3, 25)],
        sentiment_pred=np.r_[np.linspace(-1, 1, 5), np.linspace(-2, 2.5, 25) ** 1],
        emotion_true=np.arange(30) % 4,
        emotion_pred=(np.arange(30) * 7) % 5,
    )
    scores = bootstrap_scores(frame, n_resamples=3, seed=7)
    weights = resample_weights(30, 3, seed=7)
    ordered = frame.sort_values("id").reset_index(drop=True)
    for b in range(3):
        rows = ordered.iloc[np.repeat(np.arange(30), weights[b].astype(int))]
        expected = {
            **sentiment_metrics(rows["sentiment_true"], rows["sentiment_pred"]),
            **emotion_class_metrics(rows["emotion_true"].to_numpy(), rows["emotion_pred"].to_numpy()),
        }
        for name, value in expected.items():
            assert scores[name][b] == pytest.approx(value), name


def test_bootstrap_ci_is_seeded_order_free_and_covers_the_estimate():
    frame = sentiment_frame()
    ci = bootstrap_ci(frame, n_resamples=300, seed=0)
    assert ci == bootstrap_ci(frame.sample(frac=1.0, random_state=0), n_resamples=300, seed=0)
    assert ci != bootstrap_ci(frame, n_resamples=300, seed=1)
    point = compute_metrics(frame)
    for name, (low, high) in ci.items():
        assert low <= point[name] <= high, name
        assert low < high, name
    narrow = bootstrap_ci(frame, n_resamples=300, seed=0, confidence=0.5)["mae"]
    assert ci["mae"][0] < narrow[0] < narrow[1] < ci["mae"][1]


def test_paired_bootstrap_detects_the_better_model_both_directions():
    good, bad = sentiment_frame(noise=0.3, seed=1), sentiment_frame(noise=1.5, seed=2)
    for metric in ("mae", "acc2_non0", "corr"):
        assert paired_bootstrap_pvalue(good, bad, metric, n_resamples=500) < 0.01, metric
        assert paired_bootstrap_pvalue(bad, good, metric, n_resamples=500) > 0.99, metric
    assert paired_bootstrap_pvalue(good, good, "mae", n_resamples=200) == 1.0


def test_paired_bootstrap_aligns_by_id_and_rejects_other_ids():
    good, bad = sentiment_frame(noise=0.3, seed=1), sentiment_frame(noise=1.5, seed=2)
    shuffled = bad.sample(frac=1.0, random_state=3)
    assert paired_bootstrap_pvalue(good, shuffled, "mae", n_resamples=200) == paired_bootstrap_pvalue(
        good, bad, "mae", n_resamples=200
    )
    other = sentiment_frame(ids=[f"other{i}" for i in range(200)])
    with pytest.raises(ValueError, match="different test ids"):
        paired_bootstrap_pvalue(good, other, "mae")
    with pytest.raises(KeyError, match="did you mean"):
        paired_bootstrap_pvalue(good, bad, "mea")


def test_several_seeds_score_as_their_mean():
    first, second = sentiment_frame(seed=1), sentiment_frame(seed=2)
    both = bootstrap_scores([first, second], n_resamples=50)
    one, two = bootstrap_scores(first, n_resamples=50), bootstrap_scores(second, n_resamples=50)
    np.testing.assert_allclose(both["mae"], (one["mae"] + two["mae"]) / 2)
