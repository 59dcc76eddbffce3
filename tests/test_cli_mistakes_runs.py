"""Every expected mistake of the commands that train, submit, verify and render: exit 2 and one
paragraph on stderr naming the file, the name or the option, before anything is trained."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_cli_mistakes_data import fails_in_one_paragraph

import msa_bench.harness.protocol as protocol


@pytest.fixture(autouse=True)
def nothing_trains(tmp_path, monkeypatch):
    """The mistakes are refused before any worker starts."""
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(protocol, "run_isolated", lambda *a, **k: pytest.fail("a worker started before the mistake was refused"))


def files(root: Path) -> dict[str, Path]:
    model = root / "model.py"
    model.write_text("from msa_bench.models import MSAModel\n")
    config = root / "config.yaml"
    config.write_text("model: {}\ntrain: {}\n")
    predictions = root / "p.parquet"
    pd.DataFrame({"id": ["x"], "sentiment_pred": [0.0]}).to_parquet(predictions)
    bad_yaml = root / "bad.yaml"
    bad_yaml.write_text("model: [1, 2\n")
    record = root / "records" / "synthetic" / "mine" / "seed0.json"
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"model": "mine"}))
    return {"MODEL": model, "CONFIG": config, "PREDICTIONS": predictions, "BAD_YAML": bad_yaml, "RECORD": record,
            "ABSENT": root / "absent", "SPACE": root / "space"}


TRAIN = ["train", "--dataset", "synthetic", "--seed", "1", "--no-robustness", "--workspace", "{SPACE}"]
SUBMIT = ["submit", "--dataset", "synthetic", "--workspace", "{SPACE}"]

#: (mistake, command line, parts of the message)
MISTAKES = [
    ("unknown model", [*TRAIN[:1], "tfm", *TRAIN[1:]], ["unknown model 'tfm'", "did you mean 'tfn'"]),
    ("misspelt model option", [*TRAIN[:1], "tfn", *TRAIN[1:], "--model-option", "dropuot=0.3"], ["dropuot", "valid fields"]),
    ("bad train option value", [*TRAIN[:1], "tfn", *TRAIN[1:], "--train-option", "lr=-1"], ["lr must be positive"]),
    ("malformed option", [*TRAIN[:1], "tfn", *TRAIN[1:], "--train-option", "max_epochs"], ["expected key=value"]),
    ("unknown track", ["run", "--models", "lf_dnn", "--track", "lnnl", "--workspace", "{SPACE}"], ["unknown track(s) ['lnnl']"]),
    ("unknown model in run", ["run", "--models", "lf_dmm", "--workspace", "{SPACE}"], ["unknown model 'lf_dmm'", "'lf_dnn'"]),
    ("model file that does not exist", [*SUBMIT, "--model", "{ABSENT}.py:Model", "--config", "{CONFIG}"], ["absent.py: no such file"]),
    ("model spec without a class", [*SUBMIT, "--model", "{MODEL}", "--config", "{CONFIG}"], ["'path/to/file.py:ClassName'"]),
    ("model without config", [*SUBMIT, "--model", "{MODEL}:Model"], ["--model needs --config CFG.yaml"]),
    ("config that is not YAML", [*SUBMIT, "--model", "{MODEL}:Model", "--config", "{BAD_YAML}"], ["bad.yaml: not valid YAML"]),
    ("both kinds of submission", [*SUBMIT, "--model", "{MODEL}:Model", "--predictions", "{PREDICTIONS}", "--name", "mine"], ["give either --model"]),
    ("predictions without a name", [*SUBMIT, "--predictions", "{PREDICTIONS}"], ["give either --model"]),
    ("a built-in name", [*SUBMIT, "--predictions", "{PREDICTIONS}", "--name", "tfn"], ["'tfn' is reserved"]),
    ("a name outside the rule", [*SUBMIT, "--predictions", "{PREDICTIONS}", "--name", "My Model"], ["lower-case letters"]),
    ("predictions of other ids", [*SUBMIT, "--predictions", "{PREDICTIONS}", "--name", "mine", "--dataset-option", "n_clips=60"], ["have no prediction"]),
    ("verify a missing record", ["verify", "{ABSENT}"], ["absent: no record (seed*.json) to verify"]),
    ("verify an unreadable record", ["verify", "{RECORD}"], ["seed0.json: unknown fields", "missing fields"]),
    ("render a missing records folder", ["leaderboard", "--records", "{ABSENT}", "--out", "{SPACE}"], ["{ABSENT}"]),
]


@pytest.mark.parametrize("mistake, args, expected", MISTAKES, ids=[m for m, _, _ in MISTAKES])
def test_each_run_mistake_is_one_paragraph(tmp_path, mistake, args, expected):
    paths = files(tmp_path)
    fails_in_one_paragraph([arg.format(**paths) for arg in args], [part.format(**paths) for part in expected])
