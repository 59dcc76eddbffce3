"""Every extractor on generated media (espeak-ng speech, PyAV video of a real face) and real files."""

from __future__ import annotations

import numpy as np
import pytest
from feature_media import TinyModels, face_image, face_video, minilm_path, speak

from msa_bench.features import EXTRACTORS, CheckpointError, Failure, build_extractor
from msa_bench.features.faces import HaarFaceDetector
from msa_bench.features.opensmile import PRESETS
from msa_bench.data.media import SAMPLE_RATE, read_audio, read_frames

SPEECH_TYPES = ("wav2vec2", "hubert", "wavlm", "data2vec-audio")


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    folder = tmp_path_factory.mktemp("speech")
    return read_audio(speak(folder / "s.wav", "I really enjoyed this movie, the actors were great"))


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return TinyModels(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def minilm():
    return build_extractor("text", str(minilm_path()))


# -- openSMILE ---------------------------------------------------------------------------------
@pytest.mark.parametrize("family", sorted(PRESETS))
def test_opensmile_presets_on_speech(family, speech):
    extractor = build_extractor("audio", family)
    [features, too_short] = extractor.extract([speech, speech[:100]])
    assert features.dtype == np.float32 and features.shape[1] == extractor.dim
    assert np.isfinite(features).all()
    if family.endswith("lld"):
        assert extractor.frame_hop_s == 0.01
        assert abs(len(features) - len(speech) / SAMPLE_RATE / 0.01) < 10  # one frame per 10 ms
        assert features.std(axis=0).max() > 0  # frames differ over the utterance
    else:
        assert features.shape[0] == 1 and extractor.frame_hop_s is None
    assert isinstance(too_short, Failure) and "too short" in too_short.reason


def test_opensmile_rejects_a_checkpoint():
    with pytest.raises(ValueError, match="takes no checkpoint"):
        build_extractor("audio", "egemaps-lld:foo")


# -- transformers speech encoders --------------------------------------------------------------
@pytest.mark.parametrize(
    "model_type",
    # HuBERT and WavLM take the same AutoModel path as wav2vec2: kept out of the quick run.
    [pytest.param(t, marks=pytest.mark.slow) if t in ("hubert", "wavlm") else t for t in SPEECH_TYPES],
)
def test_speech_encoder_frames_layers_and_padding(model_type, models, speech):
    extractor = build_extractor("audio", f"{model_type}:{models[model_type]}")
    short = speech[: SAMPLE_RATE // 2]
    [long_out, short_out, tiny] = extractor.extract([speech, short, speech[:40]])
    assert extractor.receptive_field == 60 and extractor.frame_hop_s == 80 / SAMPLE_RATE  # kernels 10,3,3; strides 5,4,4
    assert long_out.shape == ((len(speech) - 60) // 80 + 1, 32)
    assert isinstance(tiny, Failure)
    [alone] = extractor.extract([short])
    np.testing.assert_allclose(short_out, alone, atol=1e-4)  # the rest of the batch changes nothing
    assert extractor.padding_safe == (model_type != "data2vec-audio")
    first = build_extractor("audio", str(models[model_type]), layer=1).extract([short])[0]
    assert not np.allclose(first, alone)
    with pytest.raises(ValueError, match="out of range"):
        build_extractor("audio", str(models[model_type]), layer=7)


# -- text encoders -----------------------------------------------------------------------------
def test_minilm_token_features_and_mmsa_token_ids(minilm):
    texts = ["the movie was great", "i hated every minute of it", ""]
    features = minilm.extract(texts)
    ids = minilm.token_ids(texts[:2])
    for out, tokens in zip(features[:2], ids):
        assert out.shape == (len(tokens["input_ids"]), 384)
        assert tokens["input_ids"][0] == minilm.tokenizer.cls_token_id and tokens["input_ids"][-1] == minilm.tokenizer.sep_token_id
        assert set(tokens["segment_ids"]) == {0} and set(tokens["attention_mask"]) == {1}
    assert isinstance(features[2], Failure) and features[2].reason == "empty transcript"


def test_minilm_is_a_real_pretrained_encoder(minilm):
    """Mean-pooled MiniLM puts paraphrases closer than unrelated sentences (random weights would not)."""
    a, b, c = (f.mean(axis=0) for f in minilm.extract(["the film was wonderful", "what a great movie", "stock prices fell sharply today"]))
    cosine = lambda x, y: float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))  # noqa: E731
    assert cosine(a, b) > cosine(a, c) + 0.2


def test_text_word_pooling_one_row_per_word(models):
    extractor = build_extractor("text", str(models["bert"]))
    [pooled] = extractor.extract_words([["unbelievably", "good", "film"]])
    [tokens] = extractor.extract(["unbelievably good film"])
    assert pooled.shape == (3, 32)
    n_pieces = len(extractor.tokenizer.tokenize("unbelievably"))
    np.testing.assert_allclose(pooled[0], tokens[1 : 1 + n_pieces].mean(axis=0), atol=1e-5)


def test_missing_checkpoint_says_which_and_how(tmp_path):
    with pytest.raises(CheckpointError, match="bert-base-uncased.*huggingface-cli download"):
        build_extractor("text", "bert-base-uncased")
    with pytest.raises(CheckpointError, match=str(tmp_path / "nope")):
        build_extractor("audio", f"wav2vec2:{tmp_path / 'nope'}")
    with pytest.raises(CheckpointError, match="did you mean the extractor 'egemaps-lld'"):
        build_extractor("audio", "egemaps-ld")  # a typo is tried as a checkpoint, then pointed at the extractor


# -- faces -------------------------------------------------------------------------------------
def test_haar_finds_the_face_and_not_a_blank_frame():
    detector = HaarFaceDetector()
    image = face_image()
    x, y, w, h = detector.box(image)
    assert w > 40 and h > 40 and 0 <= x < image.shape[1] and 0 <= y < image.shape[0]
    assert detector.box(np.full_like(image, 128)) is None


@pytest.mark.parametrize("family", ["vit", "clip"])
def test_face_encoder_on_generated_video(family, models, tmp_path):
    video = face_video(tmp_path / "face.mp4", seconds=2.0, fps=10, blank_from=1.0)
    frames, _ = read_frames(video, fps=5)
    extractor = build_extractor("vision", f"{family}:{models[family]}")
    [features] = extractor.extract([frames])
    has_face = ~np.isnan(features).any(axis=1)
    assert features.shape == (10, 32)
    assert has_face[:4].all() and not has_face[6:].any()


def test_face_encoder_on_real_mosi_clip(models, shared_data):
    frames, _ = read_frames(shared_data / "mosi" / "clips" / "Oz06ZWiO20M_6.mp4", fps=1)
    [features] = build_extractor("vision", str(models["vit"])).extract([frames])
    assert (~np.isnan(features).any(axis=1)).sum() >= len(frames) // 2  # the speaker faces the camera


# -- real audio through every audio family ------------------------------------------------------
def test_audio_extractors_on_real_files(models, shared_data):
    ravdess = read_audio(sorted((shared_data / "ravdess" / "Actor_02").glob("*.flac"))[0])
    mosi = read_audio(shared_data / "mosi" / "clips" / "03bSnISJMiM_1.wav")
    for spec in ("egemaps-functionals", "compare-lld", f"wav2vec2:{models['wav2vec2']}"):
        extractor = build_extractor("audio", spec)
        for out in extractor.extract([ravdess, mosi]):
            assert out.shape[1] == extractor.dim and np.isfinite(out).all()


# -- registry and provenance -------------------------------------------------------------------
def test_spec_scheme_and_provenance(models):
    assert {"egemaps-lld", "compare-functionals", "wav2vec2", "bert", "vit", "clip", "pyfeat"} <= set(EXTRACTORS.names())
    extractor = build_extractor("text", str(models["bert"]), layer=1)
    stamp = extractor.provenance()
    assert stamp["library"] == "transformers" and stamp["library_version"]
    assert stamp["config"]["layer"] == 1 and len(stamp["config_hash"]) == 12
    assert stamp["config_hash"] != build_extractor("text", str(models["bert"])).provenance()["config_hash"]
    with pytest.raises(ValueError, match="extracts audio features, not text"):
        build_extractor("text", "egemaps-lld")
    with pytest.raises(TypeError, match="no option"):
        build_extractor("audio", "egemaps-lld", layer=3)


@pytest.mark.gpu
def test_transformer_extractors_move_to_cuda(models, speech):
    import torch

    for modality, spec, batch in (
        ("audio", str(models["wav2vec2"]), [speech]),
        ("text", str(models["bert"]), ["a good film"]),
        ("vision", str(models["vit"]), [np.stack([face_image()] * 2)]),
    ):
        extractor = build_extractor(modality, spec)
        cpu = extractor.extract(batch)[0]
        extractor.to("cuda")
        assert next(extractor.model.parameters()).device.type == "cuda"
        np.testing.assert_allclose(extractor.extract(batch)[0], cpu, atol=1e-3)
    assert torch.cuda.is_available()


def test_a_local_checkpoint_is_named_by_content_not_path(tmp_path):
    """Feature-set names enter every record's config: the same checkpoint in two places is one name."""
    from msa_bench.features.checkpoints import checkpoint_identity

    for place in ("a", "b"):
        (tmp_path / place / "model").mkdir(parents=True)
        (tmp_path / place / "model" / "weights.bin").write_bytes(b"same weights")
    first, second = (checkpoint_identity(str(tmp_path / place / "model")) for place in ("a", "b"))
    assert first == second and str(tmp_path) not in first and first.startswith("model (sha256:")
    (tmp_path / "b" / "model" / "weights.bin").write_bytes(b"other weights")
    checkpoint_identity.cache_clear()
    assert checkpoint_identity(str(tmp_path / "b" / "model")) != first
    assert checkpoint_identity("bert-base-uncased") == "bert-base-uncased"
