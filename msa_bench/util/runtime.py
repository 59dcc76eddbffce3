"""Seeds, devices and autocast: what every run sets up the same way."""

from __future__ import annotations

import os
import random
import resource
import sys

import numpy as np
import torch


def seed_everything(seed: int, device: torch.device | None = None) -> None:
    """Seed python, numpy and torch; on CUDA also ask for deterministic kernels.

    CPU kernels are deterministic for a given thread count already (and turning the flag on
    imports torch's compiler stack, seconds per process), so it is set on CUDA only.
    """
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    if device is not None and device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def seed_worker(worker_id: int) -> None:
    """``DataLoader`` worker initialiser: python and numpy seeded from torch's worker seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def resolve_device(device: str | torch.device) -> torch.device:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"``; a CUDA device that is not there is a clear error."""
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available; use --device cpu")
    if resolved.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {str(device)!r}")
    return resolved


def autocast(device: torch.device):
    """bf16 autocast on CUDA; a no-op on CPU (CPU results stay exact and deterministic)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def peak_memory_mb(device: torch.device) -> float:
    """Peak CUDA memory allocated on ``device``; on CPU the process's peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10
