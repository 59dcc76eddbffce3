"""Test-time robustness of a trained model: no retraining, every condition seeded.

Each condition is a :class:`~msa_bench.batching.Batch` transform applied to the test batches
before the model sees them:

- **modality drop**: every non-empty subset of {text, audio, vision} removed (marked absent:
  ``present`` False, mask False, features 0); the model decides what absent means.
- **missing rate** r in {0.0, ..., 0.9}: each real frame/token is dropped (mask False, features
  0) with probability r, for all modalities jointly and for each alone; a modality left with
  no frame is marked absent.
- **noise** level s in {0.0, ..., 0.9}: audio/vision get Gaussian noise of standard deviation
  s x (that feature's standard deviation over the test split's real frames); text gets token
  corruption: each real token's features are replaced, with probability s, by those of a
  random token of the test split.

Curves report the primary metric (:data:`msa_bench.metrics.PRIMARY_METRIC` of the model's first
task, higher is better: ``acc2_non0`` for sentiment, ``emotion_wa`` for categorical emotion,
``emotions_wacc_mean`` for emotion intensities) with the area under each curve (trapezoid,
divided by the range of r, so it is the curve's mean level, on the metric's scale).
"""

from __future__ import annotations

import itertools
import warnings
import zlib
from collections.abc import Callable, Sequence

import datasets
import numpy as np
import torch

from msa_bench.batching import Batch, ModalityBatch
from msa_bench.models import MSAModel
from msa_bench.schema import MODALITIES
from msa_bench.training import (
    EVAL_BATCH_SIZE,
    absent_where,
    eval_batches,
    metrics_of_columns,
    predict,
    resolve_device,
)

LEVELS: tuple[float, ...] = tuple(round(0.1 * k, 1) for k in range(10))
#: The coarser grid of the main job (``msa-bench run``): same range, so AUCs stay comparable,
#: and each point equals the full grid's (conditions are seeded per level).
QUICK_LEVELS: tuple[float, ...] = (0.0, 0.3, 0.6, 0.9)
#: Removed-modality subsets, named like "text+audio" in MODALITIES order.
DROP_CONDITIONS: tuple[tuple[str, ...], ...] = tuple(
    combo for k in range(1, len(MODALITIES) + 1) for combo in itertools.combinations(MODALITIES, k)
)

Transform = Callable[[Batch], Batch]


def primary_metric(tasks: Sequence[str]) -> str:
    """The curve metric for a model predicting ``tasks`` (sentiment first, then emotion, emotions)."""
    from msa_bench.metrics import PRIMARY_METRIC

    for task in ("sentiment", "emotion", "emotions"):
        if task in tasks:
            return PRIMARY_METRIC[task]
    raise ValueError(f"no task to evaluate among {tuple(tasks)}")


def condition_generator(seed: int, *key: object) -> torch.Generator:
    """A generator seeded from the run seed and the condition's name (stable across runs)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(repr(key).encode()))


# --------------------------------------------------------------------------- transforms


def drop(names: Sequence[str]) -> Transform:
    """Remove whole modalities."""

    def transform(batch: Batch) -> Batch:
        for name in names:
            modality = batch.modality(name)
            batch = batch.with_modality(name, absent_where(modality, torch.ones_like(modality.present)))
        return batch

    return transform


def missing_frames(names: Sequence[str], rate: float, generator: torch.Generator) -> Transform:
    """Drop each real frame/token of ``names`` with probability ``rate``."""

    def transform(batch: Batch) -> Batch:
        for name in names:
            modality = batch.modality(name)
            kept = torch.rand(modality.mask.shape, generator=generator) >= rate
            mask = modality.mask & kept
            features = modality.features * mask.unsqueeze(-1).to(modality.features.dtype)
            batch = batch.with_modality(name, ModalityBatch(features, mask, modality.present & mask.any(dim=1)))
        return batch

    return transform


def gaussian_noise(name: str, level: float, std: torch.Tensor, generator: torch.Generator) -> Transform:
    """Add N(0, (level x std)^2) to the real frames of one modality (std per feature)."""

    def transform(batch: Batch) -> Batch:
        modality = batch.modality(name)
        noise = torch.randn(modality.features.shape, generator=generator) * (level * std)
        noise = noise * modality.mask.unsqueeze(-1).to(noise.dtype)
        return batch.with_modality(name, ModalityBatch(modality.features + noise, modality.mask, modality.present))

    return transform


def token_corruption(level: float, pool: torch.Tensor, generator: torch.Generator) -> Transform:
    """Replace each real text token's features, with probability ``level``, by a random pool token's."""

    def transform(batch: Batch) -> Batch:
        text = batch.text
        replaced = (torch.rand(text.mask.shape, generator=generator) < level) & text.mask
        picks = torch.randint(len(pool), (int(replaced.sum()),), generator=generator)
        features = text.features.clone()
        features[replaced] = pool[picks]
        return batch.with_modality("text", ModalityBatch(features, text.mask, text.present))

    return transform


# --------------------------------------------------------------------------- the sweep


def real_frames(batches: Sequence[Batch], name: str) -> torch.Tensor:
    """Every real frame of one modality over the batches, (N, D)."""
    frames = [b.modality(name).features[b.modality(name).mask & b.modality(name).present.unsqueeze(1)] for b in batches]
    return torch.cat(frames)


def area_under_curve(levels: Sequence[float], values: Sequence[float]) -> float:
    """Trapezoid area divided by the range of the levels (NaN if any value is NaN)."""
    return float(np.trapezoid(values, levels) / (levels[-1] - levels[0]))


class RobustnessSweep:
    """All conditions on one trained model and one test split."""

    def __init__(
        self,
        model: MSAModel,
        test: datasets.Dataset,
        device: str | torch.device = "cpu",
        seed: int = 0,
        levels: Sequence[float] = LEVELS,
    ) -> None:
        self.model = model
        self.device = resolve_device(device)
        self.seed = seed
        self.levels = tuple(levels)
        self.batches = eval_batches(test, EVAL_BATCH_SIZE)
        self.metric = primary_metric(model.tasks)

    def evaluate(self, transform: Transform | None = None) -> dict[str, float]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # undefined metrics (e.g. constant predictions) are NaN by design
            return metrics_of_columns(predict(self.model, self.batches, self.device, transform)[1])

    def run(self) -> dict:
        clean = self.evaluate()
        return {
            "metric": self.metric,
            "clean": clean[self.metric],
            "modality_drop": {"+".join(names): self.evaluate(drop(names)) for names in DROP_CONDITIONS},
            "missing_rate": {
                key: self._curve(clean, lambda r, names=names, key=key: missing_frames(
                    names, r, condition_generator(self.seed, "missing", key, r)
                ), "rates")
                for key, names in (("all", MODALITIES), *((m, (m,)) for m in MODALITIES))
            },
            "noise": {name: self._curve(clean, self._noise(name), "levels") for name in ("audio", "vision", "text")},
        }

    def _noise(self, name: str) -> Callable[[float], Transform]:
        frames = real_frames(self.batches, name)
        if name == "text":
            return lambda s: token_corruption(s, frames, condition_generator(self.seed, "noise", name, s))
        std = frames.std(dim=0) if len(frames) > 1 else torch.zeros(frames.shape[1])
        return lambda s: gaussian_noise(name, s, std, condition_generator(self.seed, "noise", name, s))

    def _curve(self, clean: dict[str, float], make: Callable[[float], Transform], axis: str) -> dict:
        values = [clean[self.metric] if level == 0 else self.evaluate(make(level))[self.metric] for level in self.levels]
        return {axis: list(self.levels), "values": values, "auc": area_under_curve(self.levels, values)}


def evaluate_robustness(
    model: MSAModel,
    test: datasets.Dataset,
    device: str | torch.device = "cpu",
    seed: int = 0,
    levels: Sequence[float] = LEVELS,
) -> dict:
    """The robustness dict stored in a result record (see the module docstring)."""
    return RobustnessSweep(model, test, device, seed, levels).run()
