"""From checked records to boards of entries, refusing what does not belong.

A board gathers the records of one dataset made on one feature set (``config["data"]["features"]``;
reference rows join the board of their dataset fingerprint); on it, the records must share one
dataset fingerprint and one set of test ids, and the records of one name must be seeds of one
config. Where they disagree the majority stays and the others are refused with the reason; with
no majority, all of them are. Every refusal names the file (:mod:`msa_bench.board.refusals`).
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from pathlib import Path

import datasets
import numpy as np
import pandas as pd

from msa_bench.board.entries import (
    Board,
    Entry,
    LeaderboardError,
    board_anchor,
    features_of,
    is_builtin,
    model_card,
)
from msa_bench.board.load import CheckedRecord, check_record
from msa_bench.board.refusals import Refusal, attempt
from msa_bench.records.record import record_files, summarize
from msa_bench.records.store import predictions_digest
from msa_bench.records.verification import is_verified
from msa_bench.scoring.metrics import confusion_matrix, seed_bootstrap_scores


def load_boards(
    records_dir: str | Path,
    n_resamples: int,
    seed: int,
    datasets_by_name: Mapping[str, datasets.DatasetDict] | None = None,
) -> tuple[list[Board], list[Refusal]]:
    """The boards of every valid record under ``records_dir`` (sorted by dataset and feature set)
    and the refused records, each with its reason. ``datasets_by_name``: datasets whose test
    labels the predictions files are checked against."""
    records_dir = Path(records_dir)
    refused: list[Refusal] = []
    checked = []
    for path in record_files(records_dir):
        item = attempt(refused, path.relative_to(records_dir).as_posix(), lambda path=path: check_record(path, records_dir, datasets_by_name))
        if item is not None:
            checked.append(item)
    groups = _board_groups(checked)
    per_dataset = Counter(dataset for dataset, _ in groups)
    boards = []
    for (dataset, features), items in sorted(groups.items()):
        items = _on_the_same_data(items, refused)
        entries = []
        for group in _entries_by_name(items, refused):
            entry = attempt(refused, f"{dataset}/{group[0].record.model}/", lambda group=group: build_entry(group, n_resamples, seed))
            if entry is not None:
                entries.append(entry)
        boards.append(Board(dataset, features, entries, board_anchor(dataset, features, per_dataset[dataset] > 1)))
    return boards, sorted(refused, key=lambda r: r.what)


def _majority(values: list[Hashable]) -> Hashable | None:
    """The value more frequent than every other, or ``None`` on a tie."""
    counts = Counter(values).most_common(2)
    if not counts or (len(counts) == 2 and counts[0][1] == counts[1][1]):
        return None
    return counts[0][0]


def _board_groups(checked: list[CheckedRecord]) -> dict[tuple[str, str], list[CheckedRecord]]:
    """Records by (dataset, feature set); a reference row joins the board of its fingerprint (it
    may read other features of the same data, e.g. functionals beside low-level descriptors)."""
    groups: dict[tuple[str, str], list[CheckedRecord]] = {}
    references = []
    for item in checked:
        if item.record.config.get("reference"):
            references.append(item)
        else:
            groups.setdefault((item.record.dataset, features_of(item.record.config)), []).append(item)
    fingerprints = {key: _majority([i.record.dataset_fingerprint for i in items]) for key, items in groups.items()}
    for item in references:
        home = [key for key in sorted(groups) if key[0] == item.record.dataset and fingerprints[key] == item.record.dataset_fingerprint]
        groups.setdefault(home[0] if home else (item.record.dataset, features_of(item.record.config)), []).append(item)
    return groups


def _keep_majority(
    items: list[CheckedRecord], refused: list[Refusal], key: Callable[[CheckedRecord], Hashable], differs: Callable[[CheckedRecord, Hashable], str], tie: str
) -> list[CheckedRecord]:
    """The items whose ``key`` is the majority's; the others are refused (all of them on a tie)."""
    common = _majority([key(i) for i in items])
    kept = []
    for item in items:
        if common is None:
            refused.append(Refusal(item.name, tie))
        elif key(item) != common:
            refused.append(Refusal(item.name, differs(item, common)))
        else:
            kept.append(item)
    return kept


def _on_the_same_data(items: list[CheckedRecord], refused: list[Refusal]) -> list[CheckedRecord]:
    """One dataset fingerprint and one set of test ids per board."""
    items = _keep_majority(
        items, refused, lambda i: i.record.dataset_fingerprint,
        lambda i, common: f"its dataset fingerprint {i.record.dataset_fingerprint!r} differs from the board's {common!r}: "
        "it was trained or scored on other data",
        "the records of this board name different dataset fingerprints and none has a majority: it cannot tell which data is the board's",
    )

    def other_ids(item: CheckedRecord, common: Hashable) -> str:
        ids = frozenset(item.predictions["id"])
        return f"its predictions miss {len(common - ids)} and add {len(ids - common)} of the board's {len(common)} test ids"

    return _keep_majority(
        items, refused, lambda i: frozenset(i.predictions["id"]), other_ids,
        "the records of this board cover different test ids and none has a majority",
    )


def _entries_by_name(items: list[CheckedRecord], refused: list[Refusal]) -> list[list[CheckedRecord]]:
    """The records of each name, seeds of one entry: one kind, one config, one model code
    (:meth:`msa_bench.records.record.ResultRecord.entry_identity`). The seeds of a predictions-only submission share them
    too (their config and code name the dataset, not each seed's file), so they make one entry."""
    by_name: dict[str, list[CheckedRecord]] = {}
    for item in items:
        by_name.setdefault(item.record.model, []).append(item)

    def differs(item: CheckedRecord, common: Hashable) -> str:
        kind, name, config, _ = common
        if item.record.kind != kind:
            return f"a {item.record.kind} record under the name {name!r}, whose other records are {kind}"
        what = "config" if item.record.config_hash != config else "model code"
        return (
            f"the name {name!r} holds more records of another {what}; records of one name are seeds of one config "
            "and one model code — use another name"
        )

    groups = []
    for model, group in sorted(by_name.items()):
        tie = (
            f"the records of {model!r} were made with different configs or model code and none has a majority; "
            "records of one name are seeds of one config and one model code"
        )
        kept = _keep_majority(group, refused, lambda i: i.record.entry_identity(), differs, tie)
        if kept:
            groups.append(sorted(kept, key=lambda i: i.record.seed))
    return groups


def build_entry(group: list[CheckedRecord], n_resamples: int, seed: int) -> Entry:
    """The entry of one name's checked records (seeds of one config), its bootstrap scores
    included. Checks of a whole entry go here: what raises refuses the entry (:func:`attempt`)."""
    model = group[0].record.model
    tables = [i.predictions for i in group]
    if group[0].record.kind == "full" and not group[0].record.config.get("reference"):
        first_seed: dict[str, int] = {}
        for item in group:
            seen = first_seed.setdefault(predictions_digest(item.predictions), item.record.seed)
            if seen != item.record.seed:
                raise LeaderboardError(f"seeds {seen} and {item.record.seed} have identical predictions: a copied seed")
    return Entry(
        model=model,
        kind=group[0].record.kind,
        records=[i.record for i in group],
        summary=summarize([i.metrics for i in group]),
        scores=seed_bootstrap_scores(tables, n_resamples=n_resamples, seed=seed, seed_draws=zlib.crc32(model.encode())),
        ids=frozenset(tables[0]["id"]),
        card=model_card(model),
        builtin=is_builtin(model),
        confusion=_pooled_confusion(tables),
        verified=all(is_verified(item.path, item.record) for item in group),
    )


def _pooled_confusion(tables: list[pd.DataFrame]) -> np.ndarray | None:
    """The categorical emotion's confusion counts summed over seeds, if the entry predicts it
    (a sentiment-only submission on a dataset labelled with emotions has none)."""
    if not all((t["emotion_true"] >= 0).any() and (t["emotion_pred"] >= 0).any() for t in tables):
        return None
    return sum(confusion_matrix(t["emotion_true"], t["emotion_pred"]) for t in tables)
