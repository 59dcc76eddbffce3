"""The full protocol through the submission boundary, model submissions (with the README's
example model) and the main job."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import msa_bench.harness.protocol as protocol
from msa_bench.models import get_model_class
from msa_bench.util.errors import UserError
from msa_bench.worker.configs import resolve_configs
from msa_bench.harness.main_job import run_main
from msa_bench.harness.protocol import guarded_run, run_protocol, submit_model
from msa_bench.records.record import load_record, record_files
from msa_bench.records.store import RecordConflict
from msa_bench.util.errors import SubmissionRejected

README = Path(__file__).resolve().parents[1] / "README.md"
SHORT_TRAIN = "train:\n  lr: 0.003\n  max_epochs: 2\n  patience: 2\n"


def readme_example_model() -> str:
    """The complete example model of the README (the block that defines ``class MeanFusion``)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    return next(block for block in blocks if "class MeanFusion(" in block)


@pytest.fixture
def small_data(synthetic_small, monkeypatch):
    """Every dataset the protocol loads by name is the small synthetic one."""
    monkeypatch.setattr(protocol, "load_for_run", lambda name, data_dir, options=None: synthetic_small)
    return synthetic_small


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("submission") / "my_model.py"
    path.write_text(readme_example_model(), encoding="utf-8")
    return f"{path}:MeanFusion"


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_resolve_configs_layers_overrides_on_the_dataset_defaults():
    from msa_bench.models import get_model_class

    tfn = get_model_class("tfn")
    model, train = resolve_configs(tfn, "synthetic", {"dropout": 0.3}, {"max_epochs": 2})
    assert model.text_hidden == tfn.default_configs["synthetic"]["model"]["text_hidden"] and model.dropout == 0.3
    assert train.max_epochs == 2 and train.lr == tfn.default_configs["synthetic"]["train"]["lr"]
    with pytest.raises(ValueError, match="valid fields"):
        resolve_configs(tfn, "synthetic", {"hiden": 3})


def test_run_protocol_writes_one_record_per_seed(synthetic_small, tmp_path):
    paths = run_protocol(
        "audio_only", "synthetic", [1111, 1112], train_overrides={"max_epochs": 2},
        records_dir=tmp_path, robustness=False, dataset=synthetic_small, progress=False,
    )
    records = [load_record(p) for p in paths]
    assert [r.seed for r in records] == [1111, 1112]
    assert all(r.model == "audio_only" and r.kind == "full" and not r.robustness for r in records)
    assert records[0].config["train"]["max_epochs"] == 2 and records[0].config["dataset"] == "synthetic"
    assert records[0].n_parameters > 0 and records[0].git_commit is not None
    assert {r.isolation for r in records} == {"sandbox"} and records[0].code["kind"] == "builtin"
    assert records[0].code["files"]["baselines/unimodal.py"] and records[0].record_hash and records[0].predictions_sha256


def test_submit_model_runs_the_readme_example(small_data, model_file, tmp_path):
    config = write_config(tmp_path, "model:\n  hidden: 16\n" + SHORT_TRAIN)
    paths = submit_model(model_file, config, "synthetic", tmp_path / "records", seeds=(1111,), progress=False)
    record = load_record(paths[0])
    assert record.model == "mean_fusion" and record.config["model"]["hidden"] == 16
    assert record.robustness["metric"] == "acc2_non0" and record.metrics["mae"] > 0
    assert record.code["kind"] == "submission" and record.code["entry"] == "my_model.py:MeanFusion"
    archived = paths[0].parent / "code" / "my_model.py"
    assert archived.read_text(encoding="utf-8") == readme_example_model()


@pytest.mark.parametrize(
    "config_text,reason",
    [
        ("model:\n  hiden: 16\n", "no config field"),
        ("train:\n  lr: -1\n", "lr must be positive"),
        ("optimiser: adam\n", "unknown top-level key"),
        ("- just\n- a list\n", "expected a mapping"),
        ("model: [1, 2\n", "not valid YAML"),
    ],
)
def test_invalid_config_is_rejected_and_nothing_is_written(small_data, model_file, tmp_path, config_text, reason):
    records = tmp_path / "records"
    with pytest.raises(SubmissionRejected, match=reason):
        submit_model(model_file, write_config(tmp_path, config_text), "synthetic", records, seeds=(1111,))
    assert not records.exists()


def test_broken_models_are_rejected_and_nothing_is_written(small_data, tmp_path):
    source = readme_example_model().replace('"mean_fusion"', '"broken_fusion"').replace(
        "ModelOutput(sentiment=", "ModelOutput(sentiment=float('nan') * "
    )
    (tmp_path / "broken.py").write_text(source, encoding="utf-8")
    (tmp_path / "not_a_model.py").write_text("class Thing:\n    pass\n", encoding="utf-8")
    config = write_config(tmp_path, SHORT_TRAIN)
    records = tmp_path / "records"
    for spec, reason in (
        (f"{tmp_path / 'broken.py'}:MeanFusion", "no finite sentiment"),
        (f"{tmp_path / 'not_a_model.py'}:Thing", "not an MSAModel"),
        (f"{tmp_path / 'missing.py'}:Model", "no such file"),
        ("tfn", "file.py:ClassName"),
        (f"{tmp_path / 'broken.py'}", "file.py:ClassName"),
    ):
        with pytest.raises(SubmissionRejected, match=reason):
            submit_model(spec, config, "synthetic", records, seeds=(1111,))
    assert not records.exists()


def test_missing_config_file_is_rejected(small_data, model_file, tmp_path):
    with pytest.raises(SubmissionRejected, match="no such config file"):
        submit_model(model_file, tmp_path / "nope.yaml", "synthetic", tmp_path / "records")


def test_main_job_records_every_entry_and_track(small_data, tmp_path):
    lines = []
    written, failed = run_main(
        ["vision_only", "lf_dnn"], records_dir=tmp_path / "records", jobs=1, echo=lines.append, tracks=("default", "lnln"),
    )
    assert failed == []
    records = [load_record(p) for p in record_files(tmp_path / "records")]
    assert sorted(r.model for r in records) == ["lf_dnn", "lf_dnn+lnln", "vision_only", "vision_only+lnln"]
    assert sorted(written) == sorted(record_files(tmp_path / "records"))
    assert {r.config["track"] for r in records} == {"default", "lnln"} and {r.isolation for r in records} == {"sandbox"}
    assert any(line.startswith("done in") for line in lines)
    with pytest.raises(UserError, match="unknown track"):
        run_main(["lf_dnn"], records_dir=tmp_path / "other", tracks=("lnnl",))


def test_a_failing_entry_is_an_outcome_line_and_the_next_entry_still_runs(tmp_path):
    def broken():
        raise RuntimeError("CUDA out of memory")

    outcomes = [guarded_run(run) for run in (broken, lambda: [tmp_path / "a.json", tmp_path / "b.json"])]
    assert outcomes[0] == ([], "FAILED: RuntimeError: CUDA out of memory")
    paths, line = outcomes[1]
    assert paths == [tmp_path / "a.json", tmp_path / "b.json"] and line.startswith("2 record(s) in ")


def test_main_job_sets_aside_records_of_another_config_instead_of_failing_to_render(small_data, tmp_path, monkeypatch):
    records = tmp_path / "records"
    run_main(["lf_dnn"], seeds=(1111, 1112), records_dir=records, jobs=1, echo=lambda _: None)
    schedule = get_model_class("lf_dnn").default_configs["synthetic"]
    monkeypatch.setitem(schedule, "train", {**schedule.get("train", {}), "max_epochs": 1})  # the schedule changed since
    lines = []
    _, failed = run_main(["lf_dnn"], seeds=(1111,), records_dir=records, jobs=1, echo=lines.append)
    assert failed == []
    assert sorted(p.name for p in (records / "synthetic" / "lf_dnn").iterdir()) == ["seed1111.json", "seed1111.predictions.parquet"]
    [moved] = (tmp_path / "records-superseded" / "synthetic" / "lf_dnn").iterdir()
    assert sorted(load_record(p).seed for p in moved.glob("seed*.json")) == [1111, 1112]


def test_cli_train_applies_model_and_train_options(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from msa_bench.cli import app

    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))
    common = ["train", "tfn", "--dataset", "synthetic", "--seed", "7", "--workspace", str(tmp_path / "space"), "--no-robustness"]
    result = CliRunner().invoke(app, [*common, "--model-option", "dropout=0.3", "--train-option", "max_epochs=1"])
    assert result.exit_code == 0, result.output
    (record,) = [load_record(p) for p in (tmp_path / "space" / "records").rglob("seed*.json")]
    assert record.config["model"]["dropout"] == 0.3 and record.config["train"]["max_epochs"] == 1
    assert "tfn on synthetic" in result.stdout and "mean ± std" in result.stdout  # the results table
    misspelt = CliRunner().invoke(app, [*common, "--model-option", "dropuot=0.3"])
    assert misspelt.exit_code == 2 and "dropuot" in misspelt.output and "valid fields" in misspelt.output
    malformed = CliRunner().invoke(app, [*common, "--train-option", "max_epochs"])
    assert malformed.exit_code == 2 and "expected key=value" in malformed.output


def test_train_refuses_a_name_held_by_another_kind_before_training(small_data, tmp_path, monkeypatch):
    """The check comes first: nothing is trained (and lost) for a record that could not be saved."""
    import numpy as np

    from msa_bench.records.record import ResultRecord
    from msa_bench.records.store import save_record
    from msa_bench.scoring.metrics import compute_metrics, predictions_frame

    frame = predictions_frame(["a", "b"], sentiment_true=np.array([1.0, -1.0]), sentiment_pred=np.array([0.5, -0.5]))
    held = ResultRecord(model="lf_dnn", dataset="mosi", seed=0, kind="predictions_only", metrics=compute_metrics(frame))
    save_record(held, frame, tmp_path / "records")
    monkeypatch.setattr(protocol, "run_isolated", lambda *a, **k: pytest.fail("trained before the name check"))
    with pytest.raises(RecordConflict, match="already holds predictions_only records"):
        run_protocol("lf_dnn", "synthetic", (1111,), records_dir=tmp_path / "records", dataset=small_data, progress=False)


def test_a_submission_does_not_replace_a_name_that_has_records_unless_told(small_data, model_file, tmp_path, monkeypatch):
    config = write_config(tmp_path, "model:\n  hidden: 16\n" + SHORT_TRAIN)
    records = tmp_path / "records"
    [first] = submit_model(model_file, config, "synthetic", records, seeds=(1111,), progress=False, robustness_levels=(0.0, 1.0))
    changed = write_config(tmp_path, "model:\n  hidden: 8\n" + SHORT_TRAIN)
    monkeypatch.setattr(protocol, "run_isolated", lambda *a, **k: pytest.fail("trained before the name check"))
    with pytest.raises(RecordConflict, match="--replace"):
        submit_model(model_file, changed, "synthetic", records, seeds=(1111,), progress=False)
    assert load_record(first).config["model"]["hidden"] == 16
    monkeypatch.undo()
    lines = []
    [second] = submit_model(model_file, changed, "synthetic", records, seeds=(1111,), progress=False, replace=True,
                            robustness_levels=(0.0, 1.0), echo=lines.append)
    assert load_record(second).config["model"]["hidden"] == 8 and any("moved aside" in line for line in lines)
    assert list((tmp_path / "records-superseded").rglob("seed1111.json"))


def test_a_failed_seed_commits_nothing_and_says_where_the_finished_seeds_are(small_data, tmp_path, monkeypatch):
    from msa_bench.harness import boundary

    calls = []
    real = boundary.run_isolated

    def second_fails(*args, **kwargs):
        calls.append(kwargs["seed"])
        if len(calls) == 2:
            raise RuntimeError("the worker was killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(protocol, "run_isolated", second_fails)
    with pytest.raises(protocol.RunFailed, match=r"failed at seed 1112.*Nothing was added.*seed1111"):
        run_protocol("lf_dnn", "synthetic", (1111, 1112), train_overrides={"max_epochs": 1}, records_dir=tmp_path / "records",
                     dataset=small_data, progress=False, robustness=False)
    assert not (tmp_path / "records").exists() or not list((tmp_path / "records").rglob("seed*.json"))
    assert list((tmp_path / "records-staging" / "synthetic" / "lf_dnn").rglob("seed1111.json"))
