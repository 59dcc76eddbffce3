"""``msa-bench datasets`` (every name with one line) and ``msa-bench info`` (a summary a person
reads; ``--json`` for scripts), and that neither needs torch or transformers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from real_format_files import write_ravdess_audio
from typer.testing import CliRunner

from msa_bench.builders import DATASETS, DESCRIPTIONS, EXTRACT_ONLY
from msa_bench.cli import app
from msa_bench.loading.describe import report_warnings, split_scheme

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))


def run(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_datasets_lists_every_name_with_a_description():
    lines = run("datasets").splitlines()
    listed = {line.split()[0]: line for line in lines if not line.startswith("other names")}
    assert set(listed) == set(DATASETS.names()) | set(EXTRACT_ONLY)
    for name, line in listed.items():
        assert line.split(None, 1)[1] == DESCRIPTIONS[name]
    assert lines[-1].startswith("other names: `msa-bench extract NAME`")


def test_info_prints_a_readable_summary():
    text = run("info", "synthetic", "--dataset-option", "n_clips=60")
    for part in (
        "synthetic: generated clips",
        "splits: train ",
        "split scheme: by video, as generated",
        "audio   synthetic-acoustic: 74 values per frame",
        "frames per example, in 60 of 60 examples",
        "sentiment  60 examples, a score in [-3, 3]: train mean",
        "polarity   60 examples, classes: negative",
    ):
        assert part in text, text
    assert "none (1-d)" not in text and "{" not in text


def test_info_of_labels_without_features_says_so(tmp_path):
    for actor in (1, 2):
        write_ravdess_audio(tmp_path / "ravdess" / f"Actor_{actor:02d}" / f"03-01-05-01-01-01-{actor:02d}.wav")
    text = run("info", "ravdess", "--data-dir", tmp_path / "ravdess")
    assert text.count(" absent\n") == 3, text
    assert "labels only: no model can train on this folder" in text and "Getting features" in text
    assert "split scheme: split_scheme=actors (actors train 01-02; validation none; test none)" in text
    assert "warnings:\n  empty splits: validation, test" in text
    assert "not annotated: sentiment" in text
    assert "none (1-d)" not in text and "{" not in text


def test_info_json_keeps_its_keys_and_adds_the_new_ones():
    summary = json.loads(run("info", "synthetic", "--dataset-option", "n_clips=60", "--json"))
    assert {"dataset", "splits", "features", "provenance", "report", "labels"} <= set(summary)
    assert summary["features"]["audio"] == {"dim": 74, "name": "synthetic-acoustic"}
    assert summary["split_scheme"] == "by video, as generated" and summary["warnings"] == []
    assert set(summary["frames"]) == {"text", "audio", "vision"}
    assert 8 <= summary["frames"]["text"]["min"] <= summary["frames"]["text"]["median"] <= summary["frames"]["text"]["max"] <= 40


def test_report_warnings_read_every_kind_of_count():
    report = {
        "labels_out_of_range": {"count": 2, "examples": ["v_1", "v_2"]},
        "duplicates_skipped": {"count": 0, "examples": []},
        "zero_feature_segments": {"train": {"audio": 0, "vision": 3}, "test": {"audio": 0}},
        "nan_labels": {"train": 0, "test": 2},
        "empty_splits": ["test"],
        "folds": "standard",
    }
    assert report_warnings(report) == [
        "labels out of range: 2 (e.g. v_1; v_2)",
        "zero feature segments: train vision 3",
        "nan labels: test 2",
        "empty splits: test",
    ]
    assert split_scheme(report) == "the CMU SDK standard folds (by video)"


def test_datasets_and_info_synthetic_import_neither_torch_nor_transformers(tmp_path):
    """Their code paths, with the package's ``__init__`` bypassed (its imports are not theirs)."""
    code = (
        "import sys, types\n"
        "package = types.ModuleType('msa_bench'); package.__path__ = ['msa_bench']; sys.modules['msa_bench'] = package\n"
        "from msa_bench.builders import DESCRIPTIONS, dataset_names\n"
        "from msa_bench.loading.info import dataset_info, format_info\n"
        "from msa_bench.loading.load import load_dataset\n"
        "format_info(dataset_info('synthetic', load_dataset('synthetic', n_clips=60)))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'transformers')))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "MSA_BENCH_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
