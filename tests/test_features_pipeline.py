"""The raw-media pipeline: layouts, the unified dataset it writes, errors table, resume, alignment."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from feature_media import TinyModels, face_video, minilm_path, speak
from typer.testing import CliRunner

from msa_bench.features import Extractor, ExtractorConfig, extract, load_extracted
from msa_bench.features.opensmile import OpenSmileExtractor
from msa_bench.features.pipeline import NothingExtracted
from msa_bench.data.media import read_audio, write_video
from msa_bench.data.schema import msa_metadata

MMSA_HEADER = "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"


def row(split, clip_id: str) -> dict:
    return split[split["id"].index(clip_id)]


def absent(value) -> bool:
    """A null modality."""
    return value is None


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return TinyModels(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def mmsa_dir(tmp_path_factory):
    """MMSA-FET layout: a good clip, a corrupt file, a silent faceless video, an empty transcript."""
    root = tmp_path_factory.mktemp("mmsa")
    speech = speak(root / "speech.wav", "this movie was wonderful, I loved the story")
    for folder in ("vidA", "vidB"):
        (root / "Raw" / folder).mkdir(parents=True)
    face_video(root / "Raw" / "vidA" / "0.mp4", seconds=2.0, fps=10, speech=speech)
    (root / "Raw" / "vidA" / "1.mp4").write_bytes(b"\x00garbage" * 200)
    write_video(root / "Raw" / "vidB" / "0.mp4", np.full((10, 64, 64, 3), 128, np.uint8), fps=5)
    face_video(root / "Raw" / "vidB" / "1.mp4", seconds=1.0, fps=10, speech=speech)
    (root / "label.csv").write_text(
        MMSA_HEADER
        + "vidA,0,this movie was wonderful,2.2,2.0,1.8,2.4,Positive,train\n"
        + "vidA,1,a broken file,-1.0,-1,-1,-1,Negative,train\n"
        + "vidB,0,no sound and no face,0.0,0,0,0,Neutral,valid\n"
        + "vidB,1,,-0.6,0,0,0,Negative,test\n"
    )
    return root


@pytest.fixture(scope="module")
def extracted(mmsa_dir, models, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    result = extract(
        "mosi", mmsa_dir, out, audio="egemaps-lld", text=str(models["bert"]), vision=f"vit:{models['vit']}",
        fps=5, workers=0, progress=False,
    )
    return result


def test_rows_features_and_splits(extracted):
    ds = load_extracted(extracted.out)
    assert {split: len(ds[split]) for split in ds} == {"train": 2, "validation": 1, "test": 1}
    good = row(ds["train"], "vidA_0")
    assert np.asarray(good["audio_features"]).shape[1] == 25 and len(good["audio_features"]) > 150
    assert np.asarray(good["text_features"]).shape == (len(good["text_features"]), 32)
    assert np.asarray(good["vision_features"]).shape == (10, 32)  # 2 s at 5 fps, a face in every frame
    assert good["sentiment"] == pytest.approx(2.2) and json.loads(good["source_labels"])["annotation"] == "Positive"


def test_failures_go_to_the_errors_table_and_the_run_continues(extracted):
    errors = pd.read_csv(extracted.out / "errors.csv")
    reasons = {(row.id, row.modality): row.reason for row in errors.itertuples()}
    assert "cannot open" in reasons[("vidA_1", "audio")] and ("vidA_1", "text") not in reasons
    assert "no audio track" in reasons[("vidB_0", "audio")]
    assert "no face" in reasons[("vidB_0", "vision")]
    assert reasons[("vidB_1", "text")] == "empty transcript"
    assert extracted.summary["audio"] == {"extractor": "egemaps-lld", "succeeded": 2, "failed": 2, "total": 4}
    assert json.loads((extracted.out / "summary.json").read_text()) == {**extracted.summary, "source_checks": extracted.source_checks}
    ds = load_extracted(extracted.out)
    broken = row(ds["train"], "vidA_1")
    assert absent(broken["audio_features"]) and absent(broken["vision_features"]) and not absent(broken["text_features"])


def test_metadata_stamps_every_extractor(extracted):
    metadata = msa_metadata(load_extracted(extracted.out))
    assert (metadata.audio, metadata.audio_dim, metadata.text_dim, metadata.vision_dim) == ("egemaps-lld", 25, 32, 32)
    for modality in ("text", "audio", "vision"):
        stamp = metadata.provenance[modality]
        assert stamp["library_version"] and len(stamp["config_hash"]) == 12
    assert metadata.provenance["decoding"]["vision_fps"] == 5 and metadata.provenance["alignment"] == "unaligned"
    assert metadata.report["extraction"] == extracted.summary


def test_mmsa_token_ids_are_stored_beside_the_dataset(extracted):
    tokens = pd.read_parquet(extracted.out / "token_ids.parquet").set_index("id")
    assert set(tokens.index) == {"vidA_0", "vidA_1", "vidB_0"}  # not the empty transcript
    ds = load_extracted(extracted.out)
    good = row(ds["train"], "vidA_0")
    assert len(tokens.loc["vidA_0", "input_ids"]) == len(good["text_features"])


def test_a_second_run_resumes_from_the_cache(extracted, mmsa_dir, models, monkeypatch):
    calls = []
    original = OpenSmileExtractor.extract
    monkeypatch.setattr(OpenSmileExtractor, "extract", lambda self, batch: calls.append(len(batch)) or original(self, batch))
    again = extract("mosi", mmsa_dir, extracted.out, audio="egemaps-lld", text=str(models["bert"]), workers=0, progress=False)
    assert calls == []  # both successful clips came from the cache; the failures were decoding errors
    first, second = load_extracted(extracted.out), again.dataset
    np.testing.assert_array_equal(first["train"][0]["audio_features"], second["train"][0]["audio_features"])
    cached = sorted((extracted.out / "cache" / "audio").rglob("*.npz"))
    assert len(cached) == 2


def test_worker_processes_give_the_same_features(extracted, mmsa_dir, tmp_path):
    parallel = extract("mosi", mmsa_dir, tmp_path, audio="egemaps-lld", workers=2, progress=False)
    serial = load_extracted(extracted.out)
    for split in ("train", "validation", "test"):
        for index in range(len(serial[split])):
            a, b = parallel.dataset[split][index]["audio_features"], serial[split][index]["audio_features"]
            assert absent(a) == absent(b) and (absent(a) or np.array_equal(a, b))


def test_word_alignment_gives_one_row_per_word(mmsa_dir, models, tmp_path):
    timings = tmp_path / "words.csv"
    timings.write_text("id,word,start,end\nvidA_0,this,0.0,0.3\nvidA_0,movie,0.3,0.7\nvidA_0,was,0.7,0.72\nvidA_0,wonderful,0.72,1.6\n")
    result = extract(
        "mosi", mmsa_dir, tmp_path / "out", audio="egemaps-lld", text=str(models["bert"]), vision=str(models["vit"]),
        word_timings=timings, workers=0, progress=False, limit=1,
    )
    aligned = result.dataset["train"][0]
    for modality in ("text", "audio", "vision"):
        assert np.asarray(aligned[f"{modality}_features"]).shape[0] == 4
    assert msa_metadata(result.dataset).provenance["alignment"].startswith("word-aligned")
    # Same output folder, unaligned: token rows again, not the cached per-word rows.
    unaligned = extract("mosi", mmsa_dir, tmp_path / "out", text=str(models["bert"]), workers=0, progress=False, limit=2)
    assert len(row(unaligned.dataset["train"], "vidA_0")["text_features"]) > 4
    # Clips without timings are reported, not silently left unaligned.
    partial = extract("mosi", mmsa_dir, tmp_path / "out", text=str(models["bert"]), word_timings=timings, workers=0, progress=False, limit=2)
    assert partial.errors.set_index("id").loc["vidA_1", "reason"] == "no word timings for this clip"
    with pytest.raises(NothingExtracted, match="cannot word-align"):  # the one clip fails: no dataset
        extract("mosi", mmsa_dir, tmp_path / "f", audio="egemaps-functionals", word_timings=timings, workers=0, progress=False, limit=1)


def test_cli_extract(mmsa_dir, models, tmp_path):
    from msa_bench.cli import app

    result = CliRunner().invoke(
        app, ["extract", "mosi", "--data-dir", str(mmsa_dir), "--text", str(models["bert"]), "--text-layer", "1", "--out", str(tmp_path), "--workers", "0"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("text: 3/4 clips succeeded (1 failed)") == 1
    assert msa_metadata(load_extracted(tmp_path)).provenance["text"]["config"]["layer"] == 1
    missing = CliRunner().invoke(app, ["extract", "mosi", "--data-dir", str(mmsa_dir), "--text", "bert-base-uncased", "--out", str(tmp_path)])
    assert missing.exit_code == 2 and "cannot load checkpoint 'bert-base-uncased'" in missing.output


def test_ravdess_layout_with_real_flac(shared_data, tmp_path):
    for actor, count in (("Actor_01", 2), ("Actor_17", 1)):
        (tmp_path / "data" / actor).mkdir(parents=True)
        for flac in sorted((shared_data / "ravdess" / actor).glob("*.flac"))[-count:]:
            (tmp_path / "data" / actor / flac.name).symlink_to(flac)
    result = extract("ravdess", tmp_path / "data", tmp_path / "out", audio="egemaps-functionals", workers=0, progress=False)
    assert (len(result.dataset["train"]), len(result.dataset["validation"])) == (2, 1)
    recording = result.dataset["validation"][0]
    assert np.asarray(recording["audio_features"]).shape == (1, 88) and recording["text"] == "Dogs are sitting by the door"
    assert recording["emotion"] is not None and recording["sentiment"] is None


def test_moud_full_video_cut_by_timestamps(shared_data, tmp_path):
    result = extract("moud", shared_data / "moud", tmp_path, audio="egemaps-functionals", workers=0, progress=False)
    train = result.dataset["train"]
    with_video = [row for row in train if row["video_id"] == "101_movies"]
    assert with_video and all(row["audio_features"] is not None for row in with_video)
    per_modality = result.errors[result.errors["modality"] != "source"]
    assert set(per_modality["reason"]) == {"no media file found for this clip"}  # the other four videos
    without_media = result.source_checks["labels_without_media"]
    assert without_media["count"] == len(per_modality) and without_media["count"] > 0


def test_real_mosi_clip_through_the_full_pipeline(shared_data, models, tmp_path):
    """Real result 3: Oz06ZWiO20M_6.mp4 with a given transcript -> one row with all three modalities."""
    transcript = pd.read_csv(shared_data / "mosi" / "label.csv").set_index("id").loc["Oz06ZWiO20M_6"]
    (tmp_path / "Raw" / "Oz06ZWiO20M").mkdir(parents=True)
    (tmp_path / "Raw" / "Oz06ZWiO20M" / "6.mp4").symlink_to(shared_data / "mosi" / "clips" / "Oz06ZWiO20M_6.mp4")
    (tmp_path / "label.csv").write_text(MMSA_HEADER + f"Oz06ZWiO20M,6,{transcript['text']},{transcript['label']},,,,,train\n")
    result = extract(
        "mosi", tmp_path, tmp_path / "out", audio="egemaps-lld", text=str(minilm_path()), vision=str(models["vit"]),
        fps=2, workers=0, progress=False,
    )
    [row] = load_extracted(tmp_path / "out")["train"]
    assert row["id"] == "Oz06ZWiO20M_6" and row["sentiment"] == pytest.approx(-0.8)
    assert np.asarray(row["audio_features"]).shape[1] == 25 and len(row["audio_features"]) > 700  # 7.5 s of 10 ms frames
    assert np.asarray(row["text_features"]).shape[1] == 384
    assert np.asarray(row["vision_features"]).shape[1] == 32 and len(row["vision_features"]) >= 8
    assert result.errors.empty


def test_full_video_cut_by_opinion_segment_times(tmp_path):
    """MOSI's original layout: OpinionLevelSentiment.csv times cut segments out of Raw/<video>.mp4."""
    (tmp_path / "Raw").mkdir()
    speech = speak(tmp_path / "s.wav", "first I thought it was fine. then it got really bad")
    face_video(tmp_path / "Raw" / "_dI--eQ6qVU.mp4", seconds=3.0, fps=10, speech=speech)
    (tmp_path / "OpinionLevelSentiment.csv").write_text("0.2,1.2,_dI--eQ6qVU,1,2.4\n1.5,2.9,_dI--eQ6qVU,2,-1.6\n")
    result = extract("mosi", tmp_path, tmp_path / "out", audio="egemaps-lld", workers=0, progress=False)
    split = next(s for s in ("train", "validation", "test") if len(result.dataset[s]))  # from the SDK standard folds
    first, second = (row(result.dataset[split], f"_dI--eQ6qVU_{n}") for n in (1, 2))
    # eGeMAPS LLD: one frame per 10 ms, less the 4 frames its longest window needs (296 for 3 s).
    assert len(first["audio_features"]) == pytest.approx(96, abs=2) and len(second["audio_features"]) == pytest.approx(136, abs=2)
    assert first["sentiment"] == pytest.approx(2.4) and second["polarity"] == 0


@pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="checks the error without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(models):
    from msa_bench.features import build_extractor

    with pytest.raises(RuntimeError, match="no CUDA device"):
        build_extractor("text", str(models["bert"])).to("cuda")


def test_a_user_extractor_plugs_into_the_pipeline(mmsa_dir, tmp_path):
    @dataclass(frozen=True)
    class EnergyConfig(ExtractorConfig):
        hop: int = 160

    class Energy(Extractor):
        modality, library, frame_hop_s = "audio", "numpy", 0.01
        config = EnergyConfig()
        name, dim = "rms-energy", 1

        @classmethod
        def from_spec(cls, family, checkpoint, **options):
            return cls()

        def extract(self, batch):
            return [np.sqrt((w[: len(w) // 160 * 160].reshape(-1, 160) ** 2).mean(axis=1, keepdims=True)) for w in batch]

    result = extract("mosi", mmsa_dir, tmp_path, audio=Energy(), workers=0, progress=False)
    energy = np.asarray(row(result.dataset["train"], "vidA_0")["audio_features"])
    assert energy.shape == (len(read_audio(mmsa_dir / "Raw" / "vidA" / "0.mp4")) // 160, 1) and energy.max() > 0.01
    assert msa_metadata(result.dataset).provenance["audio"]["extractor"] == "rms-energy"


def test_an_extractor_crash_fails_only_the_clip_that_caused_it():
    from msa_bench.features import Failure
    from msa_bench.features.pipeline import extract_batch

    class Picky(OpenSmileExtractor):
        def extract(self, batch):
            if any(len(w) == 7 for w in batch):
                raise ValueError("seven samples are bad luck")
            return [np.ones((1, self.dim), np.float32) for _ in batch]

    inputs = [np.zeros(100, np.float32), np.zeros(7, np.float32), Failure("no audio track"), np.zeros(50, np.float32)]
    results = extract_batch(Picky(), inputs)
    assert results[1].reason == "egemaps-lld failed: ValueError: seven samples are bad luck"
    assert results[2].reason == "no audio track"
    assert results[0][0].shape == results[3][0].shape == (1, 25)
