"""Batches for training and scoring: rows read from Arrow, split into inputs and targets.

Every loader here yields ``(batch, targets)`` pairs: :class:`~msa_bench.batching.Batch` (built by
:mod:`msa_bench.batching`, which reads input columns only) for the model and
:class:`~msa_bench.targets.Targets` for the loss and the scorer.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import datasets
import numpy as np
import pyarrow as pa
import torch

from msa_bench.batching import Batch, collate
from msa_bench.runtime import seed_worker
from msa_bench.schema import feature_dims
from msa_bench.targets import Targets, collate_targets

#: One step's data: the model's inputs and, on the trainer's side, their labels.
LabelledBatch = tuple[Batch, Targets]

#: Splits up to this Arrow size are read into memory once and re-batched each epoch; larger
#: splits stream from Arrow batch by batch.
IN_MEMORY_BYTES = 512 * 2**20

#: Batch size of every evaluation (validation, test, robustness): predictions do not depend on it.
EVAL_BATCH_SIZE = 256


def collate_labelled(examples: Sequence[dict], dims: dict[str, int] | None = None) -> LabelledBatch:
    """``(inputs, targets)`` of rows of the unified schema."""
    return collate(examples, dims), collate_targets(examples)


def _sequences_from_arrow(column: pa.ChunkedArray, dim: int) -> list[np.ndarray | None]:
    """Rows of a :func:`~msa_bench.schema.frame_sequence` column as (L, dim) arrays (``None`` for null)."""
    rows: list[np.ndarray | None] = []
    for chunk in column.chunks:
        storage = chunk.storage if hasattr(chunk, "storage") else chunk
        lengths = storage.value_lengths().to_numpy(zero_copy_only=False)
        values = storage.flatten().flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        frames = values.reshape(-1, dim)
        start = 0
        for valid, length in zip(storage.is_valid().to_numpy(zero_copy_only=False), lengths):
            if not valid:
                rows.append(None)
                continue
            rows.append(frames[start : start + int(length)])
            start += int(length)
    return rows


class TorchDataset(torch.utils.data.Dataset):
    """A ``datasets.Dataset`` in the unified schema as a map-style torch dataset.

    Reads whole batches from the memory-mapped Arrow record batches (``__getitems__``), keeps
    null modalities as ``None``, and never loads the split into memory.
    """

    def __init__(self, split: datasets.Dataset) -> None:
        self.record_batches = split.data.table.to_batches()
        self.offsets = np.cumsum([0] + [b.num_rows for b in self.record_batches])
        # A selected/shuffled Dataset reads through an indices mapping (datasets keeps it private).
        mapping = split._indices
        self.rows = None if mapping is None else mapping.column(0).to_numpy().astype(np.int64)
        self.length = len(split)
        self.dims = feature_dims(split.features)

    def __len__(self) -> int:
        return self.length

    def _take(self, positions: np.ndarray) -> pa.Table:
        """Rows at ``positions``, in order. Taking from each record batch separately avoids
        pyarrow concatenating a whole chunked column on every batch."""
        chunk_of = np.searchsorted(self.offsets, positions, side="right") - 1
        parts, order = [], []
        for chunk in np.unique(chunk_of):
            selected = np.flatnonzero(chunk_of == chunk)
            parts.append(self.record_batches[chunk].take(pa.array(positions[selected] - self.offsets[chunk])))
            order.append(selected)
        table = pa.Table.from_batches(parts)
        return table.take(pa.array(np.argsort(np.concatenate(order))))

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        positions = np.asarray(indices, dtype=np.int64)
        if self.rows is not None:
            positions = self.rows[positions]
        table = self._take(positions)
        columns = {name: table.column(name).to_pylist() for name in table.column_names if not name.endswith("_features")}
        for modality, dim in self.dims.items():
            columns[f"{modality}_features"] = _sequences_from_arrow(table.column(f"{modality}_features"), dim)
        return [{name: values[i] for name, values in columns.items()} for i in range(len(positions))]

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]


class InMemoryExamples(torch.utils.data.Dataset):
    """Every row of a small split, read from Arrow once (see :data:`IN_MEMORY_BYTES`)."""

    def __init__(self, split: datasets.Dataset) -> None:
        source = TorchDataset(split)
        self.dims = source.dims
        self.rows = source.__getitems__(list(range(len(source)))) if len(source) else []

    def __len__(self) -> int:
        return len(self.rows)

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        return [self.rows[i] for i in indices]

    def __getitem__(self, index: int) -> dict:
        return self.rows[index]


_EXAMPLES_CACHE: dict[str, torch.utils.data.Dataset] = {}


def examples_of(split: datasets.Dataset) -> torch.utils.data.Dataset:
    """The split as a torch dataset of rows: in memory when small (cached by fingerprint), else streamed."""
    if split.data.nbytes > IN_MEMORY_BYTES:
        return TorchDataset(split)
    key = split._fingerprint
    if key not in _EXAMPLES_CACHE:
        if len(_EXAMPLES_CACHE) >= 8:
            _EXAMPLES_CACHE.pop(next(iter(_EXAMPLES_CACHE)))
        _EXAMPLES_CACHE[key] = InMemoryExamples(split)
    return _EXAMPLES_CACHE[key]


def eval_batches(split: datasets.Dataset, batch_size: int = EVAL_BATCH_SIZE) -> list[LabelledBatch]:
    """The split in its stored order as a list of ``(batch, targets)`` pairs (collated once)."""
    examples = examples_of(split)
    dims = examples.dims
    return [
        collate_labelled(examples.__getitems__(list(range(start, min(start + batch_size, len(examples))))), dims)
        for start in range(0, len(examples), batch_size)
    ]


def train_loader(
    split: datasets.Dataset, batch_size: int, seed: int, epoch: int, num_workers: int = 0
) -> torch.utils.data.DataLoader:
    """Shuffled training ``(batch, targets)`` pairs; the order depends only on (seed, epoch), so
    resuming is exact. A last batch of a single example is left out of the epoch (batch-norm
    layers, as in MMSA's subnetworks, cannot train on one example); it is a different example
    each epoch."""
    examples = examples_of(split)
    return torch.utils.data.DataLoader(
        examples,
        batch_size=batch_size,
        drop_last=len(examples) % batch_size == 1,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed * 10_007 + epoch),
        num_workers=num_workers,
        worker_init_fn=seed_worker,
        collate_fn=partial(collate_labelled, dims=examples.dims),
    )


def make_dataloader(
    split: datasets.Dataset,
    batch_size: int = 32,
    *,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
) -> torch.utils.data.DataLoader:
    """A seeded ``DataLoader`` of ``(batch, targets)`` pairs over a unified-schema split."""
    dataset = TorchDataset(split)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        collate_fn=partial(collate_labelled, dims=dataset.dims),
    )
