"""Any subset trains: two real RAVDESS actors, extracted and trained end to end through the CLI
with each of the two split options (every split scheme leaves two actors without validation)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msa_bench.cli import app
from msa_bench.data.schema import msa_metadata
from msa_bench.loading import check_trainable
from msa_bench.loading.load import load_dataset

ACTORS = ("Actor_01", "Actor_02")


def invoke(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def features(shared_data, tmp_path_factory) -> Path:
    """The two actors' eGeMAPS functionals, extracted once (the recordings are linked, not copied)."""
    raw = tmp_path_factory.mktemp("ravdess")
    for actor in ACTORS:
        if not (shared_data / "ravdess" / actor).is_dir():
            pytest.skip(f"{shared_data / 'ravdess' / actor} is absent")
        (raw / actor).symlink_to(shared_data / "ravdess" / actor)
    out = tmp_path_factory.mktemp("features")
    invoke("extract", "ravdess", "--data-dir", raw, "--out", out, "--audio", "egemaps-functionals", "--workers", "1")
    return out


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))


def test_two_actors_leave_validation_empty_under_every_scheme(features):
    for scheme in ("actors", "speech20", "kfold"):
        dataset = load_dataset("ravdess", data_dir=features, split_scheme=scheme)
        assert len(dataset["validation"]) == 0, scheme
    split = load_dataset("ravdess", data_dir=features, validation_fraction=0.5)
    assert [sorted(set(split[s]["video_id"])) for s in ("train", "validation")] in ([["Actor_01"], ["Actor_02"]], [["Actor_02"], ["Actor_01"]])
    assert (len(split["train"]), len(split["validation"]), len(split["test"])) == (60, 60, 0)
    check_trainable(split, "ravdess")  # no test split: allowed


def split_file(features: Path, path: Path) -> Path:
    """Actor 01 trains; actor 02's first repetitions validate and its second ones test."""
    dataset = load_dataset("ravdess", data_dir=features)
    lines = ["id,split"]
    for row in (r for s in dataset.values() for r in s):
        repetition = json.loads(row["source_labels"])["repetition"]
        split = "train" if row["video_id"] == "Actor_01" else ("validation" if repetition == 1 else "test")
        lines.append(f"{row['id']},{split}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_two_actors_train_with_a_split_file(features, tmp_path):
    ids = split_file(features, tmp_path / "ids.csv")
    split = load_dataset("ravdess", data_dir=features, split_file=str(ids))
    assert (len(split["train"]), len(split["validation"]), len(split["test"])) == (60, 30, 30)
    assert msa_metadata(split).report["resplit"]["split_file"] == str(ids)
    invoke(
        "train", "lf_dnn", "--dataset", "ravdess", "--data-dir", features, "--dataset-option", f"split_file={ids}",
        "--seed", "1111", "--no-robustness", "--workspace", tmp_path / "workspace",
    )
    records = list((tmp_path / "workspace" / "records").rglob("seed1111.json"))
    assert len(records) == 1, records
    record = json.loads(records[0].read_text())
    assert record["dataset"] == "ravdess" and record["config"]["data"]["split_scheme"].startswith("split_file=ids.csv sha256:")
    assert record["metrics"], record


def test_two_actors_train_with_a_validation_fraction(features, tmp_path):
    output = invoke(
        "train", "lf_dnn", "--dataset", "ravdess", "--data-dir", features, "--dataset-option", "validation_fraction=0.5",
        "--seed", "1111", "--no-robustness", "--workspace", tmp_path / "workspace",
    )
    assert "nothing was scored on test" in output.lower(), output
