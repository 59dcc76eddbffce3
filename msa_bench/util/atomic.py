"""Files and folders written whole or not at all, with the permissions the umask asks for.

Everything msa_bench writes for later reading (records, predictions, checkpoints, export shards,
dataset cards, extraction outputs, cached features) goes through here: the content is written to
a temporary name beside the target, flushed to disk, and renamed into place, so a crash, a full
disk or a concurrent reader never sees half a file. ``tempfile.mkstemp`` creates files with mode
0600 whatever the umask; here the final mode is ``0666 & ~umask``, as ``open()`` would give.
An OS error while writing (full disk, read-only file system, permission denied) names the file
asked for, never the temporary name or nothing (``write()`` on a full disk names no file).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def naming(err: OSError, path: Path, temporary: Path | None = None) -> OSError:
    """``err`` naming ``path`` where it names no file, or a file under ``temporary`` (the same
    place under ``path``); ``err`` itself where it already names another file."""
    name = None if err.filename is None else str(err.filename)
    if name is not None and (temporary is None or not name.startswith(str(temporary))):
        return err
    inside = "" if name is None else name[len(str(temporary)) :]
    return OSError(err.errno, err.strerror or str(err), f"{path}{inside}")  # the errno's own subclass


def stage(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Run ``write(temporary)`` for a temporary file beside ``path``; return it flushed and with
    the umask's mode, ready for ``os.replace``. The temporary file is removed if ``write`` fails."""
    path = Path(path)
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
        temporary = Path(name)
        write(temporary)
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, 0o666 & ~umask())
    except BaseException as err:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise naming(err, path, temporary)
        raise
    return temporary


def atomic_write(path: str | Path, write: Callable[[Path], object]) -> Path:
    """Write ``path`` through ``write(temporary_path)`` atomically; return ``path``."""
    temporary = stage(path, write)
    try:
        os.replace(temporary, path)
    except OSError as err:
        temporary.unlink(missing_ok=True)
        raise naming(err, Path(path), temporary)
    return Path(path)


def write_text(path: str | Path, text: str) -> Path:
    """``Path.write_text`` (UTF-8), atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


@contextmanager
def atomic_dir(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (an earlier
    folder there is removed only after the new one is in place); on failure it is removed."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    except OSError as err:
        raise naming(err, path)
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    try:
        yield temporary
        os.chmod(temporary, 0o777 & ~umask())
        if path.exists():
            os.replace(path, old)
        os.replace(temporary, path)
    except BaseException as err:
        if old.exists() and not path.exists():  # put the earlier folder back
            os.replace(old, path)
        shutil.rmtree(temporary, ignore_errors=True)
        if isinstance(err, OSError):
            raise naming(err, path, temporary)
        raise
    shutil.rmtree(old, ignore_errors=True)
