"""One training run on two CPU processes (torchrun, DDP with gloo), checked against one process."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from msa_bench.scoring.metrics import compute_metrics
from msa_bench.models import DataSpec, get_model_class
from msa_bench.worker.configs import resolve_configs
from msa_bench.records.record import load_predictions, load_records, record_files
from msa_bench.scale.data import DatasetSource
from msa_bench.scale.ddp import DistributedJob, launch, shard_bounds, training_shard
from msa_bench.worker.evaluation import predictions_of
from msa_bench.inputs.loader import eval_batches

SCHEDULE = {"max_epochs": 2, "patience": 2, "batch_size": 16}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    source = DatasetSource("synthetic", cache_dir=str(tmp_path_factory.mktemp("synthetic")), options=(("n_clips", 120),))
    source.load()
    return source


def ddp_job(source, tmp_path, name: str) -> DistributedJob:
    return DistributedJob(
        "lf_dnn", source, (1111,), str(tmp_path / name / "records"), robustness=False,
        run_root=str(tmp_path / name / "runs"), train_overrides=SCHEDULE,
    )


@pytest.fixture(scope="module")
def two_process_run(source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    job = ddp_job(source, folder, "first")
    launch(job, 2)
    return job, folder


def best_model_of(job: DistributedJob, source: DatasetSource):
    """The best weights rank 0 kept, loaded into a fresh single-process model."""
    model_class = get_model_class(job.model)
    model_config, _ = resolve_configs(model_class, "synthetic", None, job.train_overrides)
    model = model_class(model_config, DataSpec.from_dataset(source.load()))
    checkpoint = torch.load(f"{job.run_root}/synthetic/lf_dnn/seed1111/rank0/checkpoint.pt", weights_only=True)
    model.load_state_dict({k.removeprefix("module."): v for k, v in checkpoint["best_model"].items()})
    return model


def test_two_process_test_metrics_equal_one_process_over_the_same_test_set(two_process_run, source):
    job, _ = two_process_run
    [record] = load_records(job.records_dir)
    gathered = load_predictions(record_files(job.records_dir)[0])
    test = source.load()["test"]
    per_rank_batch = SCHEDULE["batch_size"] // 2
    sizes = {stop - start for start, stop in (shard_bounds(len(test), per_rank_batch, rank, 2) for rank in (0, 1))}
    assert len(sizes) == 2  # unequal shards: a padded sampler would have duplicated examples here
    assert gathered["id"].tolist() == test["id"] and gathered["id"].is_unique  # every test example exactly once
    alone = predictions_of(best_model_of(job, source), eval_batches(test, per_rank_batch), torch.device("cpu"))
    pd.testing.assert_frame_equal(gathered, alone)
    assert record.metrics == pytest.approx(compute_metrics(alone), nan_ok=True, rel=0, abs=0)
    assert record.config["distributed"] == {"nproc": 2, "backend": "gloo"}
    assert record.config["train"]["batch_size"] == SCHEDULE["batch_size"]  # the global batch is recorded


@pytest.mark.slow
def test_a_two_process_run_is_reproducible(two_process_run, source):
    from msa_bench.records.record import current_git_commit

    job, folder = two_process_run
    commit = current_git_commit()
    again = ddp_job(source, folder, "second")
    launch(again, 2)
    [first], [second] = load_records(job.records_dir), load_records(again.records_dir)
    moved = ("git_commit",) if current_git_commit() != commit else ()  # another commit landed meanwhile
    assert {k: v for k, v in second.identity().items() if k not in moved} == {k: v for k, v in first.identity().items() if k not in moved}


def test_shards_cover_each_example_once():
    for n, batch, world in [(74, 8, 2), (40, 8, 3), (5, 4, 4), (0, 8, 2)]:
        bounds = [shard_bounds(n, batch, rank, world) for rank in range(world)]
        covered = [i for start, stop in bounds for i in range(start, stop)]
        assert covered == list(range(n))
        assert all(start % batch == 0 for start, stop in bounds if stop > start)


def test_training_shards_are_disjoint_and_equal_sized(synthetic_small):
    train = synthetic_small["train"]
    shards = [training_shard(train, rank, 3) for rank in range(3)]
    assert len({len(s) for s in shards}) == 1
    ids = [set(s["id"]) for s in shards]
    assert set().union(*ids) == set(train["id"])
    assert sum(len(s) for s in ids) == len(train)  # padding repeats a shard's own examples only


def test_train_command_launches_torchrun_with_the_job(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import msa_bench.scale.ddp as ddp
    from msa_bench.cli import app

    launched = []
    monkeypatch.setattr(ddp, "launch", lambda job, nproc: launched.append((job, nproc)))
    args = ["train", "lf_dnn", "--dataset", "synthetic", "--seed", "7", "--nproc-per-node", "2", "--records", str(tmp_path), "--no-robustness"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [(job, nproc)] = launched
    assert nproc == 2 and (job.model, job.source.name, job.seeds, job.records_dir, job.robustness) == ("lf_dnn", "synthetic", (7,), str(tmp_path), False)
    assert DistributedJob.from_json(job.to_json()) == job


CRASH_AT_EPOCH_2 = '''
import os
from pathlib import Path

from baselines.lf_dnn import LFDNN


class CrashOnce(LFDNN):
    """LF-DNN whose processes die once, in epoch 2, after epoch 1's checkpoints were written."""

    def on_epoch_end(self, epoch):
        super().on_epoch_end(epoch)
        marker = Path(os.environ["MSA_BENCH_CRASH_DIR"]) / f"rank{os.environ['RANK']}"
        if epoch == 2 and not marker.exists():
            marker.touch()
            os._exit(3)
'''


@pytest.mark.slow
def test_an_interrupted_two_process_run_resumes_to_the_uninterrupted_result(two_process_run, source, tmp_path, monkeypatch, capfd):
    job, _ = two_process_run
    model_file = tmp_path / "crash_once.py"
    model_file.write_text(CRASH_AT_EPOCH_2)
    (tmp_path / "markers").mkdir()
    monkeypatch.setenv("MSA_BENCH_CRASH_DIR", str(tmp_path / "markers"))
    interrupted = DistributedJob(
        f"{model_file}:CrashOnce", source, (1111,), str(tmp_path / "records"), robustness=False,
        run_root=str(tmp_path / "runs"), train_overrides=SCHEDULE,
    )
    with pytest.raises(RuntimeError, match="distributed run failed"):
        launch(interrupted, 2)
    assert sorted(p.name for p in (tmp_path / "markers").iterdir()) == ["rank0", "rank1"]
    assert not list((tmp_path / "records").rglob("*.json"))
    capfd.readouterr()
    launch(interrupted, 2)  # both ranks resume from their epoch-1 checkpoints
    assert "after epoch 1" in capfd.readouterr().out  # rank 0 reports where it resumed
    [resumed], [uninterrupted] = load_records(interrupted.records_dir), load_records(job.records_dir)
    assert resumed.model == uninterrupted.model and resumed.config_hash == uninterrupted.config_hash
    assert resumed.metrics == uninterrupted.metrics
    pd.testing.assert_frame_equal(
        load_predictions(record_files(interrupted.records_dir)[0]), load_predictions(record_files(job.records_dir)[0])
    )
