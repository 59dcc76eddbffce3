"""Records made by hand in tests carry the code section a real run would give them."""

from __future__ import annotations

from msa_bench.records.names import base_name
from msa_bench.records.seal import code_identity


def code_for(name: str, kind: str = "full", reference: bool = False) -> dict:
    """A built-in model's code (its module and the model library), an empty submission, or the
    code section of a predictions-only record or of a reference row."""
    from msa_bench.harness.entry_spec import builtin_code
    from msa_bench.models import builtin_model_names, get_model_class

    if kind == "predictions_only":
        return code_identity("predictions", {}, "msa_bench")
    if reference:
        return code_identity("reference", {}, "msa_bench")
    if base_name(name) in builtin_model_names():
        return builtin_code(get_model_class(base_name(name)))
    return code_identity("submission", {}, "msa_bench", "model.py:Model")
