"""Real data end to end: RAVDESS speech recordings -> ``msa-bench extract`` (eGeMAPS LLDs) -> the
extraction folder as a dataset source -> trained models well above chance (8 classes: 12.5 %).

Uses a subset of the real recordings in ``../shared/data/ravdess`` (skipped when absent): actors
01-06 for training, 13-14 for validation and 17-18 for testing under the ``speech20`` scheme.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from msa_bench.cli import app
from msa_bench.util.errors import UserError
from msa_bench.loading.load import load_dataset
from msa_bench.models import get_model_class
from msa_bench.worker.configs import resolve_configs
from msa_bench.harness.training import train_and_evaluate

ACTORS = (1, 2, 3, 4, 5, 6, 13, 14, 17, 18)
CHANCE = 1 / 8
SPLIT = {"split_scheme": "speech20"}


@pytest.fixture(scope="module")
def extracted(tmp_path_factory, shared_data) -> Path:
    """The subset's actor folders linked (as users keep data), extracted once through the CLI."""
    source = shared_data / "ravdess"
    if not (source / "Actor_17").is_dir():
        pytest.skip(f"{source} lacks the RAVDESS actor folders")
    root = tmp_path_factory.mktemp("ravdess")
    media = root / "media"
    media.mkdir()
    for actor in ACTORS:
        os.symlink(source / f"Actor_{actor:02d}", media / f"Actor_{actor:02d}", target_is_directory=True)
    out = root / "out"
    result = CliRunner().invoke(
        app, ["extract", "ravdess", "--data-dir", str(media), "--out", str(out), "--audio", "egemaps-lld", "--workers", "2"]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.slow
def test_cli_trains_on_an_extraction_folder(extracted, tmp_path):
    records = tmp_path / "records"
    result = CliRunner().invoke(app, [
        "train", "lf_dnn", "--dataset", "ravdess", "--data-dir", str(extracted / "dataset"),
        "--dataset-option", "split_scheme=speech20", "--seed", "1111", "--records", str(records),
        "--run-dir", str(tmp_path / "runs"), "--no-robustness",
    ])
    assert result.exit_code == 0, result.output
    record = json.loads((records / "ravdess" / "lf_dnn" / "seed1111.json").read_text())
    assert record["metrics"]["emotion_ua"] > CHANCE + 0.08
    assert record["config"]["data"] == {"features": {"text": "none", "audio": "egemaps-lld", "vision": "none"},
                                        "split_scheme": "speech20", "source_files": record["config"]["data"]["source_files"]}
    assert record["config"]["data"]["source_files"]
    assert record["training"]["normalization"]["audio"]["frames"] > 0


@pytest.mark.slow
def test_the_dataset_name_must_match_the_extraction(extracted):
    with pytest.raises(UserError, match="extracted for the dataset 'ravdess'"):
        load_dataset("mosi", data_dir=extracted)
    result = CliRunner().invoke(app, ["info", "mosei", "--data-dir", str(extracted)])
    assert result.exit_code == 2 and "not 'mosei'" in result.output


@pytest.mark.slow
def test_speech20_splits_the_extracted_rows_by_actor(extracted):
    dataset = load_dataset("ravdess", data_dir=extracted, **SPLIT)
    actors = {split: sorted({int(v.removeprefix("Actor_")) for v in dataset[split]["video_id"]}) for split in dataset}
    assert actors == {"train": [1, 2, 3, 4, 5, 6], "validation": [13, 14], "test": [17, 18]}
    assert [len(dataset[s]) for s in ("train", "validation", "test")] == [360, 120, 120]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ef_lstm", "lf_dnn", "tfn"])
def test_fast_models_learn_above_chance(extracted, name):
    dataset = load_dataset("ravdess", data_dir=extracted, **SPLIT)
    model_class = get_model_class(name)
    model_config, train_config = resolve_configs(model_class, "ravdess")  # the schedule the board uses
    run = train_and_evaluate(model_class, model_config, dataset, train_config, seed=1111, dataset_name="ravdess", progress=False)
    losses = [epoch["train_loss"] for epoch in run.history]
    assert losses[-1] < 0.95 * losses[0], losses
    assert run.metrics["emotion_ua"] > CHANCE + 0.08, (run.metrics["emotion_ua"], losses)


def test_speech20_is_a_builder_split_scheme_on_the_raw_recordings(shared_data, tmp_path):
    source = shared_data / "ravdess"
    if not (source / "Actor_20").is_dir():
        pytest.skip(f"{source} lacks actors 01-20")
    from msa_bench.data.schema import MSAMetadata

    dataset = load_dataset("ravdess", data_dir=source, cache_dir=tmp_path, **SPLIT)
    assert [len(dataset[s]) for s in ("train", "validation", "test")] == [720, 240, 240]
    report = MSAMetadata.from_info(dataset["train"].info).report
    assert report["split_scheme"] == "speech20" and report["actors"]["test"] == [17, 18, 19, 20]
    default = load_dataset("ravdess", data_dir=source, cache_dir=tmp_path)
    assert [len(default[s]) for s in ("train", "validation", "test")] == [960, 240, 0]


def test_a_builder_given_an_extractor_extracts_once_into_its_cache(shared_data, tmp_path, monkeypatch):
    files = sorted((shared_data / "ravdess" / "Actor_01").glob("*.flac"))[:4]
    if not files:
        pytest.skip("no RAVDESS recordings in the shared data")
    media = tmp_path / "media" / "Actor_01"
    media.mkdir(parents=True)
    for file in files:
        os.symlink(file, media / file.name)
    dataset = load_dataset("ravdess", data_dir=media.parent, cache_dir=tmp_path / "cache", audio="egemaps-lld")
    assert len(dataset["train"]) == 4
    assert len(dataset["train"][0]["audio_features"][0]) == 25

    def no_second_extraction(*args, **kwargs):
        raise AssertionError("extracted again")

    monkeypatch.setattr("msa_bench.features.pipeline.extract", no_second_extraction)
    again = load_dataset("ravdess", data_dir=media.parent, cache_dir=tmp_path / "cache", audio="egemaps-lld")
    assert again["train"]["id"] == dataset["train"]["id"]


def test_every_model_selects_on_a_metric_ravdess_has():
    """RAVDESS has no sentiment: a schedule selecting on MAE fails after the first epoch."""
    from msa_bench.models import model_names

    selected = {name: resolve_configs(get_model_class(name), "ravdess")[1].select_metric for name in model_names()}
    assert {name: m for name, m in selected.items() if m not in ("emotion_ua", "emotion_wa", "emotion_macro_f1")} == {}
