"""Frame pooling as an ``extract`` option (``--pool-ms``): the windows it averages, where it is
recorded (feature-set names in the dataset metadata, hence every record's ``config.data``), and
the CLI path on real RAVDESS recordings."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from msa_bench.data.schema import msa_metadata
from msa_bench.features.pipeline import extract
from msa_bench.features.pooling import pool_frames
from msa_bench.harness.training import data_provenance
from msa_bench.loading.load import load_dataset
from msa_bench.util.errors import ConfigError


def test_windows_of_ten_lld_frames_and_a_short_last_one():
    frames = np.arange(46, dtype=np.float32).reshape(23, 2)
    values, times = pool_frames(frames, np.arange(23) * 0.01, 100)
    np.testing.assert_allclose(values, [frames[:10].mean(0), frames[10:20].mean(0), frames[20:].mean(0)])
    np.testing.assert_allclose(times, [0.0, 0.1, 0.2])
    assert values.dtype == np.float32


def test_a_frame_on_a_window_boundary_starts_the_next_window():
    # 30 * 0.01 is 0.29999999999999999 in floating point: frame 30 must still open window 3
    frames = np.eye(31, dtype=np.float32)
    values, _ = pool_frames(frames, np.arange(31) * 0.01, 100)
    assert len(values) == 4 and values[3, 30] == 1.0


def test_windows_without_frames_give_no_row():
    values, times = pool_frames(np.array([[1.0], [3.0], [10.0]], dtype=np.float32), np.array([0.0, 0.05, 0.45]), 100)
    np.testing.assert_allclose(values, [[2.0], [10.0]])
    np.testing.assert_allclose(times, [0.0, 0.4])


def test_bad_windows_are_refused_in_one_sentence(tmp_path):
    with pytest.raises(ConfigError, match="positive number of milliseconds"):
        extract("ravdess", tmp_path, tmp_path / "out", audio="egemaps-lld", pool_ms=0, progress=False)
    timings = tmp_path / "words.csv"
    timings.write_text("id,word,start,end\n")
    with pytest.raises(ConfigError, match="give one of them"):
        extract("ravdess", tmp_path, tmp_path / "out", audio="egemaps-lld", pool_ms=100, word_timings=timings, progress=False)


@pytest.fixture
def three_recordings(shared_data, tmp_path):
    """Two training recordings (actor 01) and one validation recording (actor 13, split speech20)."""
    for actor, count in (("Actor_01", 2), ("Actor_13", 1)):
        (tmp_path / "data" / actor).mkdir(parents=True)
        for flac in sorted((shared_data / "ravdess" / actor).glob("*.flac"))[:count]:
            (tmp_path / "data" / actor / flac.name).symlink_to(flac)
    return tmp_path / "data"


def test_cli_pooling_is_the_mean_of_the_extracted_frames_and_is_recorded(three_recordings, tmp_path):
    from msa_bench.cli import app

    out = tmp_path / "pooled"
    args = ["extract", "ravdess", "--data-dir", three_recordings, "--out", out, "--audio", "egemaps-lld", "--workers", "0"]
    result = CliRunner().invoke(app, [str(a) for a in [*args, "--pool-ms", "100"]])
    assert result.exit_code == 0, result.output
    pooled = load_dataset("ravdess", data_dir=out, split_scheme="speech20")
    frames = extract("ravdess", three_recordings, tmp_path / "frames", audio="egemaps-lld", workers=0, progress=False).dataset
    assert (len(pooled["train"]), len(pooled["validation"])) == (2, 1)
    by_id = {row["id"]: np.asarray(row["audio_features"], dtype=np.float32) for split in frames.values() for row in split}
    for row in [*pooled["train"], *pooled["validation"]]:
        lld = by_id[row["id"]]
        expected, _ = pool_frames(lld, np.arange(len(lld)) * 0.01, 100)
        assert len(row["audio_features"]) == -(-len(lld) // 10)
        np.testing.assert_array_equal(np.asarray(row["audio_features"], dtype=np.float32), expected)
    metadata = msa_metadata(pooled["train"])
    assert metadata.audio == "egemaps-lld, mean-pooled 100 ms"
    assert metadata.provenance["pooling"] == {"statistic": "mean", "window_ms": 100.0, "modalities": ["audio"]}
    assert data_provenance(pooled)["features"]["audio"] == "egemaps-lld, mean-pooled 100 ms"
    assert json.loads((out / "msa_bench_extraction.json").read_text())["pool_ms"] == 100.0


def test_features_without_frame_times_are_not_pooled(three_recordings, tmp_path):
    result = extract("ravdess", three_recordings, tmp_path / "out", audio="egemaps-functionals", pool_ms=100, workers=0, progress=False)
    assert msa_metadata(result.dataset["train"]).audio == "egemaps-functionals"
    assert "pooling" not in msa_metadata(result.dataset["train"]).provenance
    assert np.asarray(result.dataset["train"][0]["audio_features"]).shape == (1, 88)


def test_board_script_reads_exactly_what_the_cli_path_reads(three_recordings, tmp_path):
    """``real_board.board_dataset`` against ``msa-bench extract ... --pool-ms 100`` then the folder
    loaded as ``msa-bench train --data-dir OUT --dataset-option split_scheme=speech20`` loads it."""
    from msa_bench.cli import app
    from msa_bench.harness.training import dataset_fingerprint

    board_script = pytest.importorskip("datasets_scripts.ravdess.real_board")
    board = board_script.board_dataset(three_recordings, tmp_path / "board", "egemaps-lld", 100, workers=0)
    args = ["extract", "ravdess", "--data-dir", three_recordings, "--out", tmp_path / "cli", "--audio", "egemaps-lld", "--pool-ms", "100"]
    assert CliRunner().invoke(app, [str(a) for a in args]).exit_code == 0
    cli = load_dataset("ravdess", data_dir=tmp_path / "cli", split_scheme="speech20")
    for split in ("train", "validation", "test"):
        assert board[split].to_dict() == cli[split].to_dict()
    assert msa_metadata(board["train"]) == msa_metadata(cli["train"])
    assert data_provenance(board) == data_provenance(cli)
    assert dataset_fingerprint(board) == dataset_fingerprint(cli)
