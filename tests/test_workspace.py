"""Commands write under a workspace, never into the repository unless told so."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from msa_bench.records.workspace import ENVIRONMENT_VARIABLE, Workspace

ROOT = Path(__file__).resolve().parents[1]


def test_the_default_workspace_is_msa_bench_runs_or_the_environment_variable(monkeypatch, tmp_path):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    assert Workspace.resolve().root == Path("msa_bench_runs")
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, str(tmp_path))
    assert Workspace.resolve().records == tmp_path / "records"
    assert Workspace.resolve(tmp_path / "other").runs == tmp_path / "other" / "runs"


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="not a git checkout")
def test_what_a_run_writes_in_a_clone_is_ignored_by_git():
    """``msa-bench run`` in a fresh clone writes ./msa_bench_runs (records, runs, staging, pages);
    runs beside the committed boards leave run folders, staging and superseded records."""
    written = [
        "msa_bench_runs/records/synthetic/lf_dnn/seed1111.json", "msa_bench_runs/runs/synthetic/lf_dnn/k/seed1111/checkpoint.pt",
        "msa_bench_runs/LEADERBOARD.md", "msa_bench_runs/site/index.html", "msa_bench_runs/records-staging/synthetic/x/t/seed1.json",
        "leaderboard/runs/synthetic/lf_dnn/k/seed1111/checkpoint.pt", "leaderboard/records-staging/synthetic/lf_dnn/t/seed1.json",
        "leaderboard/records-superseded/synthetic/lf_dnn/20261206/seed1111.json", "leaderboard/real/runs/mosi/x/k/seed1/checkpoint.pt",
        "leaderboard/real/extractions/mosi-minilm/dataset/data.arrow",
    ]
    result = subprocess.run(["git", "check-ignore", "--no-index", *written], cwd=ROOT, capture_output=True, text=True)
    assert sorted(result.stdout.split()) == sorted(written)
    kept = ["leaderboard/records/synthetic/lf_dnn/seed1111.json", "leaderboard/LEADERBOARD.md", "leaderboard/real/records/mosi/x/seed1.json"]
    assert subprocess.run(["git", "check-ignore", "--no-index", *kept], cwd=ROOT, capture_output=True, text=True).stdout == ""
