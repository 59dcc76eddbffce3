"""One training run on several processes with torchrun / PyTorch DDP: ``msa-bench train ... --nproc-per-node N``.

:func:`launch` starts ``python -m torch.distributed.run --standalone --nproc-per-node N -m
msa_bench.scale.ddp JOB.json``; every process then runs :func:`train_distributed` (backend gloo
on CPU, nccl on CUDA with one GPU per process):

* **Seeding.** Every rank seeds exactly as a single-process run does, so the model starts
  identical on all ranks (DDP also broadcasts rank 0's weights), and shards and shuffles depend
  only on (seed, rank, epoch): a run on N processes is reproducible run to run.
* **Training.** ``batch_size`` stays the global batch: each rank trains on a fixed shard of the
  training split (rank r takes examples r, r + N, ...; the shards are padded to equal length by
  repeating their first examples, as torch's DistributedSampler does, so every rank takes the
  same number of steps) with batches of ``batch_size / N``; DDP averages the gradients.
* **Model selection.** Every rank evaluates the validation split with identical weights and
  buffers; rank 0's value is broadcast and decides the best epoch and early stopping for all.
* **Test.** The test split is cut into N contiguous shards at batch boundaries, without padding;
  each rank predicts its shard and the predictions are gathered on every rank. Each test example
  is predicted exactly once (checked), in the same batches as a single-process evaluation, so the
  gathered table equals a single-process evaluation of the same weights.
* Rank 0 runs the robustness sweep and writes the record (atomically, with ``save_record``);
  its config carries ``distributed: {nproc, backend}``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import datasets
import pandas as pd
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from msa_bench.models import DataSpec, MSAModel, count_parameters, get_model_class
from msa_bench.scale.data import DatasetSource
from msa_bench.worker.evaluation import predictions_of
from msa_bench.inputs.loader import eval_batches
from msa_bench.scoring.metrics import compute_metrics
from msa_bench.inputs.normalization import attach_scaler, resolve_mode
from msa_bench.util.runtime import seed_everything
from msa_bench.harness.train_config import TrainConfig
from msa_bench.worker.trainer import Trainer
from msa_bench.harness.training import TrainedRun, dataset_fingerprint, peak_memory_mb


class DistributedModel(DistributedDataParallel):
    """DDP for an :class:`MSAModel`: the model's own attributes (``tasks``, ``compute_loss``,
    ``parameter_groups`` ...) pass through, and only training forwards synchronise."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":  # not set yet (inside DDP's own __init__)
                raise
            return getattr(self.module, name)

    def forward(self, *args, **kwargs):
        if self.training and torch.is_grad_enabled():
            return super().forward(*args, **kwargs)
        return self.module(*args, **kwargs)  # evaluation: no collectives, ranks may run different counts

    def sync_buffers(self) -> None:
        """Rank 0's buffers (e.g. batch-norm statistics) everywhere, so every rank evaluates one model."""
        for buffer in self.module.buffers():
            dist.broadcast(buffer, src=0)

    def on_epoch_end(self, epoch: int) -> None:
        self.module.on_epoch_end(epoch)
        self.sync_buffers()  # the trainer validates right after this hook


class DistributedTrainer(Trainer):
    """The protocol's :class:`Trainer`, with rank 0 deciding model selection."""

    def _update_best(self, epoch: int, train_loss: float, val_value: float) -> None:
        losses = torch.tensor([train_loss], dtype=torch.float64)
        dist.all_reduce(losses)
        decided = [val_value]
        dist.broadcast_object_list(decided, src=0)
        super()._update_best(epoch, losses.item() / dist.get_world_size(), decided[0])


def gathered_test_predictions(
    model: DistributedModel, test: datasets.Dataset, batch_size: int, device: torch.device
) -> pd.DataFrame:
    """Each rank predicts its shard of the test split; every rank gets the whole table."""
    model.sync_buffers()
    start, stop = shard_bounds(len(test), batch_size, dist.get_rank(), dist.get_world_size())
    mine = predictions_of(model, eval_batches(test.select(range(start, stop)), batch_size), device)
    tables: list[pd.DataFrame | None] = [None] * dist.get_world_size()
    dist.all_gather_object(tables, mine)
    gathered = pd.concat(tables, ignore_index=True)
    if gathered["id"].tolist() != test["id"]:
        raise RuntimeError("gathered test predictions do not cover the test split exactly once, in order")
    return gathered


def shard_bounds(n: int, batch_size: int, rank: int, world_size: int) -> tuple[int, int]:
    """Rank ``rank``'s contiguous range of ``n`` evaluation examples: whole batches, no padding."""
    batches_per_rank = math.ceil(math.ceil(n / batch_size) / world_size)
    start = min(n, rank * batches_per_rank * batch_size)
    return start, min(n, start + batches_per_rank * batch_size)


def training_shard(split: datasets.Dataset, rank: int, world_size: int) -> datasets.Dataset:
    """Examples rank, rank + N, ... padded to ceil(len / N) by repeating the shard's first ones."""
    indices = list(range(rank, len(split), world_size))
    size = math.ceil(len(split) / world_size)
    return split.select((indices * (1 + size // max(len(indices), 1)))[:size])


def per_rank_config(config: TrainConfig, world_size: int) -> TrainConfig:
    if config.batch_size % world_size:
        raise ValueError(f"batch_size {config.batch_size} is the global batch; it must be divisible by --nproc-per-node {world_size}")
    return dataclasses.replace(config, batch_size=config.batch_size // world_size)


def train_distributed(
    model_class: type[MSAModel],
    dataset: datasets.DatasetDict,
    *,
    seed: int,
    dataset_name: str,
    device: torch.device,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
    run_dir: Path | None = None,
    progress: bool = True,
) -> TrainedRun:
    """:func:`msa_bench.harness.training.train_and_evaluate` inside a DDP process group (see the module docstring)."""
    from msa_bench.scoring.metrics import bootstrap_ci
    from msa_bench.harness.protocol import model_name_of, resolve_configs, schedule_name

    rank, world_size = dist.get_rank(), dist.get_world_size()
    started = time.perf_counter()
    model_config, train_config = resolve_configs(model_class, dataset_name, model_overrides, train_overrides)
    seed_everything(seed)
    model = model_class(model_config, DataSpec.from_dataset(dataset))
    normalization = attach_scaler(model, dataset["train"], resolve_mode(train_config.normalize, dataset_name))
    wrapped = DistributedModel(
        model.to(device), device_ids=[device.index] if device.type == "cuda" else None, find_unused_parameters=True
    )
    trainer = DistributedTrainer(
        wrapped,
        per_rank_config(train_config, world_size),
        training_shard(dataset["train"], rank, world_size),
        dataset["validation"],
        seed=seed,
        device=device,
        run_dir=None if run_dir is None else Path(run_dir) / f"rank{rank}",
        progress=progress and rank == 0,
    )
    trainer.fit()
    predictions = gathered_test_predictions(wrapped, dataset["test"], trainer.config.batch_size, device)
    backend = dist.get_backend()
    return TrainedRun(
        model=model,
        model_name=model_name_of(model_class),
        dataset_name=dataset_name,
        seed=seed,
        device=str(device),
        config={
            "model": dataclasses.asdict(model_config),
            "train": dataclasses.asdict(train_config),
            "schedule": schedule_name(model_class, dataset_name, model_overrides, train_overrides),
            "distributed": {"nproc": world_size, "backend": backend},
        },
        test_predictions=predictions,
        metrics=compute_metrics(predictions),
        ci=bootstrap_ci(predictions),
        history=trainer.state.history,
        best_epoch=trainer.state.best_epoch,
        dataset_fingerprint=dataset_fingerprint(dataset),
        n_parameters=count_parameters(model),
        wall_time_s=time.perf_counter() - started,
        peak_memory_mb=peak_memory_mb(device),
        normalization=normalization,
    )


# -- the job each torchrun process runs ------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class DistributedJob:
    """What ``msa-bench train --nproc-per-node N`` asks every process to do (written as JSON)."""

    model: str
    source: DatasetSource
    seeds: tuple[int, ...]
    records_dir: str
    device: str = "cpu"
    robustness: bool = True
    run_root: str | None = None
    model_overrides: dict | None = None
    train_overrides: dict | None = None

    def to_json(self) -> str:
        return json.dumps({**dataclasses.asdict(self), "source": self.source.to_dict()}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DistributedJob:
        values = json.loads(text)
        return cls(**{**values, "source": DatasetSource.from_dict(values["source"]), "seeds": tuple(values["seeds"])})


def run_job(job: DistributedJob) -> list[Path]:
    """Every seed of ``job`` in the process group this process belongs to; rank 0 writes the records."""
    from msa_bench.harness.protocol import model_name_of, save_run
    from msa_bench.scoring.robustness import LEVELS

    rank = dist.get_rank()
    if torch.device(job.device).type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    model_class = get_model_class(job.model)
    if rank == 0:
        job.source.load()  # rank 0 builds the dataset cache; the others then read it
    dist.barrier()
    dataset = job.source.load()
    written = []
    for seed in job.seeds:
        run_dir = None if job.run_root is None else Path(job.run_root) / job.source.name / model_name_of(model_class) / f"seed{seed}"
        run = train_distributed(
            model_class, dataset, seed=seed, dataset_name=job.source.name, device=device, run_dir=run_dir,
            model_overrides=job.model_overrides, train_overrides=job.train_overrides,
        )
        if rank == 0:
            paper = model_class.paper_results.get(job.source.name)
            written.append(save_run(run, dataset, job.records_dir, paper, job.robustness, LEVELS, device))
        dist.barrier()
    return written


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of every torchrun process: ``python -m msa_bench.scale.ddp JOB.json``."""
    [job_path] = list(sys.argv[1:] if argv is None else argv)
    job = DistributedJob.from_json(Path(job_path).read_text(encoding="utf-8"))
    dist.init_process_group(backend="nccl" if torch.device(job.device).type == "cuda" else "gloo")
    try:
        for path in run_job(job):
            print(f"wrote {path}")
    finally:
        dist.destroy_process_group()


def launch(job: DistributedJob, nproc_per_node: int, *, torchrun_args: Sequence[str] = ()) -> None:
    """Run ``job`` on ``nproc_per_node`` processes of this machine with ``torch.distributed.run``.

    ``torchrun_args``: more launcher options (e.g. ``--nnodes 2 --rdzv-endpoint host:29400`` for
    several machines, instead of the default ``--standalone``).
    """
    if nproc_per_node < 1:
        raise ValueError(f"--nproc-per-node must be at least 1, got {nproc_per_node}")
    if torch.device(job.device).type == "cuda" and torch.cuda.device_count() < nproc_per_node:
        raise RuntimeError(f"--nproc-per-node {nproc_per_node} on {job.device} needs that many GPUs; torch sees {torch.cuda.device_count()}")
    with tempfile.TemporaryDirectory(prefix="msa_bench_ddp_") as folder:
        job_file = Path(folder) / "job.json"
        job_file.write_text(job.to_json(), encoding="utf-8")
        command = [
            sys.executable, "-m", "torch.distributed.run", *(torchrun_args or ["--standalone"]),
            f"--nproc-per-node={nproc_per_node}", "-m", "msa_bench.scale.ddp", str(job_file),
        ]
        result = subprocess.run(command, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"the distributed run failed (torchrun exit code {result.returncode}); its output is above")


if __name__ == "__main__":
    main()
