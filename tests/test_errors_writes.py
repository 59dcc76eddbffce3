"""Writes that cannot collide or be half-done: locked submissions, names unique across kinds,
atomic files with the umask's permissions."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from msa_bench import load_dataset
from msa_bench.util.atomic import atomic_dir, write_text
from msa_bench.scoring.metrics import compute_metrics
from msa_bench.records.record import ResultRecord, load_record, load_records, predictions_path
from msa_bench.records.names import NameRefused
from msa_bench.records.store import RecordConflict, save_record
from msa_bench.harness.submissions import SubmissionError, labels_of_test_split, submit_predictions
from record_helpers import code_for



def predictions_file(labels: pd.DataFrame, path, shift: float = 0.0):
    frame = pd.DataFrame({"id": labels["id"], "sentiment_pred": labels["sentiment_true"] + shift})
    frame.to_parquet(path, index=False)
    return path


def record_of(labels: pd.DataFrame, model: str, kind: str) -> tuple[ResultRecord, pd.DataFrame]:
    table = labels.assign(sentiment_pred=labels["sentiment_true"].fillna(0.0))
    return ResultRecord(model=model, dataset="synthetic", seed=0, kind=kind, metrics=compute_metrics(table), code=code_for(model, kind)), table


@pytest.fixture
def umask_002():
    previous = os.umask(0o002)
    yield
    os.umask(previous)


def test_records_and_other_files_follow_the_umask(synthetic_small_labels, tmp_path, umask_002):
    path = save_record(*record_of(synthetic_small_labels, "mine", "full"), tmp_path / "records")
    assert path.stat().st_mode & 0o777 == 0o664  # mkstemp's 0600 before
    assert predictions_path(path).stat().st_mode & 0o777 == 0o664
    assert write_text(tmp_path / "card.md", "x").stat().st_mode & 0o777 == 0o664
    with atomic_dir(tmp_path / "dataset") as folder:
        (folder / "a").write_text("a")
    assert (tmp_path / "dataset").stat().st_mode & 0o777 == 0o775


def test_a_folder_replaced_atomically_keeps_the_old_one_until_the_new_one_is_complete(tmp_path):
    target = tmp_path / "dataset"
    with atomic_dir(target) as folder:
        (folder / "old").write_text("old")
    with pytest.raises(RuntimeError), atomic_dir(target) as folder:
        (folder / "new").write_text("half")
        raise RuntimeError("killed while writing")
    assert [p.name for p in target.iterdir()] == ["old"] and len(list(tmp_path.iterdir())) == 1
    with atomic_dir(target) as folder:
        (folder / "new").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new"] and len(list(tmp_path.iterdir())) == 1


def test_a_predictions_submission_cannot_take_a_built_in_or_trained_name(synthetic_small_labels, tmp_path, synthetic_source):
    submission = predictions_file(synthetic_small_labels, tmp_path / "p.parquet")
    records = tmp_path / "records"
    submit = lambda name: submit_predictions(  # noqa: E731
        submission, "synthetic", name, records, **synthetic_source
    )
    with pytest.raises(NameRefused, match="'tfn' is reserved"):
        submit("tfn")
    save_record(*record_of(synthetic_small_labels, "my_trained", "full"), records)
    with pytest.raises(SubmissionError, match="'my_trained' already holds full records"):
        submit("my_trained")
    # ... and a full-protocol record cannot land in a predictions-only name.
    submit("my_predictions")
    with pytest.raises(RecordConflict, match="'my_predictions' already holds predictions_only records"):
        save_record(*record_of(synthetic_small_labels, "my_predictions", "full"), records)
    assert {(r.model, r.kind) for r in load_records(records)} == {("my_trained", "full"), ("my_predictions", "predictions_only")}


CHILD = textwrap.dedent(
    """
    import sys, time
    import msa_bench.harness.submissions as submissions
    scored = submissions.scored_table
    def slow(*args, **kwargs):  # widen the window between the name check and the write
        table = scored(*args, **kwargs)
        time.sleep(3)
        return table
    submissions.scored_table = slow
    from msa_bench.cli import app
    app(sys.argv[1:], prog_name="msa-bench")
    """
)


@pytest.mark.slow  # two fresh processes importing torch: about 25 s on 2 busy cores
def test_two_simultaneous_same_name_submissions_one_accepted_one_refused(tmp_path):
    cache = tmp_path / "cache"
    labels = labels_of_test_split(load_dataset("synthetic", cache_dir=cache)["test"])  # built once, read by both
    env = {**os.environ, "MSA_BENCH_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    records = tmp_path / "space" / "records"
    runs = []
    for k in range(2):
        path = predictions_file(labels, tmp_path / f"p{k}.parquet", shift=0.1 * (k + 1))
        command = [sys.executable, "-c", CHILD, "submit", "--predictions", str(path), "--dataset", "synthetic"]
        command += ["--name", "same", "--workspace", str(tmp_path / "space")]
        runs.append(subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outcomes = [(run.wait(timeout=300), run.stdout.read() + run.stderr.read()) for run in runs]
    accepted = [k for k, (code, _) in enumerate(outcomes) if code == 0]
    refused = [k for k, (code, output) in enumerate(outcomes) if code == 2 and "already holds 1 record" in output]
    assert len(accepted) == 1 and len(refused) == 1, outcomes
    assert "records:" in outcomes[accepted[0]][1]
    (record,) = load_records(records)
    assert load_record(records / "synthetic" / "same" / "seed0.json").metrics["mae"] == pytest.approx(0.1 * (accepted[0] + 1))
    assert not list(records.rglob("*.tmp"))
    assert np.isfinite(record.metrics["mae"])
