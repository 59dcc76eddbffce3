"""Per-clip feature cache, so an interrupted extraction resumes where it stopped.

One ``.npz`` per clip and extractor: ``<root>/<modality>/<extractor>-<config hash>/<clip>-<key>.npz``
where the key hashes the clip's media file, time window and the decoding options. Files are
written atomically and read with ``allow_pickle=False``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import numpy as np

from msa_bench.features.base import Extractor
from msa_bench.features.clips import Clip


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]


class FeatureCache:
    def __init__(self, root: str | Path, extractor: Extractor, decode_options: dict[str, object]) -> None:
        self.dir = Path(root) / extractor.modality / f"{_safe(extractor.name)}-{extractor.config.config_hash()}"
        self.decode_options = decode_options

    def path(self, clip: Clip) -> Path:
        key = json.dumps(
            {
                "media": str(clip.media),
                "window": [clip.window.start, clip.window.end],
                "text": clip.text,
                **self.decode_options,
                **({"words": [[w.text, w.start, w.end] for w in clip.words or []]} if self.decode_options.get("per_word") else {}),
            },
            sort_keys=True,
        )
        return self.dir / f"{_safe(clip.id)}-{hashlib.sha256(key.encode()).hexdigest()[:10]}.npz"

    def get(self, clip: Clip) -> tuple[np.ndarray, np.ndarray | None] | None:
        path = self.path(clip)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                return stored["values"], (stored["times"] if "times" in stored else None)
        except (OSError, ValueError, KeyError):
            path.unlink(missing_ok=True)  # a half-written file from a killed run: recompute it
            return None

    def put(self, clip: Clip, values: np.ndarray, times: np.ndarray | None) -> None:
        path = self.path(clip)
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"values": values} if times is None else {"values": values, "times": times}
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        with open(partial, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(partial, path)
