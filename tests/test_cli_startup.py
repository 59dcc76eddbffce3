"""The commands a newcomer types first start without loading the training stack."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "pandas", "datasets", "sklearn")
PROBE = """
import sys
from typer.testing import CliRunner
from msa_bench.cli import app
result = CliRunner().invoke(app, sys.argv[1:])
assert result.exit_code == 0, result.output
print(sorted({m.split('.')[0] for m in sys.modules} & set(%r)))
""" % (HEAVY,)


@pytest.mark.parametrize("command", [["--help"], ["models"], ["datasets"], ["train", "--help"]])
def test_the_first_commands_load_nothing_heavy(command, tmp_path):
    env = {**os.environ, "MSA_BENCH_CACHE": str(tmp_path / "cache")}
    result = subprocess.run([sys.executable, "-c", PROBE, *command], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout


def test_models_lists_every_built_in_model_from_the_catalogue():
    from msa_bench.cli.models import load_catalog
    from msa_bench.models import builtin_model_names
    from msa_bench.models.catalog import build_catalog

    assert load_catalog() == build_catalog(), "the catalogue is stale: python -m msa_bench.models.catalog"
    assert [row["name"] for row in load_catalog()] == builtin_model_names()
    assert {row["fidelity"] for row in load_catalog()} <= {"proven", "declared deviations", "no official code"}
