"""Predictions-only submissions: valid files become records; invalid ones change nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from msa_bench.scoring.metrics import compute_metrics
from msa_bench.records.record import load_predictions, load_records
from msa_bench.data.schema import EKMAN_EMOTIONS
from msa_bench.harness.submissions import SubmissionError, submit_predictions
from msa_bench.records.names import NameRefused



def submission(labels: pd.DataFrame, **columns) -> pd.DataFrame:
    """A valid sentiment submission (shuffled rows), with ``columns`` added or replaced."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"id": labels["id"], "sentiment_pred": labels["sentiment_true"] + rng.normal(0, 0.5, len(labels))})
    return frame.assign(**columns).sample(frac=1.0, random_state=1).reset_index(drop=True)


def submit(frame_or_path, tmp_path, synthetic_source, name="my_model", **kwargs):
    path = frame_or_path
    if isinstance(frame_or_path, pd.DataFrame):
        path = tmp_path / "submission.parquet"
        frame_or_path.to_parquet(path, index=False)
    return submit_predictions(
        path, "msa_bench/synthetic", name, tmp_path / "records", **synthetic_source, **kwargs
    )


def snapshot(folder):
    return {p: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}


def test_a_valid_submission_becomes_a_predictions_only_record(synthetic_small_labels, tmp_path, synthetic_source):
    path = submit(submission(synthetic_small_labels), tmp_path, synthetic_source)
    assert path == tmp_path / "records" / "synthetic" / "my_model" / "seed0.json"
    (record,) = load_records(tmp_path / "records")
    assert record.kind == "predictions_only" and record.robustness == {}
    table = load_predictions(path)
    assert table["id"].tolist() == synthetic_small_labels["id"].tolist()  # rows follow the test split, not the file
    assert record.metrics == compute_metrics(table)
    assert set(record.ci) == set(record.metrics) and record.metrics["mae"] == pytest.approx(0.4, abs=0.1)
    assert record.dataset_fingerprint and len(record.predictions_sha256) == 64 and record.code["kind"] == "predictions"
    assert record.config == {"dataset": "synthetic", "dataset_config": {"n_clips": 300}}  # the seeds of one name share it
    pd.testing.assert_series_equal(table["sentiment_true"], synthetic_small_labels["sentiment_true"])


def test_several_tasks_and_matching_label_columns_are_accepted(synthetic_small_labels, tmp_path, synthetic_source):
    annotated = synthetic_small_labels["emotion_true"].to_numpy() >= 0
    frame = submission(
        synthetic_small_labels,
        sentiment_true=synthetic_small_labels["sentiment_true"],
        emotion_pred=np.where(annotated, synthetic_small_labels["emotion_true"], 0),
        **{f"emotions_pred_{e}": np.ones(len(synthetic_small_labels)) for e in EKMAN_EMOTIONS},
    )
    path = submit(frame, tmp_path, synthetic_source)
    (record,) = load_records(tmp_path / "records")
    assert record.metrics["emotion_wa"] == 1.0 and "emotions_wacc_mean" in record.metrics
    assert load_predictions(path)["emotion_pred"].dtype == np.int64


INVALID = {
    "missing id": (lambda f, first: f[f["id"] != first], "1 test id\\(s\\) have no prediction: 'synvid"),
    "duplicated id": (lambda f, first: pd.concat([f, f.iloc[:1]]), "appear more than once"),
    "extra id": (lambda f, first: pd.concat([f, f.iloc[:1].assign(id="nope_0")]), "not in the test split: 'nope_0'"),
    "nan prediction": (
        lambda f, first: f.assign(sentiment_pred=f["sentiment_pred"].where(f["id"] != first)),
        "1 missing or non-finite value.*'synvid",
    ),
    "infinite prediction": (lambda f, first: f.assign(sentiment_pred=np.inf), "non-finite"),
    "unknown column": (lambda f, first: f.assign(confidence=1.0), "unknown columns \\['confidence'\\]"),
    "no prediction column": (lambda f, first: f[["id"]], "no prediction column"),
    "some emotions": (lambda f, first: f.assign(emotions_pred_anger=1.0), "need all six columns"),
    "class out of range": (lambda f, first: f.assign(emotion_pred=9), "class 9 outside"),
    "text predictions": (lambda f, first: f.assign(sentiment_pred="positive"), "must be numeric"),
    "wrong labels": (lambda f, first: f.assign(sentiment_true=0.25), "disagrees with the dataset's test labels"),
    "integer ids": (lambda f, first: f.assign(id=range(len(f))), "'id' must hold strings"),
}


@pytest.mark.parametrize("case", list(INVALID))
def test_invalid_submissions_are_rejected_and_change_nothing(case, synthetic_small_labels, tmp_path, synthetic_source):
    submit(submission(synthetic_small_labels), tmp_path, synthetic_source, name="earlier")
    before = snapshot(tmp_path / "records")
    change, message = INVALID[case]
    with pytest.raises(SubmissionError, match=message):
        submit(change(submission(synthetic_small_labels), synthetic_small_labels["id"].iloc[0]), tmp_path, synthetic_source)
    assert snapshot(tmp_path / "records") == before


def test_unreadable_files_names_and_resubmissions_are_rejected(synthetic_small_labels, tmp_path, synthetic_source):
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet")
    with pytest.raises(SubmissionError, match="garbage.parquet: not a readable parquet file"):
        submit(garbage, tmp_path, synthetic_source)
    with pytest.raises(SubmissionError, match="absent.parquet: no such file"):
        submit(tmp_path / "absent.parquet", tmp_path, synthetic_source)
    with pytest.raises(NameRefused, match="the name '../escape' is refused"):
        submit(submission(synthetic_small_labels), tmp_path, synthetic_source, name="../escape")
    assert not (tmp_path / "records").exists()
    submit(submission(synthetic_small_labels), tmp_path, synthetic_source)
    before = snapshot(tmp_path / "records")
    with pytest.raises(SubmissionError, match="already holds 1 record.*--replace"):
        submit(submission(synthetic_small_labels), tmp_path, synthetic_source)
    assert snapshot(tmp_path / "records") == before
    submit(submission(synthetic_small_labels), tmp_path, synthetic_source, seed=1)  # another run of the same model
    assert [r.seed for r in load_records(tmp_path / "records")] == [0, 1]


def test_submit_command_rejects_with_the_reason(tmp_path):
    from typer.testing import CliRunner

    from msa_bench.cli import app

    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet")
    runner = CliRunner()
    common = ["submit", "--dataset", "synthetic", "--workspace", str(tmp_path)]
    result = runner.invoke(app, [*common, "--predictions", str(garbage), "--name", "mine"])
    assert result.exit_code == 2 and "error: " in result.output and "not a readable parquet file" in result.output
    assert "Traceback" not in result.output
    result = runner.invoke(app, [*common, "--predictions", str(garbage)])  # no --name
    assert result.exit_code != 0 and "--name" in result.output
    assert not (tmp_path / "records").exists()


def test_submit_command_passes_dataset_options_to_the_builder(synthetic_small_labels, tmp_path, monkeypatch):
    """``--dataset-option n_clips=300`` builds the 300-clip synthetic set whose test ids the file holds."""
    from typer.testing import CliRunner

    from msa_bench.cli import app

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "submission.parquet"
    submission(synthetic_small_labels).to_parquet(path, index=False)
    common = ["submit", "--dataset", "synthetic", "--workspace", str(tmp_path), "--predictions", str(path), "--name", "mine"]
    result = CliRunner().invoke(app, common)  # the default synthetic set has other test ids
    assert result.exit_code == 2 and "have no prediction" in result.output and not (tmp_path / "records").exists()
    result = CliRunner().invoke(app, [*common, "--dataset-option", "n_clips=300"])
    assert result.exit_code == 0, result.output
    (record,) = load_records(tmp_path / "records")
    assert record.model == "mine" and record.metrics["mae"] == pytest.approx(0.4, abs=0.1)
