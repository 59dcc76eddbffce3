"""Mutation benchmark of the official equivalence tests (issue #25; ``tests/mutations.py``).

Every planted bug of :data:`mutations.MUTATIONS` is applied in memory and the forward, training
and schedule comparisons of its model run against it; the report gives the share caught per
model and overall, and the survivors. Goal: at least 95 % caught overall and 85 % per model.

    python -m pytest -m benchmark -p no:cacheprovider -s tests/benchmarks/test_bench_mutations.py

``MSA_BENCH_MUTATION_REPORT=path.md`` also writes the report as Markdown. The run needs the
official fixtures (``../shared/fixtures``); it takes minutes on one core.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from pathlib import Path

import pytest
from mutations import MUTATIONS, checks, is_caught
from shared_paths import FIXTURES

#: The goals of issue #25.
OVERALL_GOAL, MODEL_GOAL = 0.95, 0.85


def report(results: list[tuple[object, str]], seconds: float) -> str:
    by_model = defaultdict(list)
    for mutation, caught in results:
        by_model[mutation.model].append(bool(caught))
    caught = sum(bool(c) for _, c in results)
    lines = [f"{caught}/{len(results)} mutations caught ({caught / len(results):.1%}) in {seconds:.0f} s", "",
             "| model | caught | share |", "| --- | --- | --- |"]
    lines += [f"| `{model}` | {sum(v)}/{len(v)} | {sum(v) / len(v):.0%} |" for model, v in sorted(by_model.items())]
    survivors = [m for m, c in results if not c]
    if survivors:
        lines += ["", "Survivors:", ""] + [f"- `{m.model}` ({m.module}): {m.what}" for m in survivors]
    return "\n".join(lines) + "\n"


def test_mutations_are_caught_by_the_equivalence_tests():
    if not FIXTURES.is_dir():
        pytest.skip(f"official fixtures {FIXTURES} are absent")
    every_check = checks()
    start = time.perf_counter()
    results = [(mutation, is_caught(mutation, every_check)) for mutation in MUTATIONS]
    text = report(results, time.perf_counter() - start)
    print("\n" + text)
    if os.environ.get("MSA_BENCH_MUTATION_REPORT"):
        Path(os.environ["MSA_BENCH_MUTATION_REPORT"]).write_text(text)
    caught = [bool(c) for _, c in results]
    assert sum(caught) / len(caught) >= OVERALL_GOAL, text
    for model in {m.model for m in MUTATIONS}:
        mine = [bool(c) for m, c in results if m.model == model]
        assert sum(mine) / len(mine) >= MODEL_GOAL, f"{model}: {text}"
