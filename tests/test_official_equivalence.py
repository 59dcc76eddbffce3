"""Baselines against the official code (issue #15, part A): the official weights loaded through
each model's ``official_state_dict`` mapping must reproduce the official outputs.

Every size and setting is read from the fixture (``meta.json`` and tensor shapes); see
``tests/official_fixtures.py``. Also: the fidelity tables in the README and cards are the
generated text.
"""

from __future__ import annotations

import pytest

from msa_bench.models.fidelity import FidelityRow, fidelity_markdown, render_documents


def test_fidelity_documents_are_generated_from_the_models():
    stale = [str(path) for path, text in render_documents().items() if not path.is_file() or path.read_text() != text]
    assert not stale, f"run `python -m msa_bench.models.fidelity` to regenerate: {stale}"


def test_fidelity_rows_need_a_known_status_and_a_reason_when_not_equal():
    with pytest.raises(ValueError, match="status"):
        FidelityRow("x", "a", "b", "close")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs a reason"):
        FidelityRow("x", "a", "b", "deviation")
    table = fidelity_markdown([FidelityRow("mask", "causal", "a|b", "option", "ours is non-causal")])
    assert table.splitlines()[2] == "| mask | causal | a\\|b | option (ours is non-causal) |"
