"""Frame pooling: one row per fixed time window, the mean of the frames whose time falls in it.

Frame-level features come at the extractor's own rate (openSMILE LLDs every 10 ms, a Whisper
encoder every 20 ms, video frames at ``fps``). Sequence models read them more easily, and train
much faster, at a coarser rate: ``window_ms=100`` turns ~365 eGeMAPS frames of a 3.7 s clip into
37 rows. Window ``k`` holds the frames with ``k * window <= time < (k + 1) * window``; a window
holding no frame (e.g. faceless video frames) gives no row. Features without frame times
(functionals, text tokens) are not pooled.
"""

from __future__ import annotations

import numpy as np

from msa_bench.util.errors import ConfigError

#: Frame times are multiples of a hop in floating point (0.3 is 0.29999...): a time this close
#: below a window boundary belongs to the next window, as it would in exact arithmetic.
BOUNDARY_TOLERANCE = 1e-6


def check_window(window_ms: float | None) -> float | None:
    """A pooling window must be a positive number of milliseconds; returned as a float, so that
    ``100`` and ``100.0`` make the same metadata (and the same dataset fingerprint)."""
    if window_ms is not None and not window_ms > 0:
        raise ConfigError(f"pool window {window_ms!r} ms: give a positive number of milliseconds, e.g. 100")
    return None if window_ms is None else float(window_ms)


def pooled_name(feature_set: str, window_ms: float) -> str:
    """The feature-set name of pooled features, as datasets and records show it."""
    return f"{feature_set}, mean-pooled {window_ms:g} ms"


def pool_frames(values: np.ndarray, times: np.ndarray, window_ms: float) -> tuple[np.ndarray, np.ndarray]:
    """``(values, times)`` of the windows that hold frames: the mean of each window's rows (float32)
    and the window's start time in seconds."""
    if len(values) != len(times):
        raise ValueError(f"{len(values)} feature rows but {len(times)} frame times")
    window_s = window_ms / 1000
    windows = np.floor(np.asarray(times, dtype=np.float64) / window_s + BOUNDARY_TOLERANCE).astype(np.int64)
    if len(windows) and np.any(np.diff(windows) < 0):
        raise ValueError("frame times are not in increasing order")
    labels, starts, counts = np.unique(windows, return_index=True, return_counts=True)
    sums = np.add.reduceat(np.asarray(values, dtype=np.float32), starts, axis=0) if len(starts) else values[:0]
    return (sums / counts[:, None].astype(np.float32)).astype(np.float32), labels * window_s
