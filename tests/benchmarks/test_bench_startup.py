"""Start-up of the first commands a newcomer types, as whole processes, against ``python -c pass``.

Goal: ``--help``, ``datasets``, ``models`` and ``info synthetic`` each start in at most 1.5 s.
Each command's median wall time and its excess over the bare interpreter are in ``extra_info``
(seconds); the benchmark's own figure is the command's time.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time

import pytest

COMMANDS = {"help": ["--help"], "datasets": ["datasets"], "models": ["models"], "info_synthetic": ["info", "synthetic"]}
ROUNDS = 5


def _median_seconds(command: list[str]) -> float:
    times = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_start_up(benchmark, name, tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))
    executable = shutil.which("msa-bench") or f"{sys.executable} -m msa_bench"
    command = [*executable.split(), *COMMANDS[name]]
    subprocess.run(command, check=True, capture_output=True)  # builds the synthetic cache for info
    bare = _median_seconds([sys.executable, "-c", "pass"])
    seconds = benchmark.pedantic(lambda: subprocess.run(command, check=True, capture_output=True), rounds=ROUNDS, iterations=1)
    median = benchmark.stats.stats.median
    benchmark.extra_info.update({"median_s": round(median, 3), "python_pass_s": round(bare, 3), "excess_s": round(median - bare, 3), "goal_s": 1.5})
    assert seconds is not None
