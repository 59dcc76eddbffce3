"""Padded batches with frame masks and per-example modality-presence masks.

``collate`` turns rows of the unified schema (plain Python, numpy or ``set_format("torch")``)
into a :class:`Batch`. An absent modality is all-zero features with ``mask`` False everywhere
and ``present`` False: models read ``present``, never guess from zeros.

Labels that are not annotated are NaN (float labels) or -1 (class labels) in the batch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields, replace
from functools import partial

import datasets
import numpy as np
import pyarrow as pa
import torch

from msa_bench.schema import EKMAN_EMOTIONS, MODALITIES, feature_dims

MISSING_CLASS = -1


@dataclass(frozen=True)
class ModalityBatch:
    """One modality of a batch: ``features`` (B, L, D), ``mask`` (B, L) True on real frames,
    ``present`` (B,) True where the example has this modality at all."""

    features: torch.Tensor
    mask: torch.Tensor
    present: torch.Tensor

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(dim=1)

    def to(self, device: torch.device | str) -> ModalityBatch:
        return ModalityBatch(*(t.to(device, non_blocking=True) for t in (self.features, self.mask, self.present)))


@dataclass(frozen=True)
class Batch:
    """A padded batch. ``raw_text`` holds transcripts for models that tokenize themselves."""

    ids: list[str]
    raw_text: list[str]
    text: ModalityBatch
    audio: ModalityBatch
    vision: ModalityBatch
    sentiment: torch.Tensor  # (B,) float, NaN = not annotated
    emotions: torch.Tensor  # (B, 6) float, NaN = not annotated
    emotion: torch.Tensor  # (B,) long, -1 = not annotated
    polarity: torch.Tensor  # (B,) long, -1 = not annotated

    def __len__(self) -> int:
        return len(self.ids)

    def modality(self, name: str) -> ModalityBatch:
        if name not in MODALITIES:
            raise KeyError(f"unknown modality {name!r}; expected one of {MODALITIES}")
        return getattr(self, name)

    def modalities(self) -> Iterator[tuple[str, ModalityBatch]]:
        return ((name, getattr(self, name)) for name in MODALITIES)

    def with_modality(self, name: str, value: ModalityBatch) -> Batch:
        """A copy of this batch with one modality replaced (used by robustness conditions)."""
        self.modality(name)
        return replace(self, **{name: value})

    def to(self, device: torch.device | str) -> Batch:
        moved = {}
        for f in fields(self):
            value = getattr(self, f.name)
            moved[f.name] = value.to(device) if hasattr(value, "to") and not isinstance(value, list) else value
        return Batch(**moved)


def _as_array(value) -> np.ndarray | torch.Tensor | None:
    """A 2-D sequence, or ``None`` for an absent modality.

    ``datasets``' python/torch formats surface a null 2-D array as a scalar NaN: that is absent too.
    """
    if _is_null(value):
        return None
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value, dtype=np.float32)
    if array.ndim != 2:
        raise ValueError(f"feature sequences must be 2-D (frames, dim), got shape {array.shape}")
    return array


def pad_modality(sequences: Sequence, dim: int | None = None) -> ModalityBatch:
    """Pad variable-length (L_i, D) sequences (``None`` = absent) into a :class:`ModalityBatch`."""
    arrays = [_as_array(s) for s in sequences]
    shapes = [a.shape for a in arrays if a is not None]
    if dim is None:
        dim = shapes[0][1] if shapes else 1
    if any(shape[1] != dim for shape in shapes):
        raise ValueError(f"feature dimensions differ within a batch: {sorted({s[1] for s in shapes})}")
    max_len = max([shape[0] for shape in shapes] + [1])
    features = np.zeros((len(arrays), max_len, dim), dtype=np.float32)
    mask = np.zeros((len(arrays), max_len), dtype=bool)
    for row, array in enumerate(arrays):
        if array is None or len(array) == 0:
            continue
        features[row, : len(array)] = array.numpy() if isinstance(array, torch.Tensor) else array
        mask[row, : len(array)] = True
    features, mask = torch.from_numpy(features), torch.from_numpy(mask)
    return ModalityBatch(features=features, mask=mask, present=mask.any(dim=1))


def _is_null(value) -> bool:
    """``None``, or the scalar NaN that ``datasets``' torch format gives for a null value."""
    if value is None:
        return True
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == 0:
        value = float(value)
    return isinstance(value, float) and np.isnan(value)


def _float_label(examples: Sequence[dict], key: str) -> torch.Tensor:
    return torch.tensor([np.nan if _is_null(e.get(key)) else float(e[key]) for e in examples], dtype=torch.float32)


def _class_label(examples: Sequence[dict], key: str) -> torch.Tensor:
    return torch.tensor([MISSING_CLASS if _is_null(e.get(key)) else int(e[key]) for e in examples], dtype=torch.long)


def _emotions(examples: Sequence[dict]) -> torch.Tensor:
    missing = [np.nan] * len(EKMAN_EMOTIONS)
    rows = [missing if _is_null(e.get("emotions")) else [float(x) for x in e["emotions"]] for e in examples]
    return torch.tensor(rows, dtype=torch.float32)


def collate(examples: Sequence[dict], dims: dict[str, int] | None = None) -> Batch:
    """Collate rows of the unified schema into a padded :class:`Batch`.

    ``dims`` (modality -> feature dimension, see :func:`msa_bench.schema.feature_dims`) keeps
    the feature dimension right even when a modality is absent from the whole batch.
    """
    if not examples:
        raise ValueError("cannot collate an empty list of examples")
    dims = dims or {}
    padded = {m: pad_modality([e.get(f"{m}_features") for e in examples], dims.get(m)) for m in MODALITIES}
    return Batch(
        ids=[str(e["id"]) for e in examples],
        raw_text=[e.get("text") or "" for e in examples],
        **padded,
        sentiment=_float_label(examples, "sentiment"),
        emotions=_emotions(examples),
        emotion=_class_label(examples, "emotion"),
        polarity=_class_label(examples, "polarity"),
    )


def _sequences_from_arrow(column: pa.ChunkedArray, dim: int) -> list[np.ndarray | None]:
    """Rows of an ``Array2D(shape=(None, dim))`` column as (L, dim) arrays (``None`` for null)."""
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


def make_dataloader(
    split: datasets.Dataset,
    batch_size: int = 32,
    *,
    shuffle: bool = False,
    seed: int = 0,
    num_workers: int = 0,
) -> torch.utils.data.DataLoader:
    """A seeded ``DataLoader`` of padded :class:`Batch` es over a unified-schema split."""
    dataset = TorchDataset(split)
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        generator=generator,
        num_workers=num_workers,
        collate_fn=partial(collate, dims=dataset.dims),
    )
