"""RAVDESS file names and folder/zip scanning."""

import pytest
from real_format_files import write_ravdess_audio, write_zip

from msa_bench.sources.common import SourceFileError
from msa_bench.sources.ravdess import parse_ravdess_name, scan_ravdess


def test_parse_every_code():
    name = parse_ravdess_name("Actor_12/02-02-06-02-01-02-12.mp4")
    assert name.codes() == (2, 2, 6, 2, 1, 2, 12)
    assert name.transcript == "Kids are talking by the door"
    described = name.describe()
    assert (described["modality"], described["vocal_channel"], described["emotion"], described["intensity"]) == (
        "video-only",
        "song",
        "fearful",
        "strong",
    )
    assert described["sex"] == "female" and parse_ravdess_name("03-01-01-01-02-01-07.wav").describe()["sex"] == "male"
    assert parse_ravdess_name("03-01-01-01-02-01-07.wav").transcript == "Dogs are sitting by the door"


@pytest.mark.parametrize(
    "name, problem",
    [
        ("03-01-01-01-01-01.wav", "seven two-digit codes"),
        ("03-01-1-01-01-01-01.wav", "seven two-digit codes"),
        ("04-01-01-01-01-01-01.wav", "modality code must be 01-03"),
        ("03-03-01-01-01-01-01.wav", "vocal channel"),
        ("03-01-09-01-01-01-01.wav", "emotion code must be 01-08"),
        ("03-01-03-03-01-01-01.wav", "intensity"),
        ("03-01-03-01-03-01-01.wav", "statement"),
        ("03-01-03-01-01-03-01.wav", "repetition"),
        ("03-01-03-01-01-01-25.wav", "actor code must be 01-24"),
        ("03-01-01-02-01-01-01.wav", "neutral .* has no strong intensity"),
    ],
)
def test_malformed_names_say_what_is_wrong(name, problem):
    with pytest.raises(ValueError, match=problem):
        parse_ravdess_name(name)


def test_scan_folders_and_zips(tmp_path):
    root = tmp_path / "ravdess"
    write_ravdess_audio(root / "Actor_01" / "03-01-05-02-01-01-01.flac")
    write_ravdess_audio(root / "Actor_01" / "03-01-99-02-01-01-01.flac")  # malformed
    write_ravdess_audio(root / "Actor_02" / "03-01-03-01-01-01-01.wav")  # actor code 01 in Actor_02
    write_ravdess_audio(root / "original_48k" / "03-01-05-02-01-01-01.wav")  # outside Actor_XX
    member = write_ravdess_audio(tmp_path / "src" / "03-02-04-01-02-02-22.wav")
    dup = write_ravdess_audio(tmp_path / "src" / "03-01-05-02-01-01-01.wav")
    write_zip(root / "Audio_Speech_Actors_01-24.zip", {"Actor_22/03-02-04-01-02-02-22.wav": member, "Actor_01/03-01-05-02-01-01-01.wav": dup})
    scan = scan_ravdess(root)
    assert sorted((r.name.stem, r.location, r.format) for r in scan.recordings) == [
        ("03-01-05-02-01-01-01", "Actor_01/03-01-05-02-01-01-01.flac", "flac"),
        ("03-02-04-01-02-02-22", "Audio_Speech_Actors_01-24.zip::Actor_22/03-02-04-01-02-02-22.wav", "wav"),
    ]
    assert set(scan.malformed) == {"Actor_01/03-01-99-02-01-01-01.flac", "Actor_02/03-01-03-01-01-01-01.wav"}
    assert "folder Actor_02" in scan.malformed["Actor_02/03-01-03-01-01-01-01.wav"]
    assert scan.duplicates == ["Actor_01/03-01-05-02-01-01-01.wav"]
    assert scan.outside_actor_folders == ["original_48k/03-01-05-02-01-01-01.wav"]


def test_corrupt_zip_is_named(tmp_path):
    (tmp_path / "Audio_Song_Actors_01-24.zip").write_bytes(b"not a zip")
    with pytest.raises(SourceFileError, match="Audio_Song_Actors_01-24.zip: not a readable zip"):
        scan_ravdess(tmp_path)
