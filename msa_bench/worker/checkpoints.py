"""Per-epoch checkpoints of a training run: written atomically, read with ``weights_only=True``.

A checkpoint holds everything a resumed run needs to end exactly like an uninterrupted one: the
model's parameters and its declared training state (:meth:`MSAModel.training_state`), the best
weights so far, optimizer and scheduler states, early-stopping state and every RNG state.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import numpy as np
import torch

from msa_bench.util.atomic import atomic_write
from msa_bench.util.errors import ConfigError

CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path: Path, payload: dict) -> None:
    """Write ``payload`` plus the current RNG states to ``path`` (whole or not at all). The bytes
    are serialised first and written as a file, so a full or read-only disk is an ``OSError``
    naming the checkpoint (``torch.save`` to a path raises a bare ``RuntimeError``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({**payload, "rng": rng_state()}, buffer)
    atomic_write(path, lambda temporary: Path(temporary).write_bytes(buffer.getvalue()))


def load_checkpoint(path: Path, identity: dict, device: torch.device) -> dict | None:
    """The checkpoint at ``path`` (``None`` when there is none), after checking that it was
    written by the same run (``identity``: configs, seed, data, feature dimensions, model code);
    restores the RNG states. Anything else is refused with what differs, never resumed."""
    if not path.is_file():
        return None
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
    except Exception as err:  # truncated or foreign file: torch raises several types
        raise ConfigError(
            f"{path}: unreadable checkpoint ({type(err).__name__}: {err}); it cannot be resumed. "
            "Delete it to start this run fresh, or pass another run folder"
        ) from None
    saved = payload.get("identity") if isinstance(payload, dict) else None
    if saved != identity:
        saved = saved if isinstance(saved, dict) else {}
        differs = sorted(key for key in set(saved) | set(identity) if saved.get(key) != identity.get(key))
        raise ConfigError(
            f"{path}: this checkpoint was written by another run (it differs in: {', '.join(differs)}), so it "
            "cannot be resumed. Delete the file to start this run fresh, or pass another run folder"
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
