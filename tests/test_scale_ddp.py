"""One training run on two CPU processes (torchrun, DDP with gloo) inside the training worker."""

from __future__ import annotations

import pandas as pd
import pytest
import torch

from msa_bench.harness.protocol import run_protocol
from msa_bench.harness.training import predictions_on_test
from msa_bench.models import DataSpec, get_model_class
from msa_bench.records.record import load_predictions, load_record
from msa_bench.scale.data import DatasetSource
from msa_bench.worker.configs import resolve_configs
from msa_bench.worker.ddp import training_shard

SCHEDULE = {"max_epochs": 2, "patience": 2, "batch_size": 16}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    source = DatasetSource("synthetic", cache_dir=str(tmp_path_factory.mktemp("synthetic")), options=(("n_clips", 120),))
    source.load()
    return source


def ddp_run(source, folder, model="lf_dnn"):
    [path] = run_protocol(model, "synthetic", [1111], train_overrides=SCHEDULE, records_dir=folder / "records", dataset=source.load(),
                          robustness=False, run_root=folder / "runs", progress=False, nproc=2)
    return path


@pytest.fixture(scope="module")
def two_process_run(source, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ddp")
    return ddp_run(source, folder), folder


def test_two_processes_train_in_the_worker_and_the_selected_weights_are_scored(two_process_run, source):
    path, folder = two_process_run
    record = load_record(path)
    assert record.config["distributed"] == {"nproc": 2} and record.isolation == "sandbox"
    assert record.config["train"]["batch_size"] == SCHEDULE["batch_size"]  # the global batch is recorded
    [weights] = (folder / "runs").rglob("trained_model.pt")
    model_class = get_model_class("lf_dnn")
    model_config, _ = resolve_configs(model_class, "synthetic", None, SCHEDULE)
    model = model_class(model_config, DataSpec.from_dataset(source.load()))
    model.load_state_dict(torch.load(weights, weights_only=True))
    alone = predictions_on_test(model.eval(), source.load()["test"], torch.device("cpu"))
    pd.testing.assert_frame_equal(load_predictions(path), alone)
    assert {p.parent.name for p in (folder / "runs").rglob("checkpoint.pt")} == {"rank0", "rank1"}


@pytest.mark.slow
def test_a_two_process_run_is_reproducible(two_process_run, source, tmp_path):
    path, _ = two_process_run
    again = ddp_run(source, tmp_path)
    pd.testing.assert_frame_equal(load_predictions(path), load_predictions(again))


def test_training_shards_are_disjoint_and_equal_sized(synthetic_small):
    train = synthetic_small["train"]
    shards = [training_shard(train, rank, 3) for rank in range(3)]
    assert len({len(s) for s in shards}) == 1
    ids = [set(s["id"]) for s in shards]
    assert set().union(*ids) == set(train["id"])
    assert sum(len(s) for s in ids) == len(train)  # padding repeats a shard's own examples only


def test_train_command_passes_the_process_count_to_the_protocol(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import msa_bench.harness.protocol as protocol
    from msa_bench.cli import app

    calls = []
    monkeypatch.setattr(protocol, "run_protocol", lambda *args, **kwargs: calls.append(kwargs) or [])
    args = ["train", "lf_dnn", "--dataset", "synthetic", "--seed", "7", "--nproc-per-node", "2", "--workspace", str(tmp_path), "--no-robustness"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    [call] = calls
    assert call["nproc"] == 2 and call["robustness"] is False and call["records_dir"] == tmp_path / "records"


CRASH_AT_EPOCH_2 = '''
import os
from pathlib import Path

from baselines.lf_dnn import LFDNN
from msa_bench.models import register_model


@register_model("crash_once")
class CrashOnce(LFDNN):
    """LF-DNN whose processes die once, in epoch 2, after epoch 1's checkpoints were written
    (the marker lives in the worker's scratch folder, the run folder)."""

    def on_epoch_end(self, epoch):
        super().on_epoch_end(epoch)
        marker = Path(f"crashed_rank{os.environ['RANK']}")
        if epoch == 2 and not marker.exists():
            marker.touch()
            os._exit(3)
'''


@pytest.mark.slow
def test_an_interrupted_two_process_run_resumes_to_the_uninterrupted_result(two_process_run, source, tmp_path):
    from msa_bench.harness.protocol import RunFailed

    path, _ = two_process_run
    model_file = tmp_path / "crash_once.py"
    model_file.write_text(CRASH_AT_EPOCH_2)
    with pytest.raises(RunFailed, match="train phase"):
        ddp_run(source, tmp_path, f"{model_file}:CrashOnce")
    assert len(list((tmp_path / "runs").rglob("crashed_rank*"))) == 2
    resumed = ddp_run(source, tmp_path, f"{model_file}:CrashOnce")  # both ranks resume from their epoch-1 checkpoints
    assert load_record(resumed).metrics == load_record(path).metrics
    pd.testing.assert_frame_equal(load_predictions(resumed), load_predictions(path))
