"""Splits chosen by the user, applied after any builder: ``split_file`` and ``validation_fraction``.

Every dataset ``load_dataset`` returns (a built one, an ``msa-bench extract`` folder, the
synthetic one) can be split again with one of two dataset options:

* ``split_file``: a CSV with the columns ``id,split`` that assigns every example to ``train``,
  ``validation`` or ``test``;
* ``validation_fraction``: moves about that share of the training examples to validation, as whole
  groups of the ``video_id`` column (a RAVDESS actor, a MOSI/MOSEI video, a synthetic video), so
  that validation speakers or videos never also train. The groups are taken in the order of a hash
  of their name: the choice is deterministic and does not depend on which other groups exist.

Rows are selected, never copied; the new split sizes and what was done go to the metadata report.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import replace
from pathlib import Path

import datasets
import numpy as np

from msa_bench.data.schema import MSAMetadata
from msa_bench.loading.describe import split_scheme
from msa_bench.sources.common import SPLIT_NAMES, SPLITS
from msa_bench.util.errors import ConfigError, MissingFileError, UserError

#: The dataset options this module handles, accepted by every dataset.
SPLIT_OPTIONS: tuple[str, ...] = ("split_file", "validation_fraction")
#: How many offending lines or ids a split-file error quotes.
QUOTED = 3


class SplitFileError(UserError):
    """A ``split_file`` that does not assign every example exactly once to a known split."""


def pop_split_options(config: dict) -> dict[str, object]:
    """Remove :data:`SPLIT_OPTIONS` from ``config`` and return those given (not ``None``)."""
    return {key: value for key in SPLIT_OPTIONS if (value := config.pop(key, None)) is not None}


def resplit(
    dataset: datasets.DatasetDict, split_file: str | Path | None = None, validation_fraction: float | None = None
) -> datasets.DatasetDict:
    """``dataset`` split by ``split_file`` or with ``validation_fraction`` of train moved to
    validation (see the module docstring); unchanged when neither is given."""
    if split_file is not None and validation_fraction is not None:
        raise ConfigError(
            "split_file and validation_fraction cannot be combined: the split file already assigns every "
            "example; give it the validation rows you want, or drop split_file"
        )
    if split_file is not None:
        return apply_split_file(dataset, Path(str(split_file)))
    if validation_fraction is not None:
        return move_to_validation(dataset, validation_fraction)
    return dataset


def _column(rows: datasets.Dataset, name: str) -> list:
    return rows.select_columns([name])[:][name] if len(rows) else []


def _all_rows(dataset: datasets.DatasetDict) -> datasets.Dataset:
    parts = [dataset[split] for split in SPLITS if split in dataset and len(dataset[split])]
    if not parts:
        return dataset[next(iter(dataset))]
    return datasets.concatenate_datasets(parts) if len(parts) > 1 else parts[0]


def _with_report(rows: datasets.Dataset, indices: dict[str, list[int]], resplit_report: dict, scheme: str) -> datasets.DatasetDict:
    """The splits ``indices`` of ``rows``, each carrying the metadata report with ``resplit`` and
    the new ``split_scheme`` (which records name as their data's split scheme)."""
    metadata = MSAMetadata.from_info(rows.info)
    examples = {split: len(indices[split]) for split in SPLITS}
    resplit_report = {**resplit_report, "from": split_scheme(metadata.report)}
    report = {**metadata.report, "examples": examples, "split_scheme": scheme, "resplit": resplit_report}
    if "empty_splits" in report:
        report["empty_splits"] = [split for split in SPLITS if not examples[split]]
    description = replace(metadata, report=report).to_description()
    result = {}
    for split in SPLITS:
        selected = rows.select(indices[split])
        selected.info.description = description
        result[split] = selected
    return datasets.DatasetDict(result)


def read_split_file(path: Path) -> list[tuple[int, str, str]]:
    """``(line number, id, split)`` per data line of a CSV ``id,split`` (other columns ignored)."""
    if not path.is_file():
        raise MissingFileError(f"{path}: split file not found; split_file takes a CSV with the columns id,split")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or not {"id", "split"} <= set(reader.fieldnames):
                raise SplitFileError(
                    f"{path}: a split file needs a header line with the columns id,split "
                    f"(found: {','.join(reader.fieldnames or []) or 'an empty file'})"
                )
            return [(reader.line_num, (row["id"] or "").strip(), (row["split"] or "").strip()) for row in reader]
    except (UnicodeDecodeError, csv.Error) as err:
        raise SplitFileError(f"{path}: not a readable CSV file ({err}); a split file has the columns id,split") from None


def _quote(lines: list[tuple[int, str, str]]) -> str:
    shown = "; ".join(f"line {number}: {id_},{split}" for number, id_, split in lines[:QUOTED])
    return shown + (f" (and {len(lines) - QUOTED} more)" if len(lines) > QUOTED else "")


def apply_split_file(dataset: datasets.DatasetDict, path: Path) -> datasets.DatasetDict:
    """``dataset`` split as the CSV ``path`` says; every example must be listed exactly once."""
    lines = read_split_file(path)
    rows = _all_rows(dataset)
    ids = _column(rows, "id")
    known = set(ids)
    seen: Counter[str] = Counter()
    unknown_split, unknown_id, repeated = [], [], []
    for line in lines:
        _, id_, split = line
        seen[id_] += 1
        if split.lower() not in SPLIT_NAMES:
            unknown_split.append(line)
        elif id_ not in known:
            unknown_id.append(line)
        elif seen[id_] > 1:
            repeated.append(line)
    missing = [id_ for id_ in ids if id_ not in seen]
    problems = []
    if unknown_split:
        problems.append(f"{len(unknown_split)} line(s) name a split other than train, validation (or valid, dev) or test ({_quote(unknown_split)})")
    if unknown_id:
        problems.append(f"{len(unknown_id)} line(s) name an id that is not in the dataset ({_quote(unknown_id)})")
    if repeated:
        problems.append(f"{len(repeated)} line(s) repeat an id listed before ({_quote(repeated)})")
    if missing:
        shown = ", ".join(missing[:QUOTED]) + (f" and {len(missing) - QUOTED} more" if len(missing) > QUOTED else "")
        problems.append(f"{len(missing)} example(s) of the dataset are not listed ({shown})")
    if problems:
        raise SplitFileError(
            f"{path}: the split file must assign every example of the dataset exactly once to train, validation "
            f"or test; " + "; ".join(problems) + ". The ids are the dataset's `id` column, <video_id>_<clip_id>"
            + (f", e.g. {ids[0]}." if ids else ".")
        )
    split_of = {id_: SPLIT_NAMES[split.lower()] for _, id_, split in lines}
    indices = {split: [i for i, id_ in enumerate(ids) if split_of[id_] == split] for split in SPLITS}
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return _with_report(rows, indices, {"split_file": str(path), "sha256": digest}, f"split_file={path.name} sha256:{digest}")


def _group_order(groups: list[str]) -> list[str]:
    return sorted(groups, key=lambda group: hashlib.sha256(group.encode("utf-8")).hexdigest())


def move_to_validation(dataset: datasets.DatasetDict, fraction: float) -> datasets.DatasetDict:
    """``dataset`` with about ``fraction`` of its training examples moved to validation, as whole
    ``video_id`` groups; at least one group moves and at least one stays."""
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
        raise ConfigError(f"validation_fraction must be a number between 0 and 1 (exclusive), got {fraction!r}")
    train = dataset["train"]
    groups = _column(train, "video_id")
    sizes = Counter(groups)
    if len(sizes) < 2:
        held = f"one group ({next(iter(sizes))})" if sizes else "no examples"
        raise UserError(
            f"validation_fraction={fraction}: the training split holds {held}, and validation takes whole "
            "speakers/videos (the video_id column) from it, so at least two are needed; add data to the training "
            "split, or assign the splits yourself with split_file=ids.csv (a CSV with the columns id,split)"
        )
    order = _group_order(list(sizes))
    moved_so_far = np.cumsum([sizes[group] for group in order])[:-1]  # at least one group stays
    count = int(np.argmin(np.abs(moved_so_far - fraction * len(train)))) + 1
    moved = set(order[:count])
    rows = _all_rows(dataset)
    row_groups = _column(rows, "video_id")
    row_splits = [split for split in SPLITS for _ in range(len(dataset[split]))]
    indices = {split: [] for split in SPLITS}
    for index, (split, group) in enumerate(zip(row_splits, row_groups)):
        indices["validation" if split == "train" and group in moved else split].append(index)
    report = {"validation_fraction": fraction, "moved_to_validation": sorted(moved), "examples_moved": int(moved_so_far[count - 1])}
    base = MSAMetadata.from_info(rows.info).report.get("split_scheme", "default")
    return _with_report(rows, indices, report, f"{base}+validation_fraction={fraction}")
