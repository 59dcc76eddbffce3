"""Batches for training and scoring: rows read from Arrow, split into inputs and targets.

Every loader here yields ``(batch, targets)`` pairs: :class:`~msa_bench.inputs.batching.Batch` (built by
:mod:`msa_bench.inputs.batching`, which reads input columns only) for the model and
:class:`~msa_bench.data.targets.Targets` for the loss and the scorer.
"""

from __future__ import annotations

from collections.abc import Sequence

import datasets
import numpy as np
import torch

from msa_bench.inputs.batching import Batch, InputColumns
from msa_bench.util.runtime import seed_worker
from msa_bench.data.schema import feature_dims
from msa_bench.data.targets import LABEL_COLUMNS, Targets, collate_targets

#: One step's data: the model's inputs and, on the trainer's side, their labels.
LabelledBatch = tuple[Batch, Targets]

#: Batch size of every evaluation (validation, test, robustness): predictions do not depend on it.
EVAL_BATCH_SIZE = 256


class ArrowBatches(torch.utils.data.Dataset):
    """A ``datasets.Dataset`` in the unified schema, indexed by lists of rows: ``batches[rows]``
    is the :class:`LabelledBatch` of those rows, in that order.

    Frames stay in the memory-mapped Arrow buffers (:class:`~msa_bench.inputs.batching.InputColumns`
    holds zero-copy views) and each batch is one gather per modality; ids, transcripts and
    labels (a few bytes a row) are read once. Pickles as its ``datasets.Dataset`` (file
    references), so spawned workers map the same files instead of receiving copies.
    """

    def __init__(self, split: datasets.Dataset) -> None:
        self.split = split
        table = split.data.table
        self.dims = feature_dims(split.features)
        self.inputs = InputColumns.of(table, self.dims)
        self.targets = collate_targets(table.select(["id", *LABEL_COLUMNS]).to_pylist()) if len(table) else None
        # A selected/shuffled Dataset reads through an indices mapping (datasets keeps it private).
        mapping = split._indices
        self.rows = None if mapping is None else mapping.column(0).to_numpy().astype(np.int64)

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, rows: Sequence[int]) -> LabelledBatch:
        positions = np.asarray(rows, dtype=np.int64)
        if self.rows is not None:
            positions = self.rows[positions]
        batch = self.inputs.batch(positions)
        index = torch.from_numpy(positions)
        every = self.targets
        targets = Targets(
            ids=list(batch.ids),
            sentiment=every.sentiment[index],
            emotions=every.emotions[index],
            emotion=every.emotion[index],
            polarity=every.polarity[index],
        )
        return batch, targets

    def __getstate__(self) -> dict:
        return {"split": self.split}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["split"])


_BATCHES_CACHE: dict[str, ArrowBatches] = {}


def batches_of(split: datasets.Dataset) -> ArrowBatches:
    """:class:`ArrowBatches` of a split, cached by fingerprint (the trainer asks once per epoch)."""
    key = split._fingerprint
    if key not in _BATCHES_CACHE:
        if len(_BATCHES_CACHE) >= 8:
            _BATCHES_CACHE.pop(next(iter(_BATCHES_CACHE)))
        _BATCHES_CACHE[key] = ArrowBatches(split)
    return _BATCHES_CACHE[key]


def eval_batches(split: datasets.Dataset, batch_size: int = EVAL_BATCH_SIZE) -> list[LabelledBatch]:
    """The split in its stored order as a list of ``(batch, targets)`` pairs."""
    batches = batches_of(split)
    return [batches[range(start, min(start + batch_size, len(batches)))] for start in range(0, len(batches), batch_size)]


def _unchanged(item: LabelledBatch) -> LabelledBatch:
    return item


def _batch_loader(
    batches: ArrowBatches,
    batch_size: int,
    *,
    shuffle: bool,
    drop_last: bool,
    generator: torch.Generator,
    num_workers: int,
    pin_memory: bool,
) -> torch.utils.data.DataLoader:
    """A ``DataLoader`` drawing row lists exactly as ``DataLoader(batch_size=..., shuffle=...)``
    would (same sampler, same generator), each collated by :class:`ArrowBatches` in one go."""
    sampler = (
        torch.utils.data.RandomSampler(batches, generator=generator) if shuffle else torch.utils.data.SequentialSampler(batches)
    )
    return torch.utils.data.DataLoader(
        batches,
        batch_size=None,
        sampler=torch.utils.data.BatchSampler(sampler, batch_size, drop_last),
        generator=generator,
        num_workers=num_workers,
        worker_init_fn=seed_worker,
        collate_fn=_unchanged,
        pin_memory=pin_memory,
    )


def train_loader(
    split: datasets.Dataset, batch_size: int, seed: int, epoch: int, num_workers: int = 0, pin_memory: bool = False
) -> torch.utils.data.DataLoader:
    """Shuffled training ``(batch, targets)`` pairs; the order depends only on (seed, epoch), so
    resuming is exact. A last batch of a single example is left out of the epoch (batch-norm
    layers, as in MMSA's subnetworks, cannot train on one example); it is a different example
    each epoch. ``pin_memory`` (page-locked batches) is for CUDA."""
    batches = batches_of(split)
    return _batch_loader(
        batches,
        batch_size,
        shuffle=True,
        drop_last=len(batches) % batch_size == 1,
        generator=torch.Generator().manual_seed(seed * 10_007 + epoch),
        num_workers=num_workers,
        pin_memory=pin_memory,
    )


def make_dataloader(
    split: datasets.Dataset,
    batch_size: int = 32,
    *,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """A seeded ``DataLoader`` of ``(batch, targets)`` pairs over a unified-schema split."""
    return _batch_loader(
        batches_of(split),
        batch_size,
        shuffle=shuffle,
        drop_last=False,
        generator=torch.Generator().manual_seed(seed),
        num_workers=num_workers,
        pin_memory=pin_memory,
    )
