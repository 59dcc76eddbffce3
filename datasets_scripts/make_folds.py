"""Write the SDK standard folds shipped in ``msa_bench/sources/folds/`` from the real fold files.

    python datasets_scripts/make_folds.py "$MSA_BENCH_SHARED_DATA"

reads ``<data>/{mosi,mosei}/std_folds.json`` (``train``/``valid``/``test`` video-id lists) and
writes ``msa_bench/sources/folds/{mosi,mosei}.json`` with unified split names
(``train``/``validation``/``test``). pyproject's package data includes ``msa_bench/sources/folds/*.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PACKAGE_DATA = Path(__file__).resolve().parents[1] / "msa_bench" / "sources" / "folds"
SPLITS = {"train": "train", "valid": "validation", "test": "test"}


def main(shared_data: Path) -> None:
    for name in ("mosi", "mosei"):
        folds = json.loads((shared_data / name / "std_folds.json").read_text())
        unified = {SPLITS[split]: sorted(folds[split]) for split in SPLITS}
        out = PACKAGE_DATA / f"{name}.json"
        out.write_text(json.dumps(unified, indent=0) + "\n")
        print(out, {split: len(ids) for split, ids in unified.items()})


if __name__ == "__main__":
    main(Path(sys.argv[1]))
