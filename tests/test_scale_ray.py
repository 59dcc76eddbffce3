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


@pytest.mark.slow
def test_torch_extractors_run_in_an_actor_pool(ray_instance, clips_dir, tmp_path):
    from feature_media import tiny_speech_model

    model = tiny_speech_model(tmp_path / "speech")
    local = extract("mosi", clips_dir, tmp_path / "local", audio=str(model), workers=0, limit=12, progress=False)
    on_ray = extract_on_ray("mosi", clips_dir, tmp_path / "ray", audio=str(model), workers=2, batch_size=4, limit=12)
    assert on_ray.summary == local.summary
    # Batches are composed differently (padding is masked, so only float rounding differs).
    same_dataset(tmp_path / "local", tmp_path / "ray", atol=1e-5)


# -- sweeps ---------------------------------------------------------------------------------------
SCHEDULE = {"max_epochs": 1, "patience": 1}
CRASH_ONCE = '''
import os
from pathlib import Path

from baselines.lf_dnn import LFDNN
from msa_bench.models import register_model

#: In the worker's scratch folder (the run folder), which survives the crash.
MARKER = Path("crashed_once")


@register_model("crash_once")
class CrashOnce(LFDNN):
    """LF-DNN whose worker process dies in epoch 2 (after epoch 1's checkpoint) of its first attempt."""

    def on_epoch_end(self, epoch):
        super().on_epoch_end(epoch)
        if epoch == 2 and not MARKER.exists():
            MARKER.touch()
            os._exit(1)
'''


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    from msa_bench.scale.data import DatasetSource

    return DatasetSource("synthetic", cache_dir=str(tmp_path_factory.mktemp("synthetic")), options=(("n_clips", 120),))


def identities(records_dir, *, ignore: tuple[str, ...] = ()) -> dict:
    from msa_bench.records.record import load_records

    return {(r.model, r.seed): {k: v for k, v in r.identity().items() if k not in ignore} for r in load_records(records_dir)}


@pytest.fixture
def one_thread():
    """Ray tasks compute with as many torch and BLAS threads as CPUs they asked for (1); so does
    the local run here, so that float reductions, and so the records, are bit-identical."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(before)


@pytest.fixture
def commit_may_change():
    """Fields to leave out of the comparison: ``git_commit`` only when another commit landed in
    this shared checkout while the test ran (records carry the commit they were made at)."""
    from msa_bench.records.record import current_git_commit

    before = current_git_commit()
    return lambda: () if current_git_commit() == before else ("git_commit",)


def same_records(local_dir, ray_dir, ignore=()) -> None:
    from msa_bench.records.record import load_predictions, record_files

    assert identities(ray_dir, ignore=tuple(ignore)) == identities(local_dir, ignore=tuple(ignore))
    local_files, ray_files = record_files(local_dir), record_files(ray_dir)
    assert [p.relative_to(ray_dir) for p in ray_files] == [p.relative_to(local_dir) for p in local_files]
    for left, right in zip(local_files, ray_files):
        pd.testing.assert_frame_equal(load_predictions(left), load_predictions(right))


def test_ray_sweep_records_and_leaderboard_equal_the_local_engine(ray_instance, source, one_thread, commit_may_change, tmp_path):
    from msa_bench.board.page import render_leaderboard
    from msa_bench.harness.protocol import run_protocol
    from msa_bench.records.record import load_record, record_files
    from msa_bench.scale.ray_sweep import sweep_on_ray

    seeds = (1111, 1112)
    run_protocol("lf_dnn", "synthetic", seeds, train_overrides=SCHEDULE, records_dir=tmp_path / "local", dataset=source.load(), progress=False)
    outcome = sweep_on_ray(["lf_dnn"], source, seeds, tmp_path / "ray", train_overrides=SCHEDULE, echo=lambda line: None)
    assert not outcome.failed and sorted(outcome.records) == ["lf_dnn"]
    same_records(tmp_path / "local", tmp_path / "ray", commit_may_change())
    assert {load_record(p).isolation for p in record_files(tmp_path / "ray")} == {"sandbox"}  # the tasks' models ran in workers
    assert identities(tmp_path / "ray")[("lf_dnn", 1111)]["robustness"]["protocols"]["unannounced"]["modality_drop"]
    pages = {engine: render_leaderboard(tmp_path / engine, tmp_path / f"{engine}_board") for engine in ("local", "ray")}
    for page in ("markdown", "html"):
        assert pages["ray"][page].read_bytes() == pages["local"][page].read_bytes()


def test_a_task_whose_worker_died_is_retried_and_its_record_is_complete(ray_instance, source, one_thread, commit_may_change, tmp_path):
    from msa_bench.harness.protocol import RunFailed, run_protocol
    from msa_bench.scale.ray_sweep import sweep_on_ray

    model_file = tmp_path / "crash_once.py"
    model_file.write_text(CRASH_ONCE)
    spec = f"{model_file}:CrashOnce"
    schedule = {**SCHEDULE, "max_epochs": 3, "patience": 3}
    local = dict(train_overrides=schedule, records_dir=tmp_path / "clean", dataset=source.load(), robustness=False, progress=False,
                 run_root=tmp_path / "clean_runs")
    with pytest.raises(RunFailed):  # the local engine: the worker dies once, and the same command resumes
        run_protocol(spec, "synthetic", (1111,), **local)
    run_protocol(spec, "synthetic", (1111,), **local)
    outcome = sweep_on_ray([spec], source, (1111,), tmp_path / "ray", train_overrides=schedule, robustness=False,
                           run_root=tmp_path / "ray_runs", echo=lambda line: None)
    assert list((tmp_path / "ray_runs").rglob("crashed_once")), "the first attempt did not reach the crash"
    assert not outcome.failed
    same_records(tmp_path / "clean", tmp_path / "ray", commit_may_change())
    written = sorted(p.name for p in (tmp_path / "ray").rglob("*") if p.is_file() and p.parent.name != "code")
    assert written == [".records.lock", "seed1111.json", "seed1111.predictions.parquet"]  # no partial or temporary files
    assert [p.name for p in (tmp_path / "ray").rglob("code/*")] == ["crash_once.py"]  # the archived submission


def test_extract_command_runs_on_ray(ray_instance, clips_dir, tmp_path):
    from typer.testing import CliRunner

    from msa_bench.cli import app

    result = CliRunner().invoke(
        app, ["extract", "mosi", "--data-dir", str(clips_dir), "--out", str(tmp_path), "--audio", "egemaps-lld", "--limit", "6", "--engine", "ray"]
    )
    assert result.exit_code == 0, result.output
    assert "6/6 clips succeeded" in result.output
    assert len(load_extracted(tmp_path)["train"]) == 4


@pytest.mark.slow
def test_submit_on_ray_writes_the_records_of_a_local_submission(ray_instance, one_thread, commit_may_change, tmp_path):
    from msa_bench.harness.protocol import submit_model
    from msa_bench.scale.ray_sweep import submit_model_on_ray

    model_file = tmp_path / "my_model.py"
    model_file.write_text(
        "from baselines.lf_dnn import LFDNN\nfrom msa_bench.models import register_model\n\n\n"
        '@register_model("my_lf_dnn")\nclass MyLFDNN(LFDNN):\n    """LF-DNN under a submission name."""\n'
    )
    config = tmp_path / "config.yaml"
    config.write_text("train:\n  max_epochs: 1\n  patience: 1\n")
    spec = f"{model_file}:MyLFDNN"
    submit_model(spec, config, "synthetic", tmp_path / "local", seeds=(1111,), progress=False)
    paths = submit_model_on_ray(spec, config, "synthetic", tmp_path / "ray", seeds=(1111,), echo=lambda line: None)
    assert [p.name for p in paths] == ["seed1111.json"]
    same_records(tmp_path / "local", tmp_path / "ray", commit_may_change())


def test_word_aligned_text_on_ray_equals_the_local_engine(ray_instance, clips_dir, tmp_path):
    """Clips without word timings fail on both engines; the others get one vector per word."""
    from feature_media import tiny_text_model

    model = tiny_text_model(tmp_path / "bert")
    timings = tmp_path / "words.csv"
    timings.write_text("id,word,start,end\nvid0_0,clip,0.0,0.2\nvid0_0,number,0.2,0.4\nvid0_1,clip,0.0,0.3\n")
    local = extract("mosi", clips_dir, tmp_path / "local", text=str(model), word_timings=timings, workers=0, limit=4, progress=False)
    on_ray = extract_on_ray("mosi", clips_dir, tmp_path / "ray", text=str(model), word_timings=timings, workers=2, batch_size=4, limit=4)
    assert on_ray.summary == local.summary
    assert local.summary["text"]["succeeded"] == 2 and local.summary["text"]["failed"] == 2
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "local" / "errors.csv"), pd.read_csv(tmp_path / "ray" / "errors.csv"))
    a, b = load_extracted(tmp_path / "local"), load_extracted(tmp_path / "ray")
    rows = {r["id"]: r["text_features"] for split in a.values() for r in split}
    for split in b.values():
        for row in split:
            if rows[row["id"]] is None:  # failed clips have no text on either engine
                assert row["text_features"] is None
            else:
                np.testing.assert_allclose(np.asarray(row["text_features"]), np.asarray(rows[row["id"]]), atol=1e-5)
    assert np.asarray(rows["vid0_0"]).shape[0] == 2


def test_ray_sweep_runs_the_lnln_track_like_the_local_engine(ray_instance, source, one_thread, commit_may_change, tmp_path):
    from msa_bench.harness.protocol import run_protocol
    from msa_bench.scale.ray_sweep import sweep_on_ray

    run_protocol("lf_dnn", "synthetic", (1111,), train_overrides=SCHEDULE, records_dir=tmp_path / "local", dataset=source.load(),
                 robustness=False, progress=False, track="lnln")
    outcome = sweep_on_ray(["lf_dnn"], source, (1111,), tmp_path / "ray", train_overrides=SCHEDULE, robustness=False,
                           tracks=("lnln",), echo=lambda line: None)
    assert not outcome.failed and sorted(outcome.records) == ["lf_dnn+lnln"]
    same_records(tmp_path / "local", tmp_path / "ray", commit_may_change())
