"""Robustness summaries: the level grids, the curve metrics and the areas under the curves.

Pure functions over recorded curves: :func:`auilc` (EMT-DLFR's area under the
indicator-missing-rate curve), MultiBench's :func:`relative_robustness` and
:func:`effective_robustness`. The sweep that produces the curves is
:mod:`msa_bench.harness.robustness`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

#: The full grid: rates/levels 0.0 to 1.0 in steps of 0.1 (EMT-DLFR's AUILC grid).
LEVELS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(11))


#: The main job's coarse grid: a subset of :data:`LEVELS` spanning [0, 1]; each point equals the
#: full grid's, but its areas are a coarser trapezoid, so they are labelled "quick" and never
#: shown beside full-grid areas.
QUICK_LEVELS: tuple[float, ...] = (0.0, 0.3, 0.6, 1.0)


GRIDS: dict[str, tuple[float, ...]] = {"full": LEVELS, "quick": QUICK_LEVELS}


#: The metrics whose curves and AUILC are recorded, per task (the primary metric first).
CURVE_METRICS: dict[str, tuple[str, ...]] = {
    "sentiment": ("acc2_non0", "acc2_has0", "f1_non0", "f1_has0", "mae", "corr", "acc7"),
    "emotion": ("emotion_wa", "emotion_ua", "emotion_macro_f1"),
    "emotions": ("emotions_wacc_mean", "emotions_f1_mean"),
}


#: MultiBench's reference for effective robustness: late fusion.
REFERENCE_MODEL = "lf_dnn"


def primary_metric(tasks: Sequence[str]) -> str:
    """The headline curve metric for a model predicting ``tasks`` (sentiment, then emotion, emotions)."""
    return curve_metrics(tasks)[0]


def curve_metrics(tasks: Sequence[str]) -> tuple[str, ...]:
    """Every recorded curve metric of ``tasks``, the primary one first."""
    names = tuple(m for task in ("sentiment", "emotion", "emotions") if task in tasks for m in CURVE_METRICS[task])
    if not names:
        raise ValueError(f"no task to evaluate among {tuple(tasks)}")
    return names


def grid_name(levels: Sequence[float]) -> str:
    """``"full"``, ``"quick"`` or ``"custom"``: areas are comparable only within one grid."""
    return next((name for name, grid in GRIDS.items() if tuple(levels) == grid), "custom")


def check_levels(levels: Sequence[float]) -> None:
    """A grid must rise strictly from 0.0 to 1.0 (AUILC integrates over [0, 1])."""
    if len(levels) < 2 or levels[0] != 0.0 or levels[-1] != 1.0 or any(b <= a for a, b in zip(levels, levels[1:])):
        raise ValueError(f"robustness levels must rise strictly from 0.0 to 1.0, got {list(levels)}")


def auilc(levels: Sequence[float], values: Sequence[float]) -> float:
    """Area under the indicator-missing-rate curve: the trapezoid over [0, 1] (EMT-DLFR).

    On the metric's scale (a flat curve at 0.8 has area 0.8); NaN if any value is NaN.

    >>> auilc([0.0, 0.5, 1.0], [0.8, 0.6, 0.5])
    0.625
    """
    check_levels(levels)
    return float(np.trapezoid(np.asarray(values, dtype=float), np.asarray(levels, dtype=float)))


def effective_robustness(levels: Sequence[float], values: Sequence[float], reference: Sequence[float]) -> float:
    """MultiBench's effective robustness as an area: ``auilc(f) - auilc(beta)``, where the
    reference curve ``beta = reference + (f(0) - reference(0))`` is shifted to the model's clean
    score. Positive: the model keeps more of its clean score than the reference does (for a
    lower-is-better metric such as MAE, positive means it degrades more).
    """
    f, g = np.asarray(values, dtype=float), np.asarray(reference, dtype=float)
    return auilc(levels, f) - auilc(levels, g + (f[0] - g[0]))


def relative_robustness(areas: Mapping[str, float], higher_is_better: bool = True) -> dict[str, float]:
    """MultiBench's relative robustness: each model's area min-max normalised over the compared
    models (1 = the most robust, 0 = the least); NaN for an undefined area or a tie of all."""
    finite = {k: v if higher_is_better else -v for k, v in areas.items() if math.isfinite(v)}
    if len(finite) < 2 or max(finite.values()) == min(finite.values()):
        return {k: math.nan for k in areas}
    low, high = min(finite.values()), max(finite.values())
    return {k: (finite[k] - low) / (high - low) if k in finite else math.nan for k in areas}
