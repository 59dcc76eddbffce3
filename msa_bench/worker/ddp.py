"""The training phase on several processes with torchrun / PyTorch DDP (``--nproc-per-node N``).

The harness starts ``python -m torch.distributed.run --standalone --nproc-per-node N -m
msa_bench.worker ...`` inside the sandbox (its network namespace keeps a loopback device for the
process group); every process runs :func:`train` (backend gloo on CPU, nccl on CUDA with one GPU
per process):

* **Seeding.** Every rank seeds exactly as a single-process run does, so the model starts
  identical on all ranks (DDP also broadcasts rank 0's weights), and shards and shuffles depend
  only on (seed, rank, epoch): a run on N processes is reproducible run to run.
* **Training.** ``batch_size`` stays the global batch: each rank trains on a fixed shard of the
  training split (rank r takes examples r, r + N, ...; the shards are padded to equal length by
  repeating their first examples, as torch's DistributedSampler does, so every rank takes the
  same number of steps) with batches of ``batch_size / N``; DDP averages the gradients.
* **Model selection.** Every rank evaluates the validation split with identical weights and
  buffers; rank 0's value is broadcast and decides the best epoch and early stopping for all.
* Rank 0 saves the selected weights; the test split is predicted afterwards by the usual
  single-process evaluation worker, so its predictions are those of the selected weights.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import datasets
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from msa_bench.inputs.normalization import attach_scaler
from msa_bench.models import DataSpec
from msa_bench.util.runtime import seed_everything
from msa_bench.worker.job import WorkerJob
from msa_bench.worker.phases import build_model, load_split, save_trained
from msa_bench.worker.train_config import TrainConfig
from msa_bench.worker.trainer import Trainer


class DistributedModel(DistributedDataParallel):
    """DDP for an :class:`~msa_bench.models.MSAModel`: the model's own attributes (``tasks``,
    ``compute_loss``, ``parameter_groups`` ...) pass through, and only training forwards synchronise."""

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


def training_shard(split: datasets.Dataset, rank: int, world_size: int) -> datasets.Dataset:
    """Examples rank, rank + N, ... padded to ceil(len / N) by repeating the shard's first ones."""
    indices = list(range(rank, len(split), world_size))
    size = math.ceil(len(split) / world_size)
    return split.select((indices * (1 + size // max(len(indices), 1)))[:size])


def per_rank_config(config: TrainConfig, world_size: int) -> TrainConfig:
    if config.batch_size % world_size:
        raise ValueError(f"batch_size {config.batch_size} is the global batch; it must be divisible by --nproc-per-node {world_size}")
    return dataclasses.replace(config, batch_size=config.batch_size // world_size)


def train(job: WorkerJob, data: Path, scratch: Path) -> None:
    """This rank's part of the training phase (see the module docstring); rank 0 saves the outputs."""
    cuda = torch.device(job.device).type == "cuda"
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    try:
        rank, world_size = dist.get_rank(), dist.get_world_size()
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0))) if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(device)
        started = time.perf_counter()
        seed_everything(job.seed, device)
        train_split, validation = load_split(data, "train"), load_split(data, "validation")
        model = build_model(job, DataSpec.from_dataset(train_split))
        normalization = attach_scaler(model, train_split, job.normalize)
        wrapped = DistributedModel(model.to(device), device_ids=[device.index] if cuda else None, find_unused_parameters=True)
        trainer = DistributedTrainer(
            wrapped,
            per_rank_config(TrainConfig.from_dict(job.train_config), world_size),
            training_shard(train_split, rank, world_size),
            validation,
            seed=job.seed,
            device=device,
            run_dir=Path(scratch) / f"rank{rank}",
            identity={**job.identity, "nproc": world_size},
            progress=job.progress and rank == 0,
        )
        trainer.fit()
        wrapped.sync_buffers()
        if rank == 0:
            save_trained(job, scratch, model, trainer, train_split, normalization, started)
        dist.barrier()
    finally:
        dist.destroy_process_group()
