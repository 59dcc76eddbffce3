"""load_dataset names and caching; export round-trip; the dataset CLI commands."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
from typer.testing import CliRunner

import msa_bench
from msa_bench.builders.synthetic import Synthetic
from msa_bench.cli import app
from msa_bench.loading.export import export_dataset, write_export
from msa_bench.data.schema import MSAMetadata


def test_namespaced_and_bare_names_are_the_same_dataset(tmp_path):
    bare = msa_bench.load_dataset("synthetic", cache_dir=tmp_path, n_clips=60)
    namespaced = msa_bench.load_dataset("msa_bench/synthetic", cache_dir=tmp_path, n_clips=60)
    assert bare["test"]["id"] == namespaced["test"]["id"]


def test_second_call_is_served_from_the_cache(tmp_path, monkeypatch):
    msa_bench.load_dataset("synthetic", cache_dir=tmp_path, n_clips=60)

    def fail(*args, **kwargs):
        raise AssertionError("regenerated instead of reading the cache")

    monkeypatch.setattr(Synthetic, "_generate_examples", fail)
    again = msa_bench.load_dataset("synthetic", cache_dir=tmp_path, n_clips=60)
    assert sum(len(s) for s in again.values()) == 60


def test_config_checks_run_through_load_dataset(tmp_path):
    with pytest.raises(ValueError, match="n_clips must be at least 30"):
        msa_bench.load_dataset("synthetic", cache_dir=tmp_path, n_clips=5)


def test_unknown_dataset_suggests_a_name():
    with pytest.raises(KeyError, match="did you mean 'synthetic'"):
        msa_bench.load_dataset("synthetc")


def _assert_same(exported: datasets.DatasetDict, original: datasets.DatasetDict) -> None:
    assert set(exported) == set(original)
    for split in original:
        assert exported[split].features == original[split].features
        for mine, theirs in zip(exported[split], original[split]):
            for key, value in theirs.items():
                if isinstance(value, list):
                    np.testing.assert_array_equal(np.asarray(mine[key], dtype=np.float32), np.asarray(value, dtype=np.float32))
                else:
                    assert mine[key] == value or (value != value and mine[key] != mine[key]), key


def test_export_round_trips_through_plain_datasets(tmp_path):
    original = msa_bench.load_dataset("synthetic", cache_dir=tmp_path / "cache", n_clips=60)
    out = export_dataset("synthetic", tmp_path / "out", cache_dir=tmp_path / "cache", n_clips=60)
    card = (out / "README.md").read_text()
    assert card.startswith("---\nconfigs:") and "audio_features" in card and "synthetic-acoustic" in card
    _assert_same(datasets.load_dataset(str(out)), original)


def test_export_round_trips_nulls(tmp_path):
    features = msa_bench.unified_features(2, 3, 1)
    row = {
        "id": "v_1", "video_id": "v", "clip_id": "1", "dataset": "mosi", "text": "", "text_features": None,
        "audio_features": np.ones((2, 3), np.float32), "vision_features": None, "sentiment": None, "polarity": None,
        "intensity": None, "emotions": None, "emotion": None, "source_labels": "{}",
    }
    info = datasets.DatasetInfo(description=MSAMetadata("t", "a", "v", 2, 3, 1).to_description(), features=features)
    empty = datasets.Dataset.from_dict({name: [] for name in features}, features=features, info=info)
    dataset = datasets.DatasetDict({"train": empty, "test": datasets.Dataset.from_list([row], features=features, info=info)})
    out = write_export(dataset, "mosi", tmp_path / "out")
    assert "| train | 0 (empty, not written) |" in (out / "README.md").read_text()
    exported = datasets.load_dataset(str(out))
    assert set(exported) == {"test"}
    back = exported["test"].with_format("arrow")[:]
    assert back.column("text_features").null_count == 1 and back.column("sentiment").null_count == 1
    assert back.column("audio_features").null_count == 0


def test_push_to_hub_uploads_the_exported_folder(tmp_path, monkeypatch):
    calls = []

    class FakeApi:
        def create_repo(self, repo_id, **kwargs):
            calls.append(("create", repo_id, kwargs))

        def upload_folder(self, **kwargs):
            calls.append(("upload", kwargs["repo_id"], kwargs))

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    out = export_dataset("synthetic", tmp_path / "out", push_to_hub="me/mini", cache_dir=tmp_path / "c", n_clips=40)
    assert [c[0] for c in calls] == ["create", "upload"]
    assert calls[1][2]["folder_path"] == str(out) and calls[1][2]["repo_type"] == "dataset"


def test_cli_datasets_and_info_json(monkeypatch, tmp_path):
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path))
    runner = CliRunner()
    listed = runner.invoke(app, ["datasets"])
    assert listed.exit_code == 0 and "synthetic" in listed.output.split()
    result = runner.invoke(app, ["info", "synthetic", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["splits"] == {"train": 1126, "validation": 249, "test": 625}
    assert summary["features"]["audio"] == {"dim": 74, "name": "synthetic-acoustic"}
    assert set(summary["labels"]["train"]) >= {"examples", "sentiment", "polarity", "emotion", "emotions", "modality_present"}
    assert summary["labels"]["train"]["modality_present"] == {"text": 1126, "audio": 1126, "vision": 1126}
