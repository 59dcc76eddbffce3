"""The data a worker may see, written for it: one split per folder, nothing that names a source.

A shard keeps the model's inputs (transcript and feature columns), and the labels only for the
splits a training worker learns from. Every other field that could name where an example comes
from (``video_id``, ``clip_id``, ``dataset``, ``source_labels``) is blanked, the dataset's
metadata (source files, report) is left out, and ids are replaced by opaque ones
(``r000012``, ``v000003``, ``t000041``) that the harness alone maps back.

The test shard is also reordered by a hash of each row's inputs: on RAVDESS the dataset's own
order (sorted file names) spells the emotions. The order is a function of the inputs only, so it
is the same on every run and every machine (predictions are computed in the same batches, and
``msa-bench verify`` can compare them bit for bit), and tells the model nothing it does not
already see.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa

from msa_bench.data.schema import MODALITIES, feature_dims
from msa_bench.inputs.batching import InputColumns

#: Columns blanked in every shard: they name sources, not inputs.
SOURCE_COLUMNS: tuple[str, ...] = ("video_id", "clip_id", "dataset", "source_labels")
#: Label columns: kept for training and validation, blanked for the test inputs.
LABEL_COLUMNS: tuple[str, ...] = ("sentiment", "polarity", "intensity", "emotions", "emotion")
ID_PREFIX: dict[str, str] = {"train": "r", "validation": "v", "test": "t"}


def content_order(split: datasets.Dataset) -> list[int]:
    """Row positions sorted by a hash of each row's inputs (transcript and frames); ties by position."""
    table = split.with_format("arrow")[:]
    columns = InputColumns.of(table, feature_dims(split.features))
    keys = []
    for row in range(len(table)):
        digest = hashlib.blake2b(str(columns.texts[row]).encode("utf-8"), digest_size=16)
        for name in MODALITIES:
            frames = columns.frames[name]
            start, count = int(frames.start[row]), int(frames.length[row])
            digest.update(np.int64(count).tobytes())
            if count:
                digest.update(frames.views[int(frames.chunk[row])][start : start + count].tobytes())
        keys.append((digest.digest(), row))
    return [row for _, row in sorted(keys)]


def _nulls(table: pa.Table, name: str) -> pa.Array:
    return pa.nulls(len(table), type=table.schema.field(name).type)


def write_shard(split: datasets.Dataset, folder: Path, name: str, *, labels: bool, order: list[int] | None = None) -> list[str]:
    """Write ``split`` (rows in ``order``, default as stored) as the worker's shard ``name`` under
    ``folder``; return the dataset ids of its rows, in shard order (row k has opaque id k)."""
    table = split.with_format("arrow")[:]
    if order is not None:
        table = table.take(pa.array(order, type=pa.int64()))
    ids = [str(i) for i in table.column("id").to_pylist()]
    blanked = SOURCE_COLUMNS + (() if labels else LABEL_COLUMNS)
    for column in blanked:
        table = table.set_column(table.schema.get_field_index(column), column, _nulls(table, column))
    opaque = pa.array([f"{ID_PREFIX[name]}{k:06d}" for k in range(len(table))], type=pa.string())
    table = table.set_column(table.schema.get_field_index("id"), "id", opaque)
    shard = datasets.Dataset(table, info=datasets.DatasetInfo(features=split.features))
    shown = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # one bar per shard and run would drown the training's progress
    try:
        shard.save_to_disk(str(Path(folder) / name))
    finally:
        if shown:
            datasets.enable_progress_bars()
    return ids
