"""Caches keyed on what was read, not on where or when: a dataset keeps its fingerprint (and its
cache) when a file it does not read is touched or changed, and when its files are copied
elsewhere with new modification times; it changes when a file it reads changes."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest
import soundfile
from real_format_files import frame_sequence, mmsa_split, write_csd, write_pickle

import msa_bench
from msa_bench.builders.mosi import CMUBuilder
from msa_bench.features import extract, load_extracted
from msa_bench.loading.load import get_builder
from msa_bench.sources.cmu import standard_folds

MMSA_HEADER = "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"


def fingerprints(dataset) -> dict[str, str]:
    return {split: rows._fingerprint for split, rows in dataset.items()}


def copied_with_new_times(source, target):
    """A copy whose files all have new modification times (``shutil.copy`` keeps no times)."""
    shutil.copytree(source, target, copy_function=shutil.copy)
    for path in target.rglob("*"):
        os.utime(path, ns=(1, 1))
    return target


def no_rebuild(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("rebuilt although no file it reads changed")

    monkeypatch.setattr(CMUBuilder, "_generate_examples", fail)


@pytest.fixture
def pickle_folder(tmp_path):
    root = tmp_path / "mosi"
    root.mkdir()
    parts = {split: mmsa_split([f"{split}{k}$_${k}" for k in range(3)], aligned=True, seed=s, dims=(4, 3, 2)) for s, split in enumerate(("train", "valid", "test"))}
    write_pickle(root / "aligned_50.pkl", parts)
    (root / "notes.txt").write_text("not read by the build\n")
    return root


def test_a_build_keeps_its_fingerprint_when_an_unread_file_changes_or_the_folder_is_copied(pickle_folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = msa_bench.load_dataset("mosi", data_dir=pickle_folder, cache_dir=cache)
    (pickle_folder / "notes.txt").write_text("edited, and touched\n")
    copy = copied_with_new_times(pickle_folder, tmp_path / "elsewhere")
    no_rebuild(monkeypatch)
    for folder in (pickle_folder, copy):
        assert fingerprints(msa_bench.load_dataset("mosi", data_dir=folder, cache_dir=cache)) == fingerprints(first)


def test_a_build_changes_its_fingerprint_when_a_file_it_reads_changes(pickle_folder, tmp_path):
    before = get_builder("mosi", data_dir=pickle_folder, cache_dir=tmp_path / "cache").hash
    content = bytearray((pickle_folder / "aligned_50.pkl").read_bytes())
    content[-20] ^= 1  # one bit of the last split's arrays
    (pickle_folder / "aligned_50.pkl").write_bytes(bytes(content))
    assert get_builder("mosi", data_dir=pickle_folder, cache_dir=tmp_path / "cache").hash != before


def test_sdk_builds_read_only_the_feature_sets_chosen(tmp_path):
    root = tmp_path / "mosi"
    root.mkdir()
    videos = [standard_folds("mosi")[split][0] for split in ("train", "validation", "test")]
    write_csd(root / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", {v: (np.array([[1.5]]), [[0.0, 1.0]]) for v in videos})
    write_csd(root / "CMU_MOSI_COVAREP.csd", "COVAREP", {v: frame_sequence(100, 5, 0.01, seed=k) for k, v in enumerate(videos)})
    (root / "CMU_MOSI_Visual_Facet_42.csd").write_bytes(b"a feature set not asked for")
    before = get_builder("mosi", data_dir=root, cache_dir=tmp_path / "cache", vision_features=None).hash
    (root / "CMU_MOSI_Visual_Facet_42.csd").write_bytes(b"changed, and still not asked for")
    assert get_builder("mosi", data_dir=root, cache_dir=tmp_path / "cache", vision_features=None).hash == before
    assert get_builder("mosi", data_dir=root, cache_dir=tmp_path / "cache").hash != before  # auto reads Facet 42


@pytest.fixture
def clip_folder(tmp_path):
    root = tmp_path / "clips"
    (root / "Raw" / "v").mkdir(parents=True)
    for k in range(2):
        t = np.arange(8000) / 16000
        soundfile.write(root / "Raw" / "v" / f"{k}.wav", (0.3 * np.sin(2 * np.pi * (220 + 110 * k) * t)).astype(np.float32), 16000)
    (root / "label.csv").write_text(MMSA_HEADER + "v,0,a good film,1.0,1,1,1,Positive,train\nv,1,a dull one,-1.0,-1,-1,-1,Negative,train\n")
    return root


def test_a_text_only_extraction_keeps_its_fingerprint_when_the_clips_change_or_move(clip_folder, tiny_bert, tmp_path):
    first = extract("mosi", clip_folder, tmp_path / "out", text=tiny_bert, workers=0, progress=False)
    for clip in (clip_folder / "Raw" / "v").iterdir():
        clip.write_bytes(clip.read_bytes()[::-1])  # media a text extractor never reads
    copy = copied_with_new_times(clip_folder, tmp_path / "elsewhere")
    again = extract("mosi", copy, tmp_path / "again", text=tiny_bert, workers=0, progress=False)
    assert fingerprints(load_extracted(tmp_path / "again")) == fingerprints(load_extracted(tmp_path / "out"))
    assert again.dataset["train"]["text_features"] == first.dataset["train"]["text_features"]


def test_an_audio_extraction_changes_its_fingerprint_when_a_clip_changes(clip_folder, tmp_path):
    extract("mosi", clip_folder, tmp_path / "out", audio="egemaps-lld", workers=0, progress=False)
    copy = copied_with_new_times(clip_folder, tmp_path / "elsewhere")
    extract("mosi", copy, tmp_path / "copy", audio="egemaps-lld", workers=0, progress=False)
    assert fingerprints(load_extracted(tmp_path / "copy")) == fingerprints(load_extracted(tmp_path / "out"))
    samples, rate = soundfile.read(copy / "Raw" / "v" / "0.wav", dtype="float32")
    soundfile.write(copy / "Raw" / "v" / "0.wav", samples[::-1], rate)
    extract("mosi", copy, tmp_path / "changed", audio="egemaps-lld", workers=0, progress=False)
    assert fingerprints(load_extracted(tmp_path / "changed"))["train"] != fingerprints(load_extracted(tmp_path / "out"))["train"]


def test_on_the_fly_extraction_is_served_from_its_cache_when_unread_media_are_touched(clip_folder, tiny_bert, tmp_path, monkeypatch):
    from msa_bench.features import pipeline

    cache = tmp_path / "cache"
    first = msa_bench.load_dataset("mosi", data_dir=clip_folder, cache_dir=cache, text=tiny_bert)
    for clip in (clip_folder / "Raw" / "v").iterdir():
        os.utime(clip, ns=(1, 1))

    def fail(*args, **kwargs):
        raise AssertionError("extracted again although no file it reads changed")

    monkeypatch.setattr(pipeline, "extract", fail)
    again = msa_bench.load_dataset("mosi", data_dir=clip_folder, cache_dir=cache, text=tiny_bert)
    assert fingerprints(again) == fingerprints(first)
