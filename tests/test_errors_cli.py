"""Every expected failure, through the command line: one paragraph naming the problem, exit 2,
no traceback (the cases of the "When something is wrong" table in docs/troubleshooting.md, in its order)."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
from real_format_files import frame_sequence, mmsa_split, write_csd, write_pickle, write_ravdess_audio
from typer.testing import CliRunner

from msa_bench.cli import app
from msa_bench.sources.cmu import standard_folds

TROUBLESHOOTING = Path(__file__).resolve().parents[1] / "docs" / "troubleshooting.md"


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))


def fails_cleanly(args: list[str], *expected: str) -> str:
    """Run ``msa-bench ARGS``; check exit 2, one paragraph with every ``expected`` part, no traceback."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and "error: " in result.stderr, result.output
    message = result.stderr[result.stderr.index("error: ") :].strip()  # after any progress bars
    assert "\n\n" not in message
    for part in expected:
        assert part in message, message
    return message


def test_missing_dataset_files(tmp_path):
    fails_cleanly(["info", "mosi", "--data-dir", tmp_path], "no CMU-MOSI files found", "--data-dir /path/to/folder")
    fails_cleanly(["extract", "mosi", "--data-dir", tmp_path / "absent", "--out", tmp_path / "out", "--audio", "egemaps-lld"], "absent: data folder not found")


def test_unknown_dataset_and_model_names(tmp_path):
    fails_cleanly(["info", "mosy"], "unknown dataset 'mosy'", "did you mean 'mosi'")
    fails_cleanly(["export", "mosy", tmp_path / "out"], "unknown dataset 'mosy'")
    fails_cleanly(["train", "tfm", "--dataset", "synthetic"], "unknown model 'tfm'", "did you mean 'tfn'")
    (tmp_path / "label.csv").write_text("id,text,label,mode\nv_0,words,1.0,train\n")
    fails_cleanly(["extract", "mosi", "--data-dir", tmp_path, "--out", tmp_path / "o", "--audio", "egemap-lld"], "egemap-lld")


def test_invalid_config_values_name_the_field_and_the_type(tmp_path):
    fails_cleanly(["train", "tfn", "--dataset", "synthetic", "--train-option", "lr=abc"], "train.lr: expected a number, got 'abc'")
    fails_cleanly(["train", "tfn", "--dataset", "synthetic", "--model-option", "dropout=high"], "model.dropout: expected a number, got 'high'")
    fails_cleanly(["export", "ravdess", tmp_path / "out", "--config", "n_folds=abc"], "config.n_folds: expected an integer, got 'abc'")


def model_file(tmp_path: Path) -> str:
    path = tmp_path / "my_model.py"
    path.write_text(
        "from dataclasses import dataclass\n"
        "from msa_bench.models import ModelConfig, MSAModel\n\n"
        "@dataclass(frozen=True)\nclass Config(ModelConfig):\n    hidden: int = 8\n\n"
        "class Mine(MSAModel):\n    config_class = Config\n",
        encoding="utf-8",
    )
    return f"{path}:Mine"


def test_invalid_submissions(tmp_path):
    common = ["submit", "--dataset", "synthetic", "--workspace", tmp_path]
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet")
    fails_cleanly([*common, "--predictions", garbage, "--name", "mine"], "garbage.parquet: not a readable parquet file")
    fails_cleanly([*common, "--predictions", garbage, "--name", "tfn"], "'tfn' is reserved")
    config = tmp_path / "config.yaml"
    config.write_text("train:\n  lr: abc\n", encoding="utf-8")
    fails_cleanly([*common, "--model", model_file(tmp_path), "--config", config], "config.yaml", "train.lr: expected a number, got 'abc'")
    config.write_text("trian: {}\n", encoding="utf-8")
    fails_cleanly([*common, "--model", model_file(tmp_path), "--config", config], "unknown top-level key(s) ['trian']")
    fails_cleanly([*common, "--model", model_file(tmp_path), "--config", tmp_path / "absent.yaml"], "absent.yaml: no such config file")
    assert not (tmp_path / "records").exists()


@pytest.mark.parametrize(
    ("code", "advice"),
    [
        (errno.EACCES, "permission denied"),
        (errno.EROFS, "the file system is read-only"),
        (errno.ENOSPC, "no space left on the device"),
    ],
    ids=["permission denied", "read-only", "disk full"],
)
def test_os_errors_name_the_path(tmp_path, monkeypatch, code, advice):
    """The OS refuses a write half-way: the message names the file, nothing partial is left."""
    import datasets

    def refuse(self, path, *args, **kwargs):
        Path(path).write_bytes(b"PAR1 half a shard")
        raise OSError(code, os.strerror(code), str(path))

    monkeypatch.setattr(datasets.Dataset, "to_parquet", refuse)
    out = tmp_path / "export"
    fails_cleanly(["export", "synthetic", out, "--config", "n_clips=60"], str(out / "data"), advice)
    assert [p.name for p in out.rglob("*") if p.is_file()] == []


def test_a_run_on_other_data_never_resumes_the_checkpoint_of_another(tmp_path):
    """Training on 400 synthetic clips after 300 in one workspace: its run folder is keyed by the
    data, so it trains from scratch (issue #27: it used to resume the other run and train nothing)."""
    space = tmp_path / "space"
    args = ["train", "lf_dnn", "--dataset", "synthetic", "--seed", "1", "--no-robustness", "--workspace", space, "--train-option", "max_epochs=1"]
    for clips in (300, 400):
        result = CliRunner().invoke(app, [str(a) for a in [*args, "--dataset-option", f"n_clips={clips}"]])
        assert result.exit_code == 0, result.output
        assert "resumed" not in result.output
    assert len({p.parents[1] for p in (space / "runs").rglob("checkpoint.pt")}) == 2  # one run folder per data


def mosi_sdk(root: Path) -> Path:
    root.mkdir()
    videos = [standard_folds("mosi")[split][0] for split in ("train", "validation", "test")]
    labels = {v: (np.array([[2.4], [-0.6]]), [[0.0, 1.0], [1.0, 2.0]]) for v in videos}
    write_csd(root / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", labels)
    write_csd(root / "CMU_MOSI_COVAREP.csd", "COVAREP", {v: frame_sequence(2000, 40, 0.001, seed=k) for k, v in enumerate(videos)})
    return root


def test_zeroed_hdf5_found_mid_build(tmp_path):
    root = mosi_sdk(tmp_path / "mosi")
    covarep = root / "CMU_MOSI_COVAREP.csd"
    data = bytearray(covarep.read_bytes())
    data[len(data) // 2 :] = bytes(len(data) - len(data) // 2)  # opens fine; later videos are unreadable
    covarep.write_bytes(bytes(data))
    fails_cleanly(["info", "mosi", "--data-dir", root], "CMU_MOSI_COVAREP.csd: video", "the file is corrupt")


def test_pickle_with_mismatched_lengths(tmp_path):
    part = mmsa_split(["v$_$1", "v$_$2", "w$_$1"], aligned=True, seed=0, dims=(4, 3, 2))
    short = {**part, "regression_labels": part["regression_labels"][:2]}
    write_pickle(tmp_path / "aligned_50.pkl", {"train": short, "valid": part, "test": part})
    fails_cleanly(["info", "mosi", "--data-dir", tmp_path], "aligned_50.pkl: split 'train': 'regression_labels' has 2 entries but 'id' has 3")


def test_a_malformed_ravdess_folder_says_what_it_holds(tmp_path):
    write_ravdess_audio(tmp_path / "ravdess" / "Actor_01" / "03-01-05-02-02-02.wav")  # a malformed name only
    fails_cleanly(["info", "ravdess", "--data-dir", tmp_path / "ravdess"], "no RAVDESS recordings")


def test_unexpected_exceptions_keep_their_traceback(monkeypatch):
    import msa_bench.loading.load

    def bug(*args, **kwargs):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(msa_bench.loading.load, "load_dataset", bug)
    result = CliRunner().invoke(app, ["info", "synthetic"])
    assert result.exit_code == 1 and isinstance(result.exception, ZeroDivisionError)


def test_the_troubleshooting_table_lists_every_case_tested_here():
    section = TROUBLESHOOTING.read_text(encoding="utf-8").split("## When something is wrong", 1)
    if len(section) < 2:
        pytest.fail("docs/troubleshooting.md has no 'When something is wrong' section")
    table = section[1].split("\n## ", 1)[0]
    for case in ("missing dataset", "unknown dataset or model", "config value", "invalid submission", "permission denied",
                 "read-only", "disk full", "checkpoint", "HDF5", "pickle", "truncated", "corrupt", "unexpected"):
        assert case in table, case

