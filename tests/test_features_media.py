"""Decoding with PyAV: resampling, windows, frame sampling, and clear errors on bad media."""

from __future__ import annotations

import numpy as np
import pytest
from feature_media import face_video, speak

from msa_bench.data.media import SAMPLE_RATE, MediaError, Window, read_audio, read_frames, write_video


@pytest.fixture(scope="module")
def speech_video(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    return face_video(folder / "talk.mp4", seconds=2.0, fps=10, speech=speak(folder / "s.wav", "hello there, how are you today"))


def test_audio_is_resampled_to_16k_mono_float(tmp_path):
    speech = speak(tmp_path / "s.wav", "one two three four")  # espeak writes 22.05 kHz
    samples = read_audio(speech)
    import soundfile

    original, rate = soundfile.read(speech)
    assert rate != SAMPLE_RATE
    assert samples.dtype == np.float32 and samples.ndim == 1
    assert abs(len(samples) / SAMPLE_RATE - len(original) / rate) < 0.02
    assert np.abs(samples).max() > 0.05


def test_audio_window_cuts_the_requested_span(speech_video):
    full = read_audio(speech_video)
    part = read_audio(speech_video, Window(0.5, 1.25))
    assert len(part) == round(0.75 * SAMPLE_RATE)
    start = round(0.5 * SAMPLE_RATE)
    correlation = np.corrcoef(part[1000:5000], full[start + 1000 : start + 5000])[0, 1]
    assert correlation > 0.99


def test_frames_are_sampled_at_the_requested_rate(speech_video):
    frames, times = read_frames(speech_video, fps=5)
    assert frames.shape[0] == 10 and frames.shape[-1] == 3 and frames.dtype == np.uint8
    np.testing.assert_allclose(times, np.arange(10) / 5, atol=1e-6)
    frames, times = read_frames(speech_video, fps=4, window=Window(0.5, 1.5))
    np.testing.assert_allclose(times, [0.0, 0.3, 0.5, 0.8], atol=1e-6)  # nearest frames of a 10 fps video


def test_bad_media_raise_media_error_naming_the_file(tmp_path, speech_video):
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x01not a video" * 100)
    with pytest.raises(MediaError, match="corrupt.mp4"):
        read_audio(corrupt)
    silent = tmp_path / "silent.mp4"
    write_video(silent, np.zeros((5, 32, 32, 3), np.uint8), fps=5)
    with pytest.raises(MediaError, match="no audio track"):
        read_audio(silent)
    with pytest.raises(MediaError, match="no video track"):
        read_frames(speak(tmp_path / "s.wav", "hi"), fps=5)
    with pytest.raises(MediaError, match="no audio samples"):
        read_audio(speech_video, Window(30.0, 31.0))


def test_real_mosi_clip_and_moud_segment(shared_data):
    clip = shared_data / "mosi" / "clips" / "Oz06ZWiO20M_6.mp4"
    audio = read_audio(clip)
    assert 7.0 < len(audio) / SAMPLE_RATE < 8.0
    frames, times = read_frames(clip, fps=2)
    assert frames.shape[1:] == (360, 480, 3) and len(frames) == len(times) == 15
    moud = shared_data / "moud" / "videos" / "101_movies.mp4"
    segment = read_audio(moud, Window(17.29, 23.475))
    assert len(segment) == round((23.475 - 17.29) * SAMPLE_RATE)


def test_real_ravdess_flac(shared_data):
    flac = sorted((shared_data / "ravdess" / "Actor_01").glob("*.flac"))[0]
    samples = read_audio(flac)
    assert 2.0 < len(samples) / SAMPLE_RATE < 6.0 and np.abs(samples).max() > 0.01


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
def test_16k_mono_is_read_without_resampling_exactly_as_the_resampler_reads_it(tmp_path, subtype):
    """16 kHz mono files skip the resampler; the samples are those the resampler gives."""
    import av
    import soundfile

    rng = np.random.default_rng(0)
    path = tmp_path / f"tone_{subtype}.{'wav' if subtype == 'FLOAT' else 'flac'}"
    soundfile.write(path, (0.4 * rng.uniform(-1, 1, SAMPLE_RATE)).astype(np.float32), SAMPLE_RATE, subtype=subtype)
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    with av.open(str(path)) as container:
        frames = [out.to_ndarray().reshape(-1) for frame in container.decode(audio=0) for out in resampler.resample(frame)]
    expected = np.concatenate(frames + [out.to_ndarray().reshape(-1) for out in resampler.resample(None)])
    np.testing.assert_array_equal(read_audio(path), expected)
    np.testing.assert_array_equal(read_audio(path, Window(0.25, 0.5)), expected[4000:8000])
