"""The model catalogue: what ``msa-bench models`` lists, as data that loads without torch.

``catalog.json`` beside this module holds, per built-in model, its name, the modalities it
reads, the tasks it predicts itself, its paper, its card and the state of its fidelity to the
official code. It is generated from the registry (``python -m msa_bench.models.catalog``) and a
test checks the committed file equals :func:`build_catalog`, so it cannot drift from the code.
``msa-bench models`` reads the file by its path (importing this package would load torch).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

CATALOG = Path(__file__).with_name("catalog.json")


def fidelity_status(statuses: set[str]) -> str:
    """``proven`` (every component tested equal), ``declared deviations`` (some differ, each
    declared with its reason) or ``no official code`` (implemented as the paper describes)."""
    if not statuses or statuses & {"as described"}:
        return "no official code"
    return "proven" if statuses == {"equal"} else "declared deviations"


def build_catalog() -> list[dict]:
    """One row per registered built-in model, sorted by name."""
    from msa_bench.models.registry import builtin_model_names, get_model_class

    rows = []
    for name in builtin_model_names():
        model = get_model_class(name)
        module = sys.modules[model.__module__]
        sources = [str(v["source"]) for v in model.paper_results.values() if v.get("source")]
        summary = (module.__doc__ or model.__doc__ or "").strip().splitlines()[0]
        rows.append({
            "name": name,
            "reads": list(model.input_modalities),
            "tasks": list(model.supported_tasks),
            "paper": sources[0] if sources else summary,
            "card": f"docs/models/{model.__module__.rsplit('.', 1)[-1]}.md",
            "fidelity": fidelity_status({row.status for row in model.fidelity}),
        })
    return rows


def main() -> int:
    CATALOG.write_text(json.dumps(build_catalog(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {CATALOG}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
