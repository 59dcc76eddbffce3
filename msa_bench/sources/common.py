"""Pieces every source reader shares: the labelled-segment record, errors, feature checks."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from msa_bench.util.errors import UserError

#: Split names in the sources (MMSA ``valid``, MOSI label.csv ``dev``) -> unified split names.
SPLIT_NAMES: dict[str, str] = {
    "train": "train",
    "valid": "validation",
    "validation": "validation",
    "dev": "validation",
    "test": "test",
}
SPLITS: tuple[str, ...] = ("train", "validation", "test")


class SourceFileError(UserError, ValueError):
    """A source file exists but cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = str(path)
        self.problem = problem


class DataNotFoundError(UserError, FileNotFoundError):
    """A dataset's source files are neither in ``data_dir`` nor downloadable.

    The message lists the files needed, where they come from, and how to pass ``data_dir``.
    """

    def __init__(self, dataset: str, reason: str, needed: Mapping[str, str]) -> None:
        lines = [f"{dataset}: {reason}", "Files needed (one source format is enough):"]
        lines += [f"  {name}  <- {origin}" for name, origin in needed.items()]
        lines += [
            "Put them in one folder and pass it as data_dir:",
            f'  msa_bench.load_dataset("{dataset}", data_dir="/path/to/folder")',
            f"  msa-bench info {dataset} --data-dir /path/to/folder",
        ]
        super().__init__("\n".join(lines))
        self.dataset = dataset
        self.needed = dict(needed)


@dataclass
class Segment:
    """One labelled segment (clip) as read from a source, before mapping to the unified schema.

    ``emotions`` holds MOSEI's raw emotion columns (happy, sad, ...) or ``None``; ``split`` is
    the source's own split (unified name) or ``None`` when the source has none.
    """

    video_id: str
    clip_id: str
    sentiment: float | None
    emotions: dict[str, float] | None = None
    start: float | None = None
    end: float | None = None
    text: str | None = None
    split: str | None = None
    source_labels: dict = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.video_id}_{self.clip_id}"


def unified_split(name: str, path: str | Path) -> str:
    """The unified split name of a source split name (``valid``, ``dev`` -> ``validation``)."""
    try:
        return SPLIT_NAMES[str(name).strip().lower()]
    except KeyError:
        raise SourceFileError(path, f"unknown split name {name!r} (expected one of {sorted(SPLIT_NAMES)})") from None


def finite_features(array: np.ndarray) -> tuple[np.ndarray, int]:
    """``array`` as float32 with NaN and +/-inf replaced by 0.0, and how many values were replaced.

    MMSA's audio holds ``-inf`` (log of zero energy) and SDK features hold occasional NaN; 0.0
    is what MMSA's own loader substitutes, so results stay comparable. Builders report the count.
    """
    array = np.asarray(array, dtype=np.float32)
    bad = ~np.isfinite(array)
    count = int(bad.sum())
    if count:
        array = np.where(bad, np.float32(0.0), array)
    return array, count


def _walk(root: str | Path) -> Iterator[tuple[str, list[str]]]:
    """``(folder, names of its non-folder entries)`` under ``root``, following symbolic links to
    folders; a link loop is walked once."""
    seen = set()
    for folder, subfolders, names in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:
            subfolders.clear()
            continue
        seen.add(real)
        yield folder, names


def files_under(root: str | Path) -> list[Path]:
    """Every file under ``root``, sorted, following symbolic links to folders and files (datasets
    are often kept on a shared disk and linked); a link loop is walked once."""
    return sorted(Path(folder, name) for folder, names in _walk(root) for name in names if os.path.isfile(os.path.join(folder, name)))


def dangling_links(root: str | Path) -> list[Path]:
    """Symbolic links under ``root`` whose target does not exist (a moved or unmounted disk),
    sorted: :func:`files_under` cannot list them, so readers report them instead."""
    return sorted(
        Path(folder, name) for folder, names in _walk(root) for name in names if not os.path.exists(os.path.join(folder, name))
    )


def file_checksum(path: str | Path) -> dict[str, object]:
    """Size and SHA-256 of a file (recorded in the build report for every downloaded file)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"num_bytes": Path(path).stat().st_size, "sha256": digest.hexdigest()}
