"""Robustness results from the worker's predictions: scored here, where the labels are.

The worker runs the conditions (:mod:`msa_bench.worker.sweep`) and returns one predictions
table per condition plus a layout placing each condition on the curves. :func:`assemble` joins
each table to the test labels, computes every curve metric and builds the record's robustness
section: the clean metrics, per protocol the modality drops and the missing-rate curves (with
their AUILC, :mod:`msa_bench.scoring.robustness`), the noise curves, and the skipped conditions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import datasets
import pandas as pd
import torch

from msa_bench.scoring.metrics import compute_metrics
from msa_bench.scoring.robustness import LEVELS, auilc, curve_metrics
from msa_bench.models import MSAModel
from msa_bench.util.runtime import resolve_device
from msa_bench.worker.sweep import CLEAN, noise_source_of, sweep_predictions

#: The benchmark's training regimes, as TrainConfig overrides. ``"default"``: each model's own
#: schedule. ``"lnln"``: LNLN's training (Zhang et al. 2024): every training example also draws a
#: missing rate uniformly in [0, 1] and loses that share of its frames, tokens and words, unannounced.
TRACKS: dict[str, dict[str, float]] = {"default": {}, "lnln": {"missing_frame_rate": 1.0}}
#: A text with at most this many distinct transcripts and no text features is a fixed prompt
#: (RAVDESS: one of two statements), not a modality: its robustness conditions do not apply.
FIXED_PROMPTS = 2


def not_applicable_modalities(dataset: datasets.DatasetDict) -> dict[str, str]:
    """Modalities present in the data whose robustness conditions mean nothing, with the reason."""
    texts = set()
    for split in dataset.values():
        if any(value is not None for value in split.select_columns(["text_features"])[:64]["text_features"]):
            return {}
        texts.update(split.unique("text"))
    texts.discard(None)
    texts.discard("")
    if 0 < len(texts) <= FIXED_PROMPTS:
        return {"text": f"every transcript is one of {len(texts)} fixed sentences, independent of the labels"}
    return {}


def assemble(layout: Mapping, scores: Callable[[str], dict[str, float]], tasks: Sequence[str]) -> dict:
    """The record's robustness section from a sweep ``layout`` and ``scores`` (condition key ->
    metrics of that condition's predictions against the labels)."""
    metrics = curve_metrics(tasks)
    levels = list(layout["levels"])
    known: dict[str, dict[str, float]] = {}

    def score(key: str) -> dict[str, float]:
        if key not in known:
            known[key] = {name: value for name, value in scores(key).items()}
        return known[key]

    def curve(keys: Sequence[str]) -> dict:
        values = {m: [score(k).get(m, math.nan) for k in keys] for m in metrics}
        return {"levels": levels, "values": values, "auilc": {m: auilc(levels, v) for m, v in values.items()}}

    protocols = {
        protocol: {
            "modality_drop": {label: score(key) for label, key in part["modality_drop"].items()},
            "missing_rate": {name: curve(keys) for name, keys in part["missing_rate"].items()},
        }
        for protocol, part in layout["protocols"].items()
    }
    return {
        "metric": metrics[0],
        "metrics": list(metrics),
        "grid": layout["grid"],
        "levels": levels,
        "clean": score(CLEAN),
        "protocols": protocols,
        "noise": {name: curve(keys) for name, keys in layout["noise"].items()},
        "skipped": dict(layout["skipped"]),
    }


def condition_scores(tables: Mapping[str, pd.DataFrame]) -> Callable[[str], dict[str, float]]:
    """Condition key -> metrics of its predictions table (labels joined); undefined metrics are NaN."""

    def score(key: str) -> dict[str, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined metrics (e.g. constant predictions) are NaN by design
            metrics = compute_metrics(tables[key])
        return {name: float(value) if math.isfinite(value) else math.nan for name, value in metrics.items()}

    return score


def evaluate_robustness(
    model: MSAModel,
    test: datasets.Dataset,
    train: datasets.Dataset,
    device: str | torch.device = "cpu",
    seed: int = 0,
    levels: Sequence[float] = LEVELS,
    progress: str | Path | None = None,
    not_applicable: Mapping[str, str] | None = None,
) -> dict:
    """The robustness section of a record for a model in this process (no boundary): the
    worker's sweep on the labelled ``test`` split (its predictions tables carry the labels) and
    the scoring in one call. ``progress``: a folder keeping each finished condition, so a stopped
    sweep resumes."""
    noise = noise_source_of(model, train, seed)
    layout, tables = sweep_predictions(
        model, test, noise, seed=seed, levels=levels, device=resolve_device(device), not_applicable=not_applicable,
        progress=None if progress is None else Path(progress),
    )
    return assemble(layout, condition_scores(tables), model.tasks)
