"""Word alignment: one row per word, the mean of the frames inside the word's time interval."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from msa_bench.features.clips import Word


def average_in_words(values: np.ndarray, times: np.ndarray, words: Sequence[Word]) -> np.ndarray:
    """``(n_words, D)``: per word, the mean of the rows whose time lies in ``[start, end)``.

    A word shorter than the frame spacing holds no frame; it takes the frame nearest to its
    middle instead of a made-up zero row.
    """
    if len(values) != len(times):
        raise ValueError(f"{len(values)} feature rows but {len(times)} frame times")
    if not len(values):
        raise ValueError("no frames to align")
    rows = []
    for word in words:
        inside = (times >= word.start) & (times < word.end)
        if inside.any():
            rows.append(values[inside].mean(axis=0))
        else:
            rows.append(values[np.argmin(np.abs(times - (word.start + word.end) / 2))])
    return np.stack(rows).astype(np.float32)
