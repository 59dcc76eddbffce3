"""Media that are not what they claim: truncated or corrupt files are errors, replaced files are
recomputed, and ``extract`` reports the source problems the builders report."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
import soundfile
from real_format_files import write_ravdess_audio
from typer.testing import CliRunner

import msa_bench
from msa_bench.cli import app
from msa_bench.features import extract, load_extracted
from msa_bench.data.media import MediaError, Window, read_audio, read_frames

MMSA_HEADER = "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"


def ffmpeg_clip(path, seconds: float = 7.5, faststart: bool = False):
    """A 160x120 25 fps H.264 + AAC clip made by the ffmpeg binary (index first with ``faststart``)."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install -y ffmpeg)")
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"]
    command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", str(seconds)]
    command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", *(["-movflags", "+faststart"] if faststart else []), str(path)]
    subprocess.run(command, check=True)
    return path


def cut_in_half(path, out):
    data = path.read_bytes()
    out.write_bytes(data[: len(data) // 2])
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    whole = ffmpeg_clip(folder / "whole.mp4", faststart=True)
    return {
        "whole": whole,
        "faststart_cut": cut_in_half(whole, folder / "faststart_cut.mp4"),
        "plain_cut": cut_in_half(ffmpeg_clip(folder / "plain.mp4"), folder / "plain_cut.mp4"),
    }


def test_whole_clip_decodes_completely(clips):
    assert read_audio(clips["whole"]).size == pytest.approx(7.5 * 16000, rel=0.01)
    frames, times = read_frames(clips["whole"], fps=5)
    assert len(frames) == 38 and times[-1] == pytest.approx(7.4)


@pytest.mark.parametrize("reader", [read_audio, lambda path: read_frames(path, fps=5)], ids=["audio", "video"])
def test_truncated_faststart_mp4_is_an_error_not_a_short_clip(clips, reader):
    # The index at the start still declares 7.5 s; only half of the samples are there.
    with pytest.raises(MediaError, match=r"faststart_cut.mp4: truncated: 3\.\d+ s of 7\.5\d s decoded"):
        reader(clips["faststart_cut"])


def test_truncated_plain_mp4_and_random_bytes_and_empty_files_are_corrupt(clips, tmp_path):
    random_flac = tmp_path / "random.flac"
    random_flac.write_bytes(np.random.default_rng(0).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.wav"
    empty.touch()
    for path in (clips["plain_cut"], random_flac, empty):
        with pytest.raises(MediaError, match=rf"{path.name}: corrupt or unreadable"):
            read_audio(path)
    with pytest.raises(MediaError, match="empty, 0 bytes"):
        read_frames(empty, fps=5)


def test_a_segment_past_the_end_of_its_video_is_an_error(clips):
    assert read_audio(clips["whole"], Window(2.0, 4.0)).size == 32000
    with pytest.raises(MediaError, match=r"segment \[5\.0, 9\.0\) s ends after the file's 7\.5 s"):
        read_audio(clips["whole"], Window(5.0, 9.0))


def test_extract_lists_truncated_and_corrupt_clips_in_the_errors_table(clips, tmp_path):
    root = tmp_path / "mmsa"
    (root / "Raw" / "v").mkdir(parents=True)
    shutil.copy(clips["whole"], root / "Raw" / "v" / "0.mp4")
    shutil.copy(clips["faststart_cut"], root / "Raw" / "v" / "1.mp4")
    shutil.copy(clips["plain_cut"], root / "Raw" / "v" / "2.mp4")
    (root / "label.csv").write_text(
        MMSA_HEADER + "".join(f"v,{k},words,1.0,1,1,1,Positive,train\n" for k in range(3))
    )
    result = extract("mosi", root, tmp_path / "out", audio="egemaps-lld", workers=0, progress=False)
    reasons = dict(zip(result.errors["id"], result.errors["reason"]))
    assert "truncated: 3." in reasons["v_1"] and "of 7.50 s decoded" in reasons["v_1"]
    assert "corrupt or unreadable" in reasons["v_2"] and "v_0" not in reasons
    assert result.summary["audio"]["succeeded"] == 1 and result.summary["audio"]["failed"] == 2


def tone(path, frequency: float, seconds: float = 1.0):
    t = np.arange(int(seconds * 16000)) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), 16000)
    return path


def test_a_media_file_replaced_in_place_is_recomputed_and_said_so(tmp_path):
    root = tmp_path / "mmsa"
    (root / "Raw" / "v").mkdir(parents=True)
    tone(root / "Raw" / "v" / "0.wav", 220)
    tone(root / "Raw" / "v" / "1.wav", 330)
    (root / "label.csv").write_text(MMSA_HEADER + "v,0,a,1.0,1,1,1,Positive,train\nv,1,b,-1.0,-1,-1,-1,Negative,train\n")
    first = extract("mosi", root, tmp_path / "out", audio="egemaps-lld", workers=0, progress=False)
    assert "recomputed_changed_media" not in first.summary["audio"]

    # Another recording at the same path, with the same size and modification time.
    stat = (root / "Raw" / "v" / "0.wav").stat()
    tone(root / "Raw" / "v" / "0.wav", 880)
    os.utime(root / "Raw" / "v" / "0.wav", ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (root / "Raw" / "v" / "0.wav").stat().st_size == stat.st_size
    again = extract("mosi", root, tmp_path / "out", audio="egemaps-lld", workers=0, progress=False)
    extract("mosi", root, tmp_path / "fresh", audio="egemaps-lld", workers=0, progress=False)
    assert again.summary["audio"]["recomputed_changed_media"] == 1
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["audio"]["recomputed_changed_media"] == 1
    rows = {split: load_extracted(tmp_path / name)["train"] for split, name in (("again", "out"), ("fresh", "fresh"))}
    for k in range(2):
        np.testing.assert_array_equal(np.asarray(rows["again"][k]["audio_features"]), np.asarray(rows["fresh"][k]["audio_features"]))
    old = first.dataset["train"][0]["audio_features"]
    assert not np.array_equal(np.asarray(old), np.asarray(rows["again"][0]["audio_features"]))


@pytest.fixture
def ravdess_with_bad_names(tmp_path):
    root = tmp_path / "ravdess"
    for emotion in (1, 5):
        write_ravdess_audio(root / "Actor_01" / f"03-01-{emotion:02d}-01-01-01-01.wav", seconds=0.5)
    write_ravdess_audio(root / "Actor_01" / "03-01-05-02-02-02.wav")  # six codes
    write_ravdess_audio(root / "Actor_01" / "03-01-09-01-01-01-01.wav")  # emotion 09
    write_ravdess_audio(root / "Actor_01" / "03-01-05-01-01-01-02.wav")  # actor 02 in Actor_01
    return root


def test_extract_reports_malformed_ravdess_names_as_info_does(ravdess_with_bad_names, tmp_path):
    out = tmp_path / "out"
    result = CliRunner().invoke(
        app, ["extract", "ravdess", "--data-dir", str(ravdess_with_bad_names), "--out", str(out), "--audio", "egemaps-lld", "--workers", "0"]
    )
    assert result.exit_code == 0, result.output
    built = msa_bench.msa_metadata(msa_bench.load_dataset("ravdess", data_dir=ravdess_with_bad_names, cache_dir=tmp_path / "cache"))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source_checks"]["malformed_names"] == built.report["malformed_names"]
    assert built.report["malformed_names"]["count"] == 3
    assert msa_bench.msa_metadata(load_extracted(out)).report["malformed_names"] == built.report["malformed_names"]
    errors = pd.read_csv(out / "errors.csv")
    source = errors[errors["modality"] == "source"]
    assert sorted(source["id"]) == sorted(built.report["malformed_names"]["examples"])
    assert "malformed_names: 3" in result.output and "emotion code must be 01-08" in result.output
    assert summary["audio"]["succeeded"] == 2


def test_extract_reports_out_of_range_labels_unlabelled_media_and_labels_without_media(tmp_path):
    root = tmp_path / "mmsa"
    (root / "Raw" / "v").mkdir(parents=True)
    for k in (0, 1, 9):
        tone(root / "Raw" / "v" / f"{k}.wav", 220 + 10 * k, seconds=0.5)
    (root / "label.csv").write_text(
        MMSA_HEADER
        + "v,0,a,4.5,1,1,1,Positive,train\n"
        + "v,1,b,-7,-1,-1,-1,Negative,train\n"
        + "v,2,c,1.0,1,1,1,Positive,train\n"  # no media file
    )
    result = extract("mosi", root, tmp_path / "out", audio="egemaps-lld", workers=0, progress=False)
    checks = result.source_checks
    assert checks["labels_out_of_range"] == {"count": 2, "examples": ["v_0", "v_1"]}
    assert checks["media_without_labels"] == {"count": 1, "examples": ["Raw/v/9.wav"]}
    assert checks["labels_without_media"] == {"count": 1, "examples": ["v_2"]}
    # The MOSI builder flags the same out-of-range labels from the same table.
    built = msa_bench.msa_metadata(msa_bench.load_dataset("mosi", data_dir=root, cache_dir=tmp_path / "cache", folds="source"))
    assert built.report["labels_out_of_range"] == checks["labels_out_of_range"]
    source = result.errors[result.errors["modality"] == "source"]
    assert set(source["id"]) == {"v_0", "v_1", "v_2", "Raw/v/9.wav"}
