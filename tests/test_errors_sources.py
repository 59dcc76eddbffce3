"""Data folders as users keep them: symbolic links to actor folders, files and archives are
followed by the builders and by ``extract``; a link loop is walked once."""

from __future__ import annotations

import os

import pytest
from real_format_files import write_ravdess_audio, write_zip

import msa_bench
from msa_bench.loading.load import get_builder
from msa_bench.features import extract


def counts(ds) -> dict[str, int]:
    return {split: len(rows) for split, rows in ds.items()}


@pytest.fixture
def linked_ravdess(tmp_path):
    """A folder of links only: Actor_01 -> a folder elsewhere, Actor_02/ holding a linked file,
    a linked zip with Actor_21, and a link back to the folder itself (a loop)."""
    store = tmp_path / "shared_disk"
    write_ravdess_audio(store / "Actor_01" / "03-01-01-01-01-01-01.wav", seconds=0.5)
    write_ravdess_audio(store / "Actor_01" / "03-01-05-01-01-01-01.wav", seconds=0.5)
    single = write_ravdess_audio(store / "loose" / "03-01-05-02-01-01-02.wav", seconds=0.5)
    member = write_ravdess_audio(tmp_path / "z" / "03-01-08-02-01-02-21.wav")
    write_zip(store / "Audio_Speech_Actors_01-24.zip", {"Actor_21/03-01-08-02-01-02-21.wav": member})
    root = tmp_path / "ravdess"
    (root / "Actor_02").mkdir(parents=True)
    os.symlink(store / "Actor_01", root / "Actor_01", target_is_directory=True)
    os.symlink(single, root / "Actor_02" / single.name)
    os.symlink(store / "Audio_Speech_Actors_01-24.zip", root / "Audio_Speech_Actors_01-24.zip")
    os.symlink(root, root / "Actor_02" / "loop", target_is_directory=True)
    return root


def test_symlinked_actor_folders_files_and_zips_load(linked_ravdess, tmp_path):
    ds = msa_bench.load_dataset("ravdess", data_dir=linked_ravdess, cache_dir=tmp_path / "cache")
    assert counts(ds) == {"train": 3, "validation": 0, "test": 1}  # "no RAVDESS recordings" before


def test_symlinked_folders_and_files_extract(linked_ravdess, tmp_path):
    (linked_ravdess / "Audio_Speech_Actors_01-24.zip").unlink()  # extract reads folders, not archives
    result = extract("ravdess", linked_ravdess, tmp_path / "out", audio="egemaps-lld", workers=0, progress=False)
    assert result.summary["audio"] == {"extractor": "egemaps-lld", "succeeded": 3, "failed": 0, "total": 3}


def test_the_build_cache_sees_changes_behind_links(linked_ravdess, tmp_path):
    def fingerprint() -> str:
        return get_builder("ravdess", data_dir=linked_ravdess, cache_dir=tmp_path / "cache").hash

    before = fingerprint()
    write_ravdess_audio(tmp_path / "shared_disk" / "Actor_01" / "03-01-03-01-01-01-01.wav")
    assert fingerprint() != before


def test_real_actor_folders_linked_from_another_folder(shared_data, tmp_path):
    actors = sorted(p for p in (shared_data / "ravdess").glob("Actor_0[12]") if p.is_dir())
    if len(actors) < 2:
        pytest.skip("the shared RAVDESS folder lacks Actor_01 and Actor_02")
    root = tmp_path / "linked"
    root.mkdir()
    for actor in actors:
        os.symlink(actor, root / actor.name, target_is_directory=True)
    ds = msa_bench.load_dataset("ravdess", data_dir=root, cache_dir=tmp_path / "cache")
    expected = sum(1 for actor in actors for p in actor.iterdir() if p.suffix in (".wav", ".flac", ".mp4"))
    assert counts(ds)["train"] == expected == 120
