"""Adversarial submissions through the CLI: none scores better than the honest model behind the
boundary, and none changes a file outside its worker's scratch folder.

Each attack class of the boundary issue has a submission (``tests/adversarial_models.py``):
a call-stack walk to the labels at evaluation, a training hook hunting the test split, reading
labelled files from disk (the datasets cache, a records folder, a data folder), decoding labels
from ids, and import-time side effects. Each is also run in this process, without the boundary,
where its trick works: so the tests can fail.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import datasets
import pytest
from typer.testing import CliRunner

import msa_bench.harness.protocol as protocol
from adversarial_models import DISK_READ, ID_DECODING, IMPORT_SIDE_EFFECT, STACK_WALK, TEST_SPLIT_HUNT, source
from msa_bench.cli import app
from msa_bench.harness.sandbox import isolation_level
from msa_bench.harness.training import train_and_evaluate
from msa_bench.models import build_config
from msa_bench.records.record import load_record
from msa_bench.worker.train_config import TrainConfig

CONFIG = "model:\n  hidden: 16\ntrain:\n  lr: 0.003\n  max_epochs: 2\n  patience: 2\n"
TRAIN = TrainConfig(lr=0.003, max_epochs=2, patience=2)
pytestmark = pytest.mark.skipif(isolation_level() != "sandbox", reason="bubblewrap cannot start here (apt-get install bubblewrap)")


def _snapshot(*folders: Path) -> dict[str, str]:
    return {
        str(p): hashlib.sha256(p.read_bytes()).hexdigest()
        for folder in folders for p in sorted(folder.rglob("*")) if p.is_file() and ".lock" not in p.name
    }


@pytest.fixture(scope="module")
def arena(tmp_path_factory, synthetic_small, synthetic_source):
    """A workspace holding the honest model's committed records, and a labelled data folder."""
    root = tmp_path_factory.mktemp("arena")
    data = root / "data"
    data.mkdir()
    synthetic_small["test"].to_parquet(data / "labels.parquet")
    return {"root": root, "workspace": root / "space", "data": data, "cache": Path(synthetic_source["cache_dir"])}


def _submit(arena, monkeypatch, name: str, code: str, dataset=None) -> tuple[int, str, list[Path]]:
    """``msa-bench submit --model FILE:Model`` of ``code``; exit code, output, the entry's records."""
    folder = arena["root"] / f"submission_{name}"
    folder.mkdir(exist_ok=True)
    (folder / "model.py").write_text(code, encoding="utf-8")
    (folder / "config.yaml").write_text(CONFIG, encoding="utf-8")
    monkeypatch.setattr(protocol, "load_for_run", lambda *args, **kwargs: dataset)
    result = CliRunner().invoke(app, [
        "submit", "--model", f"{folder / 'model.py'}:Model", "--config", str(folder / "config.yaml"), "--dataset", "synthetic",
        "--seeds", "1111", "--workspace", str(arena["workspace"]), "--json",
    ])
    records = sorted((arena["workspace"] / "records" / "synthetic" / name).glob("seed*.json"))
    return result.exit_code, result.output, records


def _report(arena, name: str) -> dict:
    [report] = (arena["workspace"] / "runs" / "synthetic" / name).rglob("attack_report.json")
    return json.loads(report.read_text())


@pytest.fixture(scope="module")
def honest(arena, synthetic_small):
    with pytest.MonkeyPatch.context() as monkeypatch:
        code, output, records = _submit(arena, monkeypatch, "honest", source("honest"), synthetic_small)
    assert code == 0, output
    return load_record(records[0])


def _in_process(arena, code: str, name: str, dataset, monkeypatch) -> float:
    """The attacker trained and tested in this process (no boundary): its test MAE."""
    monkeypatch.chdir(arena["root"])  # where its report lands
    path = arena["root"] / f"in_process_{name}.py"
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"attack_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    model = module.Model
    run = train_and_evaluate(model, build_config(model, {"hidden": 16}), dataset, TRAIN, seed=1111, dataset_name="synthetic", progress=False)
    return run.metrics["mae"]


def _ids_spell_labels(dataset: datasets.DatasetDict) -> datasets.DatasetDict:
    """The dataset with ids that carry each example's label (as RAVDESS file names carry the emotion)."""
    return datasets.DatasetDict({
        name: split.map(lambda row: {"id": f"label={row['sentiment']}/{row['id']}"}) for name, split in dataset.items()
    })


ATTACKS = {
    "stack_walk": STACK_WALK,
    "test_split_hunt": TEST_SPLIT_HUNT,
    "disk_read": DISK_READ,
    "id_decoding": ID_DECODING,
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attacker_scores_exactly_as_the_honest_model_behind_the_boundary(attack, arena, honest, synthetic_small, monkeypatch):
    patterns = [f"{arena['cache']}/**/*.arrow", f"{arena['workspace']}/records/**/*.parquet", f"{arena['data']}/*.parquet"]
    code = source(attack, ATTACKS[attack], PATTERNS=patterns)
    dataset = _ids_spell_labels(synthetic_small) if attack == "id_decoding" else synthetic_small
    honest_mae = honest.metrics["mae"] if attack != "id_decoding" else None
    # without the boundary the trick works: the attacker beats the honest model by far
    assert _in_process(arena, code, attack, dataset, monkeypatch) < 0.05
    before = _snapshot(arena["data"], arena["cache"], arena["workspace"] / "records")
    exit_code, output, records = _submit(arena, monkeypatch, attack, code, dataset)
    assert exit_code == 0, output
    [record] = records
    assert _report(arena, attack) == {"found": False}
    attacked = load_record(record)
    assert attacked.isolation == "sandbox"
    if honest_mae is not None and attack != "stack_walk":
        assert attacked.metrics == honest.metrics  # the same model and seed: the trick changed nothing
    if attack == "stack_walk":  # it reads the validation labels it may see, which only moves its own selection
        assert attacked.metrics["mae"] >= honest.metrics["mae"] and attacked.metrics["acc2_non0"] <= honest.metrics["acc2_non0"]
    assert attacked.metrics["mae"] > 0.5
    after = _snapshot(arena["data"], arena["cache"], arena["workspace"] / "records")
    assert {path: digest for path, digest in after.items() if path in before} == before


def test_import_time_side_effects_reach_nothing_and_the_submission_is_refused(arena, honest, synthetic_small, monkeypatch):
    code = source("side_effect", IMPORT_SIDE_EFFECT, RECORDS_GLOB=f"{arena['workspace']}/records/**/*")
    before = _snapshot(arena["data"], arena["cache"], arena["workspace"])
    exit_code, output, records = _submit(arena, monkeypatch, "side_effect", code, synthetic_small)
    assert exit_code == 2 and "fails on purpose" in output and "Traceback" not in output
    assert records == []
    assert _snapshot(arena["data"], arena["cache"], arena["workspace"]) == before
    assert load_record(next((arena["workspace"] / "records" / "synthetic" / "honest").glob("seed*.json"))) == honest
