"""What a ``data_dir`` holds: the checks made before any build, and a guess at which dataset a
folder of source files belongs to (for the hint when it is given to the wrong one)."""

from __future__ import annotations

import re
from pathlib import Path

from msa_bench.builders import EXTRACT_ONLY, GENERATED
from msa_bench.util.errors import ConfigError, MissingFileError

#: Top-level names that only one dataset's files carry, checked in this order.
SIGNATURES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("ravdess", re.compile(r"^(Actor_\d\d|Audio_(Speech|Song)_Actors_01-24\.zip|Video_(Speech|Song)_Actor_\d\d\.zip)$")),
    ("mosei", re.compile(r"^CMU_MOSEI_")),
    ("mosi", re.compile(r"^(CMU_MOSI_|OpinionLevelSentiment\.csv$)")),
    ("moud", re.compile(r"^transcriptions$")),
)


def check_data_dir(name: str, data_dir: Path | None) -> None:
    """Refuse a ``data_dir`` that does not exist, or one given to a dataset made in code."""
    if data_dir is None:
        return
    if name in GENERATED:
        raise ConfigError(f"{data_dir}: the {name} dataset is generated in code and reads no files; drop --data-dir")
    if not data_dir.exists():
        raise MissingFileError(
            f"{data_dir}: no such folder; --data-dir takes the folder holding {name}'s source files or an "
            "`msa-bench extract` output folder (see `msa-bench datasets` for what each dataset reads)"
        )


def guess_dataset(folder: Path) -> str | None:
    """The dataset whose files ``folder`` holds, from the names at its top level; ``None`` when
    nothing there belongs to one dataset only."""
    if not folder.is_dir():
        return None
    names = [path.name for path in folder.iterdir()]
    for dataset, pattern in SIGNATURES:
        if any(pattern.search(name) for name in names):
            return dataset
    return None


def wrong_dataset_hint(name: str, folder: Path | None) -> str:
    """A sentence for an error about ``folder`` when it looks like another dataset's files, else ``""``."""
    guess = None if folder is None else guess_dataset(folder)
    if guess is None or guess == name:
        return ""
    if guess in EXTRACT_ONLY:
        return f"{folder} looks like {guess} raw media, which `msa-bench extract {guess} --data-dir {folder} --out FEATURES` reads."
    return f"{folder} looks like a {guess} folder, not {name}: did you mean the dataset {guess} (`msa-bench info {guess} --data-dir {folder}`)?"
