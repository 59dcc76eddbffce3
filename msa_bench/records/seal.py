"""The hashes that seal a record: its predictions file, its model code, and the record itself.

- ``predictions_sha256``: sha256 of the predictions parquet file's bytes (``sha256sum`` gives it).
- ``code``: ``{"kind", "files": {name: sha256}, "hash", "package", "entry"}``; ``hash`` is the
  sha256 of the lines ``<sha256>  <name>\\n`` of every file, sorted by name (the format
  ``sha256sum`` prints, so ``sha256sum FILES | sort -k2 | sha256sum`` recomputes it from the
  files). Built-in models: their baseline module and the model library ``msa_bench/models/*.py``;
  submissions: the submission file and every module it imported from its own folder (archived
  beside the records); predictions-only submissions and reference rows: the files named.
- ``record_hash``: sha256 of the record's canonical JSON (sorted keys, no whitespace, UTF-8) with
  every field but ``record_hash`` itself.

The hashes are public: an edit followed by recomputing every hash cannot be told from a real
record by hashes alone. That is what re-running a record (``msa-bench verify``) is for.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path

#: The record format written by this version (see the docs' record format page).
FORMAT_VERSION = 2
CODE_KINDS: tuple[str, ...] = ("builtin", "submission", "predictions", "reference")
_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def files_hash(files: Mapping[str, str]) -> str:
    """The hash of a set of files from their sha256 sums (see the module docstring)."""
    listing = "".join(f"{digest}  {name}\n" for name, digest in sorted(files.items()))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


def code_identity(kind: str, files: Mapping[str, Path], package: str, entry: str = "") -> dict:
    """A record's ``code`` section for ``files`` (name in the record -> file to hash); ``entry``
    names what runs (a built-in model's name, or ``file.py:Class`` within the archived files)."""
    if kind not in CODE_KINDS:
        raise ValueError(f"code kind must be one of {CODE_KINDS}, got {kind!r}")
    sums = {name: file_sha256(path) for name, path in files.items()}
    return {"kind": kind, "files": dict(sorted(sums.items())), "hash": files_hash(sums), "package": package, "entry": entry}


def json_safe(value):
    """``value`` with NaN and infinities replaced by ``None`` (JSON has no NaN), recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def canonical_json(value: object) -> str:
    """Sorted keys, no whitespace, NaN and infinities as ``null``, UTF-8 text."""
    return json.dumps(json_safe(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def record_hash(fields: Mapping[str, object]) -> str:
    """sha256 of the canonical JSON of every field but ``record_hash``."""
    return hashlib.sha256(canonical_json({k: v for k, v in fields.items() if k != "record_hash"}).encode("utf-8")).hexdigest()
