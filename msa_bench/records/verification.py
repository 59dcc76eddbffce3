"""Verification entries: the result of re-running a record, written beside it by ``msa-bench verify``.

``<entry>/verified/seed<N>.json`` holds who re-ran the seed, where, when, the record hash it
re-ran, the result (``identical`` or ``differs``, with the largest difference) and the re-run's
hashes. A record counts as verified while its ``record_hash`` is the one the entry re-ran with the
result ``identical``: any later change of the record drops the mark.
"""

from __future__ import annotations

import json
from pathlib import Path

from msa_bench.records.record import ResultRecord

VERIFIED_FOLDER = "verified"


def verification_path(record_file: str | Path) -> Path:
    record_file = Path(record_file)
    return record_file.parent / VERIFIED_FOLDER / record_file.name


def read_verification(record_file: str | Path) -> dict | None:
    try:
        entry = json.loads(verification_path(record_file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return entry if isinstance(entry, dict) else None


def is_verified(record_file: str | Path, record: ResultRecord) -> bool:
    """Whether ``record`` was re-run identically since its last change."""
    entry = read_verification(record_file)
    return entry is not None and entry.get("record_hash") == record.record_hash and entry.get("result") == "identical"
