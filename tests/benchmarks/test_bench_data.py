"""Speed of the data layer: generating the synthetic dataset, and one shuffled epoch (batch 32,
padded) through msa_bench's memory-mapped Arrow loader next to the same epoch over in-memory
padded numpy arrays in a plain ``Dataset`` (the way MMSA serves its pickles), side by side in one
session, on the synthetic train split and on a MOSEI-shaped dataset: every clip text 50x768,
audio 500x74, vision 500x35 (MMSA's unaligned MOSEI shapes), ``MSA_BENCH_LOADER_CLIPS`` clips
(default 500 so CI runs it in seconds; 10,000 is 3.5 GiB). The Arrow row of each pair records
``ratio_vs_in_memory`` (in-memory median / Arrow median: above 1 means the Arrow loader is
faster) and, for the MOSEI-shaped pair, each loader's peak memory in a fresh process (see
``peak_memory.py``): holding the split and reading one epoch.

    MSA_BENCH_LOADER_CLIPS=10000 python -m pytest tests/benchmarks/test_bench_data.py -m benchmark -p no:cacheprovider
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
import pytest
import torch
from peak_memory import measured

from msa_bench import load_dataset, make_dataloader, unified_features
from msa_bench.inputs.loader import batches_of

CLIPS = int(os.environ.get("MSA_BENCH_LOADER_CLIPS", "500"))
SHAPES = {"text": (50, 768), "audio": (500, 74), "vision": (500, 35)}
ROWS_PER_RECORD_BATCH = 1000  # datasets' default writer batch size
_counter = itertools.count()


def write_mosei_shaped(path: Path, clips: int, seed: int = 0) -> datasets.Dataset:
    """An Arrow file in the unified schema with MOSEI's unaligned shapes, opened memory-mapped."""
    features = unified_features(*(dim for _, dim in SHAPES.values()))
    schema = features.arrow_schema
    rng = np.random.default_rng(seed)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, schema) as writer:
        for first in range(0, clips, ROWS_PER_RECORD_BATCH):
            n = min(ROWS_PER_RECORD_BATCH, clips - first)
            ids = [f"clip{first + k:05d}" for k in range(n)]
            columns = {name: pa.array(ids) for name in ("id", "video_id", "clip_id")}
            columns.update(dataset=pa.array(["mosei"] * n), text=pa.array([f"words {k}" for k in ids]))
            for modality, (frames, dim) in SHAPES.items():
                values = pa.array(rng.standard_normal(n * frames * dim, dtype=np.float32))
                rows = pa.FixedSizeListArray.from_arrays(values, dim)
                columns[f"{modality}_features"] = pa.ListArray.from_arrays(pa.array(np.arange(n + 1, dtype=np.int32) * frames), rows)
            sentiment = rng.uniform(-3, 3, n).astype(np.float32)
            columns.update(
                sentiment=pa.array(sentiment),
                polarity=pa.array(np.sign(sentiment).astype(np.int64) + 1),
                intensity=pa.array(np.abs(sentiment)),
                emotions=pa.array([None] * n, type=schema.field("emotions").type),
                emotion=pa.array([None] * n, type=pa.int64()),
                source_labels=pa.array(["{}"] * n),
            )
            writer.write_batch(pa.record_batch([columns[name] for name in schema.names], schema=schema))
    return datasets.Dataset.from_file(str(path))


class PaddedArrays(torch.utils.data.Dataset):
    """In-memory (N, T, D) zero-padded arrays with lengths, as MMSA-style loaders hold them."""

    def __init__(self, split: datasets.Dataset) -> None:
        batch, targets = batches_of(split)[range(len(split))]
        self.arrays = {name: modality.features.numpy() for name, modality in batch.modalities()}
        self.lengths = {name: modality.lengths.numpy() for name, modality in batch.modalities()}
        self.labels = targets.sentiment.numpy()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict:
        item = {m: torch.from_numpy(a[index]) for m, a in self.arrays.items()}
        item.update({f"{m}_length": int(l[index]) for m, l in self.lengths.items()})
        item["label"] = torch.tensor(self.labels[index])
        return item


def arrow_epoch(split: datasets.Dataset) -> int:
    return sum(len(batch) for batch, _ in make_dataloader(split, batch_size=32, shuffle=True, seed=0))


def in_memory_epoch(dataset: PaddedArrays) -> int:
    loader = torch.utils.data.DataLoader(dataset, batch_size=32, shuffle=True, generator=torch.Generator().manual_seed(0))
    return sum(len(batch["label"]) for batch in loader)


def _run_pair(benchmark, name: str, loader: str, split: datasets.Dataset, reference: PaddedArrays, rounds: int) -> None:
    """One row of the pair. The Arrow row also runs an in-memory epoch before each of its rounds
    (untimed by pytest-benchmark, timed here), so its ratio compares epochs that alternate under
    the same load."""
    benchmark.group = f"epoch {name}"
    if loader == "in_memory":
        seen = benchmark.pedantic(in_memory_epoch, args=(reference,), rounds=rounds, iterations=1, warmup_rounds=1)
    else:
        alternated: list[float] = []

        def in_memory_round() -> None:
            start = time.perf_counter()
            in_memory_epoch(reference)
            alternated.append(time.perf_counter() - start)

        seen = benchmark.pedantic(arrow_epoch, args=(split,), setup=in_memory_round, rounds=rounds, iterations=1, warmup_rounds=1)
        in_memory = statistics.median(alternated[1:])
        benchmark.extra_info.update(in_memory_alternated_median_s=round(in_memory, 4),
                                    ratio_vs_in_memory=round(in_memory / benchmark.stats.stats.median, 2))
    assert seen == len(split)


def test_generate_synthetic_dataset(benchmark, tmp_path):
    def generate():
        load_dataset("synthetic", cache_dir=tmp_path / str(next(_counter)))

    benchmark.pedantic(generate, rounds=3, iterations=1)


@pytest.fixture(scope="module")
def train_split(tmp_path_factory):
    return load_dataset("synthetic", cache_dir=tmp_path_factory.mktemp("cache"))["train"]


@pytest.fixture(scope="module")
def mosei_shaped(tmp_path_factory):
    return write_mosei_shaped(tmp_path_factory.mktemp("mosei") / "data.arrow", CLIPS)


@pytest.fixture(scope="module")
def train_in_memory(train_split):
    return PaddedArrays(train_split)


@pytest.fixture(scope="module")
def mosei_in_memory(mosei_shaped):
    return PaddedArrays(mosei_shaped)


@pytest.mark.parametrize("loader", ["in_memory", "arrow"])
def test_epoch_synthetic(benchmark, train_split, train_in_memory, loader):
    _run_pair(benchmark, "synthetic train", loader, train_split, train_in_memory, rounds=7)


@pytest.mark.parametrize("loader", ["in_memory", "arrow"])
def test_epoch_mosei_shaped(benchmark, mosei_shaped, mosei_in_memory, loader):
    benchmark.extra_info.update(clips=CLIPS, **_peak_memory(loader, mosei_shaped.cache_files[0]["filename"]))
    _run_pair(benchmark, f"mosei-shaped {CLIPS}", loader, mosei_shaped, mosei_in_memory, rounds=5)


@pytest.mark.gpu
@pytest.mark.parametrize("loader", ["in_memory", "arrow"])
def test_epoch_mosei_shaped_to_cuda(benchmark, mosei_shaped, mosei_in_memory, loader):
    """The same epochs delivered to the GPU: page-locked batches (``pin_memory``) copied
    asynchronously, synchronised once at the end of the epoch."""
    benchmark.group = f"epoch to cuda mosei-shaped {CLIPS}"
    device = torch.device("cuda")
    if loader == "arrow":
        def epoch():
            for batch, targets in make_dataloader(mosei_shaped, 32, shuffle=True, seed=0, pin_memory=True):
                batch.to(device), targets.to(device)
            torch.cuda.synchronize()
    else:
        def epoch():
            generator = torch.Generator().manual_seed(0)
            for item in torch.utils.data.DataLoader(mosei_in_memory, batch_size=32, shuffle=True, generator=generator, pin_memory=True):
                {name: value.to(device, non_blocking=True) for name, value in item.items()}
            torch.cuda.synchronize()

    benchmark.pedantic(epoch, rounds=3, iterations=1, warmup_rounds=1)


def _peak_memory(loader: str, arrow_file: str) -> dict[str, float]:
    """Peak memory of holding the split and reading one epoch, in a fresh interpreter."""
    out = subprocess.run([sys.executable, __file__, loader, arrow_file], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _subprocess_main(loader: str, arrow_file: str) -> None:
    split = datasets.Dataset.from_file(arrow_file)
    phase = (lambda: in_memory_epoch(PaddedArrays(split))) if loader == "in_memory" else (lambda: arrow_epoch(split))
    print(json.dumps(measured(phase)))


if __name__ == "__main__":
    _subprocess_main(*sys.argv[1:3])
