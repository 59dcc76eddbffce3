"""Per-epoch checkpoints of a training run: written atomically, read with ``weights_only=True``.

A checkpoint holds everything a resumed run needs to end exactly like an uninterrupted one: the
model's parameters and its declared training state (:meth:`MSAModel.training_state`), the best
weights so far, optimizer and scheduler states, early-stopping state and every RNG state.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from msa_bench.util.atomic import atomic_write
from msa_bench.util.errors import ConfigError

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write ``payload`` plus the current RNG states to ``path`` (whole or not at all)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**payload, "rng": rng_state()}
    atomic_write(path, lambda temporary: torch.save(payload, temporary))


def load_checkpoint(path: Path, identity: dict, device: torch.device) -> dict | None:
    """The checkpoint at ``path`` (``None`` when there is none), after checking that it was
    written by a run with the same ``identity`` (configs and seed); restores the RNG states."""
    if not path.is_file():
        return None
    payload = torch.load(path, map_location=device, weights_only=True)
    if payload.get("identity") != identity:
        raise ConfigError(
            f"{path}: this checkpoint was written by a run with another config or seed, so it cannot be resumed; "
            "remove the file or pass another --run-dir"
        )
    set_rng_state(payload["rng"])
    return payload


def rng_state() -> dict:
    """Every RNG state, as tensors and plain values (loadable with ``weights_only=True``)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"].cpu())
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
