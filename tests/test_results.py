"""Result records: stable sealed JSON, names, staged entries, atomic files, loading and aggregation over seeds."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from msa_bench.scoring.metrics import predictions_frame
from msa_bench.records.names import NameRefused, check_entry_name, check_not_reserved
from msa_bench.records.record import (
    VOLATILE_FIELDS,
    ResultRecord,
    config_hash,
    load_predictions,
    load_record,
    load_records,
    predictions_path,
    summarize,
)
from msa_bench.records.seal import file_sha256
from msa_bench.records.store import EntryStage, RecordConflict, save_record


def make_record(seed: int = 1111, mae: float = 0.8, model: str = "tfn", **fields) -> ResultRecord:
    return ResultRecord(
        model=model,
        dataset="synthetic",
        seed=seed,
        kind="full",
        metrics={"mae": mae, "corr": math.nan},
        ci={"mae": (mae - 0.1, mae + 0.1)},
        config={"train": {"lr": 0.001, "epochs": 3}, "model": {"hidden": 32}},
        **fields,
    )


def make_predictions() -> pd.DataFrame:
    return predictions_frame(["b", "a"], sentiment_true=[1.0, -1.0], sentiment_pred=[0.5, -0.5])


def test_json_round_trip_is_byte_stable_with_sorted_keys_and_null_for_nan():
    record = make_record().sealed()
    text = record.to_json()
    again = ResultRecord.from_json(text)
    assert again.to_json() == text
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["metrics"]["corr"] is None and math.isnan(again.metrics["corr"])
    assert data["ci"]["mae"] == pytest.approx([0.7, 0.9])


def test_config_hash_is_derived_and_checked_on_load():
    record = make_record()
    assert record.config_hash == config_hash({"model": {"hidden": 32}, "train": {"epochs": 3, "lr": 0.001}})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    with pytest.warns(UserWarning, match="is not msa_bench.records.record.config_hash"):
        assert make_record(config_hash="abc").config_hash == record.config_hash
    data = json.loads(record.sealed().to_json())
    data["config"]["train"]["lr"] = 0.01
    with pytest.raises(ValueError, match="seed1111.json: config_hash does not match the config"):
        ResultRecord.from_json(json.dumps(data), source="seed1111.json")


def test_a_sealed_record_refuses_any_edit_and_an_unsealed_format():
    data = json.loads(make_record().sealed().to_json())
    for field, value in (("kind", "predictions_only"), ("seed", 1112), ("metrics", {"mae": 0.1}), ("isolation", "sandbox")):
        edited = {**data, field: value}
        with pytest.raises(ValueError, match="r.json: record_hash does not match the record's content"):
            ResultRecord.from_json(json.dumps(edited), source="r.json")
    old = {k: v for k, v in data.items() if k not in ("format_version", "record_hash", "code", "predictions_sha256", "isolation")}
    with pytest.raises(ValueError, match="record format version 1.*re-run the entry"):
        ResultRecord.from_json(json.dumps(old), source="r.json")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "partial"}, "kind must be one of"),
        ({"model": "../evil"}, "the name '../evil' is refused"),
        ({"model": "TFN"}, "lower-case"),
        ({"seed": "1"}, "seed must be an integer"),
    ],
)
def test_invalid_records_are_rejected(fields, message):
    data = {"model": "tfn", "dataset": "synthetic", "seed": 1, "kind": "full", "metrics": {}} | fields
    with pytest.raises(ValueError, match=message):
        ResultRecord(**data)


def test_from_json_names_the_file_and_the_problem():
    with pytest.raises(ValueError, match="r.json: not valid JSON"):
        ResultRecord.from_json("{", source="r.json")
    with pytest.raises(ValueError, match=r"unknown fields \['colour'\], missing fields \['metrics'\]"):
        ResultRecord.from_json(json.dumps({"model": "m", "dataset": "d", "seed": 1, "kind": "full", "colour": 1}))


def test_identity_ignores_only_volatile_fields():
    first = make_record(wall_time_s=10.0, peak_memory_mb=100.0)
    second = make_record(wall_time_s=12.5, peak_memory_mb=101.0)
    assert first.identity() == second.identity()
    assert set(first.to_dict()) - set(first.identity()) == set(VOLATILE_FIELDS)
    assert make_record(mae=0.81).identity() != first.identity()


def test_save_and_load_records_with_predictions(tmp_path):
    for seed in (1113, 1111):
        path = save_record(make_record(seed=seed), make_predictions(), tmp_path)
    assert path == tmp_path / "synthetic" / "tfn" / "seed1111.json"
    assert sorted(p.name for p in path.parent.iterdir()) == [
        "seed1111.json",
        "seed1111.predictions.parquet",
        "seed1113.json",
        "seed1113.predictions.parquet",
    ]
    records = load_records(tmp_path)
    assert [r.seed for r in records] == [1111, 1113]
    assert records[0].predictions_sha256 == file_sha256(predictions_path(path))
    assert records[0].to_json() == make_record(
        seed=1111, created=records[0].created, predictions_sha256=records[0].predictions_sha256).sealed().to_json()
    pd.testing.assert_frame_equal(load_predictions(path), make_predictions())
    assert load_records(tmp_path / "absent") == []


def test_a_failed_save_leaves_the_previous_files_untouched(tmp_path, monkeypatch):
    path = save_record(make_record(mae=0.8), make_predictions(), tmp_path)
    before = {p.name: p.read_bytes() for p in path.parent.iterdir()}

    def broken_write(self, target, **kwargs):
        with open(target, "wb") as handle:
            handle.write(b"PAR1 half")
        raise OSError("disk full")

    with monkeypatch.context() as patch:
        patch.setattr(pd.DataFrame, "to_parquet", broken_write)
        with pytest.raises(OSError, match="disk full"):
            save_record(make_record(mae=0.5), make_predictions(), tmp_path)
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before

    # The record fails after its new predictions were written: the old pair still stands.
    def broken_text(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(Path, "write_text", broken_text)
    with pytest.raises(OSError, match="disk full"):
        save_record(make_record(mae=0.5), make_predictions().assign(sentiment_pred=[0.0, 0.0]), tmp_path)
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == before


def test_save_rejects_invalid_predictions(tmp_path):
    bad = make_predictions().assign(id=["a", "a"])
    with pytest.raises(ValueError, match="predictions of tfn on synthetic: 1 duplicated id"):
        save_record(make_record(), bad, tmp_path / "records")
    assert not (tmp_path / "records").exists()


@pytest.mark.parametrize("name", ["x" * 300, "TFN", "my model", "-dash", "a+b+c+d", ""])
def test_names_outside_the_rule_are_refused_with_the_rule(name):
    with pytest.raises(NameRefused, match="lower-case letters, digits and _ . -"):
        check_entry_name(name)


def test_built_in_names_and_their_variants_are_reserved():
    assert check_entry_name("self_mm+minilm-ft") == "self_mm+minilm-ft" and check_entry_name("my_tfn") == "my_tfn"
    for name in ("tfn", "tfn+lnln", "tfn+x"):
        with pytest.raises(NameRefused, match="reserved"):
            check_not_reserved(name, ["tfn", "lf_dnn"])
    check_not_reserved("tfnx", ["tfn"])


def test_seeds_of_other_code_never_join_an_entry_and_replace_moves_them_aside(tmp_path):
    records = tmp_path / "records"
    save_record(make_record(seed=1, code={"hash": "a"}), make_predictions(), records)
    save_record(make_record(seed=2, code={"hash": "a"}), make_predictions().assign(sentiment_pred=[0.4, -0.4]), records)
    with pytest.raises(RecordConflict, match="already holds 2 record.*--replace"):
        save_record(make_record(seed=3, code={"hash": "b"}), make_predictions(), records)
    with pytest.raises(RecordConflict, match="already holds 1 record"):
        save_record(make_record(seed=1, code={"hash": "a"}), make_predictions(), records)  # the same seed again
    save_record(make_record(seed=3, code={"hash": "b"}), make_predictions(), records, replace=True)
    assert [(r.seed, r.code["hash"]) for r in load_records(records)] == [(3, "b")]
    moved = sorted(p.name for p in (tmp_path / "records-superseded").rglob("seed*.json"))
    assert moved == ["seed1.json", "seed2.json"]


def test_an_entry_is_committed_whole_and_a_copied_seed_is_refused(tmp_path):
    records = tmp_path / "records"
    stage = EntryStage(records, "synthetic", "tfn")
    stage.add(make_record(seed=1), make_predictions())
    stage.add(make_record(seed=2), make_predictions())  # the same predictions under another seed
    assert not records.exists() or not list(records.rglob("seed*.json"))  # nothing committed while staged
    with pytest.raises(RecordConflict, match="seed 2 has the same predictions as seed 1: a copied seed"):
        stage.commit()
    assert not list(records.rglob("seed*.json"))
    stage.add(make_record(seed=2), make_predictions().assign(sentiment_pred=[0.1, 0.2]))
    assert [load_record(p).seed for p in stage.commit()] == [1, 2]
    assert not stage.folder.exists()


def test_summarize_mean_and_sample_std_over_seeds():
    summary = summarize([{"mae": 0.5, "corr": 0.1}, {"mae": 0.7}, {"mae": 0.9}])
    assert list(summary) == ["corr", "mae"]
    mean, std, n = summary["mae"]
    assert (mean, std, n) == (pytest.approx(0.7), pytest.approx(0.2), 3)
    single = summary["corr"]
    assert single.mean == 0.1 and math.isnan(single.std) and single.n == 1


def test_dirty_tree_means_changed_code_not_written_outputs(tmp_path):
    """The main job writes records into the checkout; only changed code marks a record dirty."""
    import subprocess

    from msa_bench.records.record import _git_tree_dirty

    (tmp_path / "msa_bench").mkdir()
    (tmp_path / "leaderboard").mkdir()
    (tmp_path / "msa_bench" / "code.py").write_text("x = 1\n")
    (tmp_path / "leaderboard" / "record.json").write_text("{}\n")
    for command in (["init", "-q"], ["add", "."], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c"]):
        subprocess.run(["git", *command], cwd=tmp_path, check=True)
    assert _git_tree_dirty(tmp_path / "msa_bench") is False
    (tmp_path / "leaderboard" / "record.json").write_text('{"new": 1}\n')
    assert _git_tree_dirty(tmp_path / "msa_bench") is False
    (tmp_path / "msa_bench" / "code.py").write_text("x = 2\n")
    assert _git_tree_dirty(tmp_path / "msa_bench") is True
