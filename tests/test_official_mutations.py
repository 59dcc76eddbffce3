"""The mutation benchmark's machinery in the default suite (``tests/mutations.py``; the full run
is ``tests/benchmarks/test_bench_mutations.py``): every planted bug still applies to the code, a
handful are caught by the equivalence tests, and the code is whole again afterwards."""

from __future__ import annotations

import pytest
import torch
from mutations import MUTATIONS, checks, is_caught, mutated, mutated_source_differs

#: A few mutations of different kinds: forward arithmetic, a normalisation's statistics, a
#: training-step optimizer group, a label update, an attention stream.
SMOKE = (
    "fusion: 0 instead of 1 prepended",
    "AdaFN: audio restyled with its own statistics",
    "rank weights trained (not in the official groups)",
    "ULGM: sign flip of the shift",
    "queries from the key stream",
)


def test_every_mutation_changes_its_module_once():
    stale = [f"{m.module}: {m.what}" for m in MUTATIONS if not mutated_source_differs(m)]
    assert not stale, f"mutations whose snippet is no longer found exactly once: {stale}"
    assert len(MUTATIONS) >= 80


@pytest.mark.parametrize("what", SMOKE)
def test_a_planted_bug_is_caught_by_the_equivalence_tests(what):
    (mutation,) = [m for m in MUTATIONS if m.what == what]
    assert is_caught(mutation, checks())


def test_a_mutation_is_undone_after_its_block():
    from baselines.tfn import with_one

    (mutation,) = [m for m in MUTATIONS if m.what == SMOKE[0]]
    with mutated(mutation):
        assert with_one(torch.ones(1, 2))[0, 0] == 0
    assert with_one(torch.ones(1, 2))[0, 0] == 1
