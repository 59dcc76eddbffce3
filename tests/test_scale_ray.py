"""Ray engines for real, on a local two-CPU Ray instance: feature extraction and sweeps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile

from msa_bench.features import extract, load_extracted

ray = pytest.importorskip("ray")

from msa_bench.scale.ray_extract import extract_on_ray  # noqa: E402

MMSA_HEADER = "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"
N_CLIPS = 30


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance for the whole module (its start-up is the expensive part)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def generated_clips(root, n_clips: int = N_CLIPS):
    """MMSA-FET layout of ``n_clips`` short tone-and-noise WAVs plus one corrupt file."""
    rng = np.random.default_rng(0)
    lines = []
    for k in range(n_clips):
        video, clip = f"vid{k // 5}", str(k % 5)
        seconds = 0.5 + 0.05 * k
        t = np.arange(int(seconds * 16_000)) / 16_000
        wave = 0.3 * np.sin(2 * np.pi * (120 + 10 * k) * t) + 0.02 * rng.standard_normal(t.size)
        (root / "Raw" / video).mkdir(parents=True, exist_ok=True)
        soundfile.write(root / "Raw" / video / f"{clip}.wav", wave.astype(np.float32), 16_000)
        split = ("train", "train", "train", "valid", "test")[k % 5]
        lines.append(f"{video},{clip},clip number {k},{(k % 7) - 3:.1f},0,0,0,x,{split}\n")
    (root / "Raw" / "broken").mkdir()
    (root / "Raw" / "broken" / "0.wav").write_bytes(b"\x00not audio" * 100)
    lines.append("broken,0,a corrupt file,1.0,0,0,0,x,train\n")
    (root / "label.csv").write_text(MMSA_HEADER + "".join(lines))
    return root


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    return generated_clips(tmp_path_factory.mktemp("clips"))


def same_dataset(a_dir, b_dir, atol: float = 0.0) -> None:
    a, b = load_extracted(a_dir), load_extracted(b_dir)
    for split in ("train", "validation", "test"):
        assert a[split]["id"] == b[split]["id"]
        for left, right in zip(a[split]["audio_features"], b[split]["audio_features"]):
            np.testing.assert_allclose(np.asarray(left, dtype=np.float32), np.asarray(right, dtype=np.float32), rtol=0, atol=atol)
    pd.testing.assert_frame_equal(pd.read_csv(a_dir / "errors.csv"), pd.read_csv(b_dir / "errors.csv"))


def test_ray_extraction_equals_the_local_engine_and_resumes(ray_instance, clips_dir, tmp_path):
    local = extract("mosi", clips_dir, tmp_path / "local", audio="egemaps-lld", workers=0, progress=False)
    on_ray = extract_on_ray("mosi", clips_dir, tmp_path / "ray", audio="egemaps-lld", workers=2)
    assert on_ray.summary == local.summary == {
        "audio": {"extractor": "egemaps-lld", "succeeded": N_CLIPS, "failed": 1, "total": N_CLIPS + 1}
    }
    same_dataset(tmp_path / "local", tmp_path / "ray")
    errors = pd.read_csv(tmp_path / "ray" / "errors.csv")
    assert errors["id"].tolist() == ["broken_0"] and "cannot open" in errors["reason"][0]

    # Resume: a clip done before is never redone; a clip whose cache file is gone is recomputed.
    cached = sorted((tmp_path / "ray" / "cache" / "audio").rglob("*.npz"))
    assert len(cached) == N_CLIPS
    stamps = {path: path.stat().st_mtime_ns for path in cached}
    cached[0].unlink()
    again = extract_on_ray("mosi", clips_dir, tmp_path / "ray", audio="egemaps-lld", workers=2)
    assert again.summary == local.summary and cached[0].is_file()
    assert all(path.stat().st_mtime_ns == stamp for path, stamp in stamps.items() if path != cached[0])
    same_dataset(tmp_path / "local", tmp_path / "ray")


def test_torch_extractors_run_in_an_actor_pool(ray_instance, clips_dir, tmp_path):
    from feature_media import tiny_speech_model

    model = tiny_speech_model(tmp_path / "speech")
    local = extract("mosi", clips_dir, tmp_path / "local", audio=str(model), workers=0, limit=12, progress=False)
    on_ray = extract_on_ray("mosi", clips_dir, tmp_path / "ray", audio=str(model), workers=2, batch_size=4, limit=12)
    assert on_ray.summary == local.summary
    # Batches are composed differently (padding is masked, so only float rounding differs).
    same_dataset(tmp_path / "local", tmp_path / "ray", atol=1e-5)
