"""Every tampering case of the records issue is refused with the record and the reason, and the
other entries still render. An adversary who also recomputes every hash is caught only by
re-running the record (``msa-bench verify``), as the docs say; that is shown last."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_board_refusals import predicted, refused, write

from msa_bench.records.record import config_hash, predictions_path
from msa_bench.records.seal import code_identity, file_sha256, record_hash
from record_helpers import code_for

PAYLOAD = "from msa_bench.models import MSAModel\n"


@pytest.fixture(scope="module")
def fingerprint(synthetic_small) -> str:
    from msa_bench.harness.training import dataset_fingerprint

    return dataset_fingerprint(synthetic_small)


def reseal(path: Path, **changes) -> None:
    """Rewrite a record with ``changes`` and recompute every hash, as a careful forger would."""
    data = {**json.loads(path.read_text()), **changes}
    data["config_hash"] = config_hash(data["config"])
    data["predictions_sha256"] = file_sha256(predictions_path(path))
    data["record_hash"] = record_hash(data)
    path.write_text(json.dumps(data, sort_keys=True, indent=2))


@pytest.fixture
def board(synthetic_small_labels, tmp_path, fingerprint):
    """An honest two-seed entry beside the entry each test tampers with."""
    records = tmp_path / "records"
    for seed in (1, 2):
        write(records, "honest", predicted(synthetic_small_labels, seed), seed, fingerprint)
    return records


def _rendered(records: Path, out: Path, datasets=None) -> tuple[dict[str, str], str]:
    from msa_bench.board.page import render_leaderboard

    pages = render_leaderboard(records, out, n_resamples=50, datasets_by_name=datasets)
    markdown = pages["markdown"].read_text()
    assert "| honest" in markdown  # the other entry still renders
    return refused(pages), markdown


def test_predictions_set_to_the_labels_with_metrics_recomputed(board, synthetic_small_labels, tmp_path, fingerprint):
    path = write(board, "mine", predicted(synthetic_small_labels, 3), 3, fingerprint)
    perfect = pd.read_parquet(predictions_path(path)).assign(sentiment_pred=lambda t: t["sentiment_true"])
    perfect.to_parquet(predictions_path(path), index=False)
    reasons, _ = _rendered(board, tmp_path / "out")
    assert "predictions file is not the one it was sealed with" in reasons["synthetic/mine/seed3.json"]
    data = json.loads(path.read_text())
    from msa_bench.scoring.metrics import compute_metrics

    data["metrics"] = {k: (None if v != v else v) for k, v in compute_metrics(perfect).items()}
    path.write_text(json.dumps(data))
    reasons, _ = _rendered(board, tmp_path / "out2")
    assert "record_hash does not match the record's content" in reasons["synthetic/mine/seed3.json"]


def test_ids_reassigned_so_the_labels_line_up_are_refused_against_the_dataset(board, synthetic_small, synthetic_small_labels, tmp_path, fingerprint):
    table = predicted(synthetic_small_labels, 4, noise=1.5)
    path = write(board, "mine", table, 4, fingerprint)
    ordered = table.sort_values("sentiment_pred").reset_index(drop=True)
    lined_up = ordered.assign(id=table.sort_values("sentiment_true")["id"].to_numpy())  # predictions matched to labels by rank
    lined_up.to_parquet(predictions_path(path), index=False)
    from msa_bench.scoring.metrics import compute_metrics

    reseal(path, metrics={k: (None if v != v else v) for k, v in compute_metrics(lined_up).items()})
    reasons, _ = _rendered(board, tmp_path / "out", datasets={"synthetic": synthetic_small})
    assert "differs from the dataset's test labels" in reasons["synthetic/mine/seed4.json"]


def test_a_predictions_only_record_flipped_to_full(board, synthetic_small_labels, tmp_path, fingerprint):
    path = write(board, "mine", predicted(synthetic_small_labels, 5), 0, fingerprint, kind="predictions_only", robustness={},
                 code=code_for("mine", "predictions_only"))
    reseal(path, kind="full")
    reasons, markdown = _rendered(board, tmp_path / "out")
    assert "a full record with code of kind 'predictions'" in reasons["synthetic/mine/seed0.json"]
    assert "★" not in markdown.split("| mine")[-1].split("\n")[0]


def test_one_seed_cloned_five_times(board, synthetic_small_labels, tmp_path, fingerprint):
    path = write(board, "mine", predicted(synthetic_small_labels, 6), 1, fingerprint)
    for seed in range(2, 6):
        clone = path.with_name(f"seed{seed}.json")
        shutil.copy(predictions_path(path), predictions_path(clone))
        shutil.copy(path, clone)
        reseal(clone, seed=seed)
    reasons, markdown = _rendered(board, tmp_path / "out")
    assert "identical predictions: a copied seed" in reasons["synthetic/mine/"]
    assert "| mine" not in markdown


def test_seeds_of_two_codes_mixed_under_one_name(board, synthetic_small_labels, tmp_path, fingerprint):
    """A seed made by other code of the model (an older baselines/tfn.py) never joins the others."""
    older = code_for("tfn")
    older = {**older, "files": {**older["files"], "baselines/tfn.py": "0" * 64}}
    older["hash"] = hashlib.sha256("".join(f"{d}  {n}\n" for n, d in sorted(older["files"].items())).encode()).hexdigest()
    write(board, "tfn", predicted(synthetic_small_labels, 7), 1, fingerprint)
    write(board, "tfn", predicted(synthetic_small_labels, 8), 2, fingerprint)
    write(board, "tfn", predicted(synthetic_small_labels, 9), 3, fingerprint, code=older)
    reasons, _ = _rendered(board, tmp_path / "out")
    assert "holds more records of another model code" in reasons["synthetic/tfn/seed3.json"]
    assert "synthetic/tfn/seed1.json" not in reasons


def test_a_submission_under_a_built_in_name_or_variant(board, synthetic_small_labels, tmp_path, fingerprint):
    submission = code_for("my_model")
    write(board, "tfn+x", predicted(synthetic_small_labels, 10), 1, fingerprint, code=submission)
    write(board, "tfn", predicted(synthetic_small_labels, 11), 1, fingerprint, code=code_for("lf_dnn"))
    reasons, _ = _rendered(board, tmp_path / "out")
    assert "uses the reserved name of a built-in model" in reasons["synthetic/tfn+x/seed1.json"]
    assert "its code is the built-in model 'lf_dnn', not 'tfn'" in reasons["synthetic/tfn/seed1.json"]


def test_a_submission_whose_archived_code_was_swapped(board, synthetic_small_labels, tmp_path, fingerprint):
    entry = board / "synthetic" / "mine"
    (entry / "code").mkdir(parents=True)
    (entry / "code" / "model.py").write_text(PAYLOAD)
    code = code_identity("submission", {"model.py": entry / "code" / "model.py"}, "msa_bench", "model.py:Model")
    write(board, "mine", predicted(synthetic_small_labels, 12), 1, fingerprint, code=code)
    (entry / "code" / "model.py").write_text(PAYLOAD + "LABELS = {}\n")
    reasons, _ = _rendered(board, tmp_path / "out")
    assert "archived code does not match the code hash" in reasons["synthetic/mine/seed1.json"]


def test_names_outside_the_rule_are_refused_before_anything_runs(tmp_path):
    from typer.testing import CliRunner

    from msa_bench.cli import app

    submission = tmp_path / "p.parquet"
    pd.DataFrame({"id": ["a"], "sentiment_pred": [0.0]}).to_parquet(submission)
    for name in ("x" * 300, "TFN", "tfn+x"):
        result = CliRunner().invoke(app, ["submit", "--dataset", "synthetic", "--predictions", str(submission), "--name", name,
                                          "--workspace", str(tmp_path / "space")])
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert ("reserved" if name == "tfn+x" else "lower-case letters") in result.output
    assert not (tmp_path / "space" / "records").exists()


@pytest.mark.skipif(shutil.which("bwrap") is None, reason="bubblewrap is not installed")
def test_a_forger_who_recomputes_every_hash_is_caught_by_verify(synthetic_small, tmp_path, monkeypatch):
    """The hashes are public: a record re-sealed after an edit passes them. Re-running it does not."""
    import msa_bench.harness.protocol as protocol
    from msa_bench.harness.protocol import run_protocol
    from msa_bench.harness.verify import verify_record
    from msa_bench.records.verification import is_verified
    from msa_bench.records.record import load_record
    from msa_bench.scoring.metrics import compute_metrics

    monkeypatch.setattr(protocol, "load_for_run", lambda *args, **kwargs: synthetic_small)
    [path] = run_protocol("lf_dnn", "synthetic", [1111], train_overrides={"max_epochs": 1}, records_dir=tmp_path / "records",
                          dataset=synthetic_small, progress=False, robustness=False)
    honest = verify_record(path, data=synthetic_small)
    assert honest.result == "identical" and is_verified(path, load_record(path))
    table = pd.read_parquet(predictions_path(path))
    forged = table.assign(sentiment_pred=table["sentiment_true"])
    forged.to_parquet(predictions_path(path), index=False)
    reseal(path, metrics={k: (None if v != v else v) for k, v in compute_metrics(forged).items()})
    assert not is_verified(path, load_record(path))  # the mark went with the change
    caught = verify_record(path, data=synthetic_small)
    assert caught.result == "differs" and caught.max_abs_difference > 0.1
