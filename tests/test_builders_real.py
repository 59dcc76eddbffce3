"""MOSI / MOSEI / RAVDESS builders, end to end from files written in the real layouts."""

import hashlib
import json
import math

import numpy as np
import pytest
from real_format_files import frame_sequence, mmsa_split, word_sequence, write_csd, write_pickle, write_ravdess_audio, write_zip

import msa_bench
from msa_bench.data.schema import EKMAN_EMOTIONS, EMOTION_CLASSES, POLARITY_CLASSES
from msa_bench.sources.cmu import standard_folds
from msa_bench.sources.common import DataNotFoundError, SourceFileError

MOSI_FOLDS = standard_folds("mosi")
MOSI_VIDEOS = {split: MOSI_FOLDS[split][0] for split in ("train", "validation", "test")}
MOSEI_FOLDS = standard_folds("mosei")


def _report(ds):
    return msa_bench.msa_metadata(ds).report


def _nulls(split, column):
    """Null (absent-modality) count of a column, read from Arrow (python formats show null as NaN)."""
    return split.data.column(column).null_count


def _row(ds, split, row_id):
    (row,) = ds[split].filter(lambda r: r["id"] == row_id)
    return row


@pytest.fixture
def mosi_sdk(tmp_path):
    """MOSI SDK files: labels, words, GloVe (word level), COVAREP (10 ms frames, one NaN), FACET."""
    root = tmp_path / "mosi"
    root.mkdir()
    train, valid, test = MOSI_VIDEOS.values()
    labels = {v: (np.array([[2.4], [-0.6]]), [[0.0, 1.0], [1.0, 2.0]]) for v in (train, valid, test)}
    write_csd(root / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", labels)
    words = ["sp", "it", "was", "good", "sp", "but", "long", "sp"]
    write_csd(root / "CMU_MOSI_TimestampedWords.csd", "words", {v: word_sequence(words, 0.25) for v in labels})
    glove = {v: (np.arange(8 * 3, dtype=np.float32).reshape(8, 3) + k, word_sequence(words, 0.25)[1]) for k, v in enumerate(labels)}
    write_csd(root / "CMU_MOSI_TimestampedWordVectors.csd", "glove_vectors", glove)
    covarep = {v: frame_sequence(200, 4, 0.01, seed=k) for k, v in enumerate(labels)}
    covarep[train][0][5, 2] = np.nan
    covarep["notLabelled"] = frame_sequence(3, 4, 0.01, seed=9)
    write_csd(root / "CMU_MOSI_COVAREP.csd", "COVAREP", covarep)
    facet = {v: frame_sequence(60, 2, 1 / 30, seed=10 + k) for k, v in enumerate(labels) if v != test}
    write_csd(root / "CMU_MOSI_Visual_Facet_42.csd", "FACET 4.2", facet)
    return root, {"glove": glove, "covarep": covarep, "facet": facet}


def test_mosi_from_sdk_unaligned(mosi_sdk, tmp_path):
    root, arrays = mosi_sdk
    ds = msa_bench.load_dataset("mosi", data_dir=root, cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 2, "validation": 2, "test": 2}
    train = MOSI_VIDEOS["train"]
    row = _row(ds.with_format("numpy"), "train", f"{train}_1")
    assert row["text"] == "it was good" and row["sentiment"] == pytest.approx(2.4)
    assert row["polarity"] == POLARITY_CLASSES.index("positive") and row["emotions"] is None
    expected_audio = arrays["covarep"][train][0][:100].copy()
    expected_audio[5, 2] = 0.0
    np.testing.assert_array_equal(row["audio_features"], expected_audio)
    np.testing.assert_array_equal(row["text_features"], arrays["glove"][train][0][:4])
    second = _row(ds.with_format("numpy"), "train", f"{train}_2")
    assert second["text"] == "but long" and second["polarity"] == POLARITY_CLASSES.index("negative")
    assert _nulls(ds["test"], "vision_features") == 2 and _nulls(ds["train"], "vision_features") == 0
    metadata = msa_bench.msa_metadata(ds)
    assert (metadata.text, metadata.audio, metadata.vision) == ("glove", "covarep", "facet42")
    assert (metadata.text_dim, metadata.audio_dim, metadata.vision_dim) == (3, 4, 2)
    report = metadata.report
    assert report["source"] == "csd" and report["folds"] == "standard"
    assert report["non_finite_features_replaced_by_0"] == {"audio": 1}
    assert report["audio_videos_without_labels"] == {"count": 1, "examples": ["notLabelled"]}
    test = MOSI_VIDEOS["test"]
    assert report["segments_without_vision"] == {"count": 2, "examples": [f"{test}_1", f"{test}_2"]}


def test_mosi_from_sdk_word_aligned(mosi_sdk, tmp_path):
    root, arrays = mosi_sdk
    ds = msa_bench.load_dataset("mosi", data_dir=root, cache_dir=tmp_path / "cache", aligned=True).with_format("numpy")
    train = MOSI_VIDEOS["train"]
    row = _row(ds, "train", f"{train}_1")
    assert [len(row[f"{m}_features"]) for m in ("text", "audio", "vision")] == [3, 3, 3]
    frames = arrays["covarep"][train][0]
    np.testing.assert_allclose(row["audio_features"][2], frames[75:100].mean(axis=0), rtol=1e-5)  # "good": 0.75-1.00 s
    np.testing.assert_array_equal(row["text_features"], arrays["glove"][train][0][1:4])
    assert _report(ds)["aligned"] is True


def test_sdk_download_path_uses_the_official_urls(mosi_sdk, tmp_path, monkeypatch):
    root, _ = mosi_sdk
    requested = {}

    def fake_download(self, urls):
        requested.update(urls)
        return {name: str(root / url.rsplit("/", 1)[1]) for name, url in urls.items()}

    monkeypatch.setattr("datasets.DownloadManager.download", fake_download)
    ds = msa_bench.load_dataset("mosi", cache_dir=tmp_path / "cache")
    assert len(ds["train"]) == 2
    assert requested["labels"] == "http://immortal.multicomp.cs.cmu.edu/CMU-MOSI/labels/CMU_MOSI_Opinion_Labels.csd"
    assert requested["covarep"] == "http://immortal.multicomp.cs.cmu.edu/CMU-MOSI/acoustic/CMU_MOSI_COVAREP.csd"
    recorded = _report(ds)["downloads"][requested["labels"]]
    assert recorded["sha256"] == hashlib.sha256((root / "CMU_MOSI_Opinion_Labels.csd").read_bytes()).hexdigest()


def test_offline_without_data_dir_says_what_to_do(tmp_path):
    with pytest.raises(DataNotFoundError) as caught:
        msa_bench.load_dataset("mosi", cache_dir=tmp_path / "cache")
    message = str(caught.value)
    assert message.startswith("mosi: could not download the SDK files")
    assert "CMU_MOSI_Opinion_Labels.csd  <- http://immortal.multicomp.cs.cmu.edu/CMU-MOSI/labels/" in message
    assert 'msa_bench.load_dataset("mosi", data_dir="/path/to/folder")' in message
    assert "msa-bench info mosi --data-dir" in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(DataNotFoundError, match=r"(?s)ravdess: could not download Audio_Speech_Actors_01-24.zip.*zenodo.org/records/1188976"):
        msa_bench.load_dataset("ravdess", cache_dir=tmp_path / "cache")


def test_cli_reports_missing_files_without_a_traceback(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from msa_bench.cli import app

    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))
    result = CliRunner().invoke(app, ["info", "ravdess", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "error: ravdess: no RAVDESS recordings" in result.output and "Traceback" not in result.output


def test_empty_data_dir_lists_needed_files(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"(?s)no CMU-MOSEI files found in .*CMU_MOSEI_Labels.csd"):
        msa_bench.load_dataset("mosei", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_truncated_feature_file_is_named(mosi_sdk, tmp_path):
    root, _ = mosi_sdk
    covarep = root / "CMU_MOSI_COVAREP.csd"
    covarep.write_bytes(covarep.read_bytes()[:2048])
    with pytest.raises(SourceFileError, match="CMU_MOSI_COVAREP.csd: not a readable HDF5 file"):
        msa_bench.load_dataset("mosi", data_dir=root, cache_dir=tmp_path / "cache")


def test_mosei_from_sdk_labels_with_emotions_flags_and_exclusions(tmp_path):
    root = tmp_path / "mosei"
    root.mkdir()
    videos = [MOSEI_FOLDS["train"][0], MOSEI_FOLDS["validation"][0], MOSEI_FOLDS["test"][0], "notInAnyFold"]
    # sentiment, happy, sad, anger, surprise, disgust, fear
    values = np.array([[1.0, 2.0, 0.0, 0.3333, 0.0, 0.0, 0.6667], [3.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]])
    write_csd(root / "CMU_MOSEI_Labels.csd", "All Labels", {v: (values, [[0.0, 1.0], [1.0, 2.0]]) for v in videos})
    ds = msa_bench.load_dataset("mosei", data_dir=root, cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 2, "validation": 2, "test": 2}
    row = _row(ds, "train", f"{videos[0]}_0")
    expected = {"anger": 0.3333, "disgust": 0.0, "fear": 0.6667, "happiness": 2.0, "sadness": 0.0, "surprise": 0.0}
    assert row["emotions"] == pytest.approx([expected[name] for name in EKMAN_EMOTIONS])
    assert row["emotion"] == EMOTION_CLASSES.index("happiness")
    assert json.loads(row["source_labels"])["happy"] == 2.0
    assert _nulls(ds["train"], "audio_features") == 2 and row["text"] == ""
    report = _report(ds)
    assert report["excluded_in_no_split"] == {"count": 2, "examples": ["notInAnyFold_0", "notInAnyFold_1"]}
    assert report["labels_out_of_range"]["count"] == 4  # the 3.5 segment of each of the four videos
    assert _row(ds, "test", f"{videos[2]}_1")["sentiment"] == pytest.approx(3.5)  # kept


@pytest.mark.parametrize("name", ["mosi", "mosei"])
def test_mmsa_pickle_keeps_its_splits_and_replaces_inf(name, tmp_path):
    root = tmp_path / "mmsa"
    root.mkdir()
    parts = {k: mmsa_split([f"{k}Video$_${c}" for c in range(3)], aligned=False, seed=s, dims=(8, 5, 6)) for s, k in enumerate(("train", "valid", "test"))}
    parts["train"]["audio"][1, 0, :] = -np.inf
    write_pickle(root / "unaligned_50.pkl", parts)
    ds = msa_bench.load_dataset(name, data_dir=root, cache_dir=tmp_path / "cache").with_format("numpy")
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 3, "validation": 3, "test": 3}
    row = _row(ds, "train", "trainVideo_1")
    part = parts["train"]
    assert row["text"] == "utterance 1" and row["sentiment"] == pytest.approx(float(part["regression_labels"][1]))
    audio = part["audio"][1][: part["audio_lengths"][1]].copy()
    audio[0, :] = 0.0
    np.testing.assert_array_equal(row["audio_features"], audio)
    assert json.loads(row["source_labels"])["regression_labels_A"] == pytest.approx(float(part["regression_labels_A"][1]))
    report = _report(ds)
    assert report["source"] == "mmsa_pickle" and report["folds"] == "source"
    assert report["non_finite_features_replaced_by_0"] == {"audio": 5}
    assert msa_bench.msa_metadata(ds).audio == "mmsa-unaligned-audio"


def test_mmsa_processed_folder_and_explicit_label_file(tmp_path):
    """MMSA's own layout (``label.csv`` beside ``Processed/aligned_50.pkl``): the pickle is found;
    naming ``label_file`` picks the table instead."""
    part = mmsa_split([f"{MOSI_VIDEOS['train']}$_$1"], aligned=True, seed=0, dims=(4, 3, 2))
    (tmp_path / "Processed").mkdir()
    write_pickle(tmp_path / "Processed" / "aligned_50.pkl", {"train": part, "valid": part, "test": part})
    (tmp_path / "label.csv").write_text(
        "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"
        f"{MOSI_VIDEOS['test']},1,fine,0.5,0.5,0.5,0.5,Positive,test\n"
    )
    from_pickle = msa_bench.load_dataset("mosi", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert _report(from_pickle)["source"] == "mmsa_pickle" and _report(from_pickle)["aligned"] is True
    from_table = msa_bench.load_dataset("mosi", data_dir=tmp_path, cache_dir=tmp_path / "cache", label_file="label.csv")
    assert {split: len(rows) for split, rows in from_table.items()} == {"train": 0, "validation": 0, "test": 1}


def test_pickle_missing_a_split_fails_cleanly(tmp_path):
    part = mmsa_split(["v$_$1"], aligned=True, seed=0, dims=(4, 3, 2))
    write_pickle(tmp_path / "aligned_50.pkl", {"train": part, "valid": part})
    with pytest.raises(SourceFileError, match=r"aligned_50.pkl: missing split\(s\) \['test'\]"):
        msa_bench.load_dataset("mosei", data_dir=tmp_path, cache_dir=tmp_path / "cache")


def test_mosei_label_table_fixture(tmp_path):
    train, valid, test = (MOSEI_FOLDS[split][0] for split in ("train", "validation", "test"))
    (tmp_path / "labels.csv").write_text(
        "id,link,segment_id,start,end,sentiment,happy,sad,anger,surprise,disgust,fear\n"
        f"{train},x,0,1.0,2.0,-1.0,0.0,1.0,1.0,0.0,0.0,0.0\n"
        f"{valid},x,3,1.0,2.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0\n"
        f"{test},x,1,1.0,2.0,2.0,3.3333,0.0,0.0,0.0,0.0,0.0\n"
    )
    ds = msa_bench.load_dataset("mosei", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 1, "validation": 1, "test": 1}
    assert ds["train"][0]["emotion"] is None  # sadness and anger tie
    assert EMOTION_CLASSES[ds["validation"][0]["emotion"]] == "neutral"
    assert ds["test"][0]["emotions"][EKMAN_EMOTIONS.index("happiness")] == pytest.approx(3.3333)  # kept
    assert _report(ds)["labels_out_of_range"] == {"count": 1, "examples": [f"{test}_1"]}


def test_mosi_label_tables_take_text_from_the_second_table(tmp_path):
    train, valid, test = MOSI_VIDEOS.values()
    (tmp_path / "OpinionLevelSentiment.csv").write_text(
        f"1.0,2.0,{train},1,1.5\n2.0,3.0,{train},2,-2\n1.0,2.0,{valid},1,0\n1.0,2.0,{test},1,0.2\n1.0,2.0,unknownVideo,1,1\n"
    )
    (tmp_path / "label.csv").write_text(f"id,text,label,mode\n{train}_1,great film,1.5,train\n{valid}_1,so so,0.4,dev\nextra_3,hi,1,test\n")
    ds = msa_bench.load_dataset("mosi", data_dir=tmp_path, cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 2, "validation": 1, "test": 1}
    assert _row(ds, "train", f"{train}_1")["text"] == "great film"
    assert _row(ds, "validation", f"{valid}_1")["polarity"] == POLARITY_CLASSES.index("neutral")
    report = _report(ds)
    assert report["source"] == "label_table" and report["text_source"] == "label.csv"
    assert report["segments_without_text"]["count"] == 3
    assert report["text_ids_without_labels"] == {"count": 1, "examples": ["extra_3"]}
    assert report["sentiment_disagreements_with_text_table"] == {"count": 1, "examples": [f"{valid}_1"]}
    assert report["excluded_in_no_split"] == {"count": 1, "examples": ["unknownVideo_1"]}


def test_config_checks(tmp_path):
    with pytest.raises(ValueError, match="source must be one of"):
        msa_bench.load_dataset("mosi", data_dir=tmp_path, source="hdf5")
    with pytest.raises(ValueError, match="MMSA pickles keep their own splits"):
        msa_bench.load_dataset("mosi", data_dir=tmp_path, source="mmsa", folds="standard")
    with pytest.raises(ValueError, match="fold must be in"):
        msa_bench.load_dataset("ravdess", data_dir=tmp_path, split_scheme="kfold", n_folds=4, fold=4)


@pytest.fixture
def ravdess_dir(tmp_path):
    """Actors 01, 02 (FLAC/WAV folders), 17, 18 and 21-24 (in a zip), plus one malformed name."""
    root = tmp_path / "ravdess"
    for actor in (1, 2, 17, 18):
        for emotion in (1, 5):
            write_ravdess_audio(root / f"Actor_{actor:02d}" / f"03-01-{emotion:02d}-01-01-01-{actor:02d}.flac")
    write_ravdess_audio(root / "Actor_02" / "03-01-05-02-02-02-02.wav")
    write_ravdess_audio(root / "Actor_02" / "03-01-05-02-02-02.wav")
    members = {
        f"Actor_{a:02d}/03-02-08-02-01-02-{a:02d}.wav": write_ravdess_audio(tmp_path / "z" / f"03-02-08-02-01-02-{a:02d}.wav")
        for a in range(21, 25)
    }
    write_zip(root / "Audio_Song_Actors_01-24.zip", members)
    video = tmp_path / "z" / "01-01-03-02-01-01-18.mp4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42")  # the builder reads names only, never the media
    write_zip(root / "Video_Speech_Actor_18.zip", {"Actor_18/01-01-03-02-01-01-18.mp4": video})
    return root


def test_ravdess_from_folders_and_zip(ravdess_dir, tmp_path):
    ds = msa_bench.load_dataset("ravdess", data_dir=ravdess_dir, cache_dir=tmp_path / "cache")
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 5, "validation": 5, "test": 4}
    video = _row(ds, "validation", "Actor_18_01-01-03-02-01-01-18")
    assert EMOTION_CLASSES[video["emotion"]] == "happiness" and json.loads(video["source_labels"])["modality"] == "audio-visual"
    row = _row(ds, "train", "Actor_02_03-01-05-02-02-02-02")
    assert row["text"] == "Dogs are sitting by the door" and row["sentiment"] is None
    assert EMOTION_CLASSES[row["emotion"]] == "anger" and POLARITY_CLASSES[row["polarity"]] == "negative"
    assert row["intensity"] == 3.0 and row["emotions"][EKMAN_EMOTIONS.index("anger")] == 3.0
    song = _row(ds, "test", "Actor_21_03-02-08-02-01-02-21")
    assert EMOTION_CLASSES[song["emotion"]] == "surprise" and json.loads(song["source_labels"])["file"] == (
        "Audio_Song_Actors_01-24.zip::Actor_21/03-02-08-02-01-02-21.wav"
    )
    neutral = _row(ds, "validation", "Actor_17_03-01-01-01-01-01-17")
    assert EMOTION_CLASSES[neutral["emotion"]] == "neutral" and neutral["intensity"] == 0.0
    report = _report(ds)
    assert report["malformed_names"]["count"] == 1 and report["by_vocal_channel"] == {"speech": 10, "song": 4}
    assert report["by_format"] == {"flac": 8, "wav": 5, "mp4": 1}
    assert report["empty_splits"] == []


def test_changed_source_files_rebuild_instead_of_serving_the_old_cache(ravdess_dir, tmp_path, monkeypatch):
    from msa_bench.builders.ravdess import RAVDESS

    cache = tmp_path / "cache"
    before = msa_bench.load_dataset("ravdess", data_dir=ravdess_dir, cache_dir=cache)
    write_ravdess_audio(ravdess_dir / "Actor_03" / "03-01-04-01-01-01-03.flac")
    after = msa_bench.load_dataset("ravdess", data_dir=ravdess_dir, cache_dir=cache)
    assert len(after["train"]) == len(before["train"]) + 1
    assert "Actor_03_03-01-04-01-01-01-03" in after["train"]["id"]

    def fail(*args, **kwargs):
        raise AssertionError("rebuilt although no source file changed")

    monkeypatch.setattr(RAVDESS, "_generate_examples", fail)
    again = msa_bench.load_dataset("ravdess", data_dir=ravdess_dir, cache_dir=cache)
    assert again["train"]["id"] == after["train"]["id"]


def test_ravdess_kfold_and_filters(ravdess_dir, tmp_path):
    ds = msa_bench.load_dataset("ravdess", data_dir=ravdess_dir, cache_dir=tmp_path / "cache", split_scheme="kfold", n_folds=6, fold=5, vocal_channel="speech")
    # six groups of four actors: fold 5 tests actors 21-24 (all song, filtered out), validates on 01-04
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 5, "validation": 5, "test": 0}
    report = _report(ds)
    assert report["empty_splits"] == ["test"] and report["filtered_out"] == 4
    assert report["actors"]["validation"] == [1, 2]


# ---- the real files in ../shared/data ------------------------------------------------------


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("real-cache")


def test_real_mosi_opinion_level_sentiment_standard_folds(shared_data, real_cache):
    ds = msa_bench.load_dataset(
        "mosi", data_dir=shared_data / "mosi", cache_dir=real_cache, label_file="OpinionLevelSentiment.csv", text_file=None
    )
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 1284, "validation": 229, "test": 686}
    assert _report(ds)["excluded_in_no_split"]["count"] == 0


def test_real_mosi_label_csv_has_text_for_every_clip(shared_data, real_cache):
    ds = msa_bench.load_dataset("mosi", data_dir=shared_data / "mosi", cache_dir=real_cache, label_file="label.csv")
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 1281, "validation": 229, "test": 685}
    for split in ds.values():
        assert all(text.strip() for text in split["text"])
    assert _report(ds)["source_split_disagreements"]["count"] == 0  # its mode column matches the SDK folds


def test_real_mosei_labels_with_emotions(shared_data, real_cache):
    ds = msa_bench.load_dataset("mosei", data_dir=shared_data / "mosei", cache_dir=real_cache)
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 16327, "validation": 1871, "test": 4662}
    emotions = ds["train"]["emotions"]
    assert all(e is not None and len(e) == 6 for e in emotions)
    assert sum(1 for e in emotions if max(e) > 0) > len(emotions) // 2
    assert _report(ds)["excluded_in_no_split"]["count"] == 399


RAVDESS_CODE_TO_CLASS = {1: "neutral", 2: "calm", 3: "happiness", 4: "sadness", 5: "anger", 6: "fear", 7: "disgust", 8: "surprise"}


def test_real_ravdess_actors_01_to_20(shared_data, real_cache):
    ds = msa_bench.load_dataset("ravdess", data_dir=shared_data / "ravdess", cache_dir=real_cache)
    assert {split: len(rows) for split, rows in ds.items()} == {"train": 960, "validation": 240, "test": 0}
    assert _report(ds)["empty_splits"] == ["test"] and _report(ds)["actors_absent"] == [21, 22, 23, 24]
    files = {p.stem: p for p in (shared_data / "ravdess").glob("Actor_*/*.flac")}
    seen = set()
    for split, actors in (("train", range(1, 17)), ("validation", range(17, 21))):
        for row in ds[split]:
            source = json.loads(row["source_labels"])
            stem = source["file"].split("/")[-1].removesuffix(".flac")
            codes = [int(c) for c in stem.split("-")]
            assert codes[6] in actors and row["video_id"] == f"Actor_{codes[6]:02d}"
            assert EMOTION_CLASSES[row["emotion"]] == RAVDESS_CODE_TO_CLASS[codes[2]]
            strong = codes[3] == 2
            assert row["intensity"] == (0.0 if codes[2] in (1, 2) else 3.0 if strong else 1.5)
            assert row["text"] == ("Kids are talking by the door" if codes[4] == 1 else "Dogs are sitting by the door")
            seen.add(stem)
    assert seen == set(files)


def test_info_cli_on_the_real_mosi_folder(shared_data, real_cache, monkeypatch):
    from typer.testing import CliRunner

    from msa_bench.cli import app

    monkeypatch.setenv("MSA_BENCH_CACHE", str(real_cache))
    result = CliRunner().invoke(app, ["info", "mosi", "--data-dir", str(shared_data / "mosi"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{") :])
    assert summary["splits"] == {"train": 1284, "validation": 229, "test": 686}
    assert summary["report"]["segments_without_text"]["count"] == 4
    assert math.isclose(summary["labels"]["train"]["sentiment"]["min"], -3.0)
