"""Speed of the data layer: generating the synthetic dataset, and one DataLoader epoch (batch 32,
padded collate) from Arrow next to the same epoch over in-memory padded numpy arrays (the way
existing MSA code serves its pickles).

Run: python -m pytest tests/benchmarks/test_bench_data.py -m benchmark
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from msa_bench import load_dataset, make_dataloader

_counter = itertools.count()


def test_generate_synthetic_dataset(benchmark, tmp_path):
    def generate():
        load_dataset("synthetic", cache_dir=tmp_path / str(next(_counter)))

    benchmark.pedantic(generate, rounds=3, iterations=1)


@pytest.fixture(scope="module")
def train_split(tmp_path_factory):
    return load_dataset("synthetic", cache_dir=tmp_path_factory.mktemp("cache"))["train"]


def test_epoch_arrow_dataloader(benchmark, train_split):
    def epoch():
        return sum(len(batch) for batch, _ in make_dataloader(train_split, batch_size=32, shuffle=True, seed=0))

    assert benchmark.pedantic(epoch, rounds=5, iterations=1) == len(train_split)


class PaddedArrays(torch.utils.data.Dataset):
    """In-memory (N, T, D) zero-padded arrays with lengths, as MMSA-style loaders hold them."""

    def __init__(self, split) -> None:
        self.arrays, self.lengths = {}, {}
        for modality in ("text", "audio", "vision"):
            sequences = [np.asarray(s, dtype=np.float32) for s in split[f"{modality}_features"]]
            longest = max(len(s) for s in sequences)
            padded = np.zeros((len(sequences), longest, sequences[0].shape[1]), dtype=np.float32)
            for row, sequence in enumerate(sequences):
                padded[row, : len(sequence)] = sequence
            self.arrays[modality] = padded
            self.lengths[modality] = np.array([len(s) for s in sequences])
        self.labels = np.asarray(split["sentiment"], dtype=np.float32)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        item = {m: torch.from_numpy(a[index]) for m, a in self.arrays.items()}
        item.update({f"{m}_length": int(l[index]) for m, l in self.lengths.items()})
        item["label"] = torch.tensor(self.labels[index])
        return item


def test_epoch_in_memory_numpy(benchmark, train_split):
    dataset = PaddedArrays(train_split)

    def epoch():
        loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
        return sum(len(batch["label"]) for batch in loader)

    assert benchmark.pedantic(epoch, rounds=5, iterations=1) == len(train_split)
