"""Content hashes that key every cache: of what a file holds, never of its size or modification time.

A file replaced by another of the same size and time, or copied elsewhere with new times, keys
exactly as its content says. The hash is xxHash's XXH3 (128 bits) over the file mapped into memory
(no copy of its bytes), a view at a time: faster than reading the file, and far faster than
SHA-256 or BLAKE2b (``tests/benchmarks/test_bench_content_hash.py`` compares them with loading
the file).
"""

from __future__ import annotations

import mmap
from collections.abc import Mapping
from pathlib import Path

import xxhash

#: Bytes hashed at a time.
CHUNK = 1 << 24


def file_digest(path: str | Path) -> str:
    """The XXH3-128 hex digest of a file's bytes (any size, in constant memory)."""
    digest = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as handle:
        try:
            mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # an empty file, or a file system that cannot map files
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
            return digest.hexdigest()
        with mapped, memoryview(mapped) as view:
            for start in range(0, len(view), CHUNK):
                digest.update(view[start : start + CHUNK])
    return digest.hexdigest()


def files_digest(files: Mapping[str, Path | None]) -> str:
    """One digest of several files by role or relative name (``{"labels": path, ...}``): the
    names and each file's content; ``None`` or a path to no file counts as absent (whoever reads
    it reports that)."""
    digest = xxhash.xxh3_128()
    for name in sorted(files):
        path = files[name]
        content = file_digest(path) if path is not None and Path(path).is_file() else "absent"
        digest.update(f"{name}\0{content}\n".encode())
    return digest.hexdigest()


def text_digest(text: str) -> str:
    """The XXH3-128 hex digest of a string (UTF-8)."""
    return xxhash.xxh3_128(text.encode()).hexdigest()
