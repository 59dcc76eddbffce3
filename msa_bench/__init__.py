"""msa_bench: a reproducible benchmark suite for multimodal sentiment analysis.

The public API is importable from here; each name is loaded on first use, so that ``import
msa_bench`` (and the command line's start-up) does not pay for torch, datasets or pandas until
they are needed.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_PUBLIC = {
    "Batch": "msa_bench.inputs.batching",
    "ModalityBatch": "msa_bench.inputs.batching",
    "collate": "msa_bench.inputs.batching",
    "make_dataloader": "msa_bench.inputs.loader",
    "load_dataset": "msa_bench.loading.load",
    "MSAMetadata": "msa_bench.data.schema",
    "msa_metadata": "msa_bench.data.schema",
    "unified_features": "msa_bench.data.schema",
    "Targets": "msa_bench.data.targets",
}

__all__ = sorted([*_PUBLIC, "__version__"])


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'msa_bench' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__
