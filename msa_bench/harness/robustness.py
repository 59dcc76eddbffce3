"""Test-time robustness of a trained model, measured the way the literature does.

No retraining; every condition is seeded (run seed and condition name), and conditions are
:mod:`msa_bench.inputs.corruption` transforms of the test batches' inputs:

- **missing rate** r in 0.0, 0.1, ..., 1.0 (:data:`LEVELS`): each real frame, token feature
  row and transcript word is dropped with probability r, for all modalities jointly (``"all"``)
  and for each alone, under both protocols of :data:`~msa_bench.inputs.corruption.PROTOCOLS`
  (``"unannounced"``, the papers', and ``"announced"``). The same frames are dropped under
  both protocols at each level.
- **modality drop**: every non-empty subset of the dataset's modalities removed (missing rate
  1.0 for those modalities), under both protocols.
- **noise** level s in the same grid: audio/vision get Gaussian noise of standard deviation
  s x (the feature's standard deviation over the *training* split's real frames, after the
  model's feature normalisation, :mod:`msa_bench.inputs.normalization`, which every condition follows); text tokens
  are replaced with probability s by random training-split tokens (feature rows, transcript
  words). Noise does not depend on the protocol.

Summaries (README, "Robustness protocols"): :func:`auilc` (EMT-DLFR's area under the
indicator-missing-rate curve: trapezoid over [0, 1]) for every metric of :data:`CURVE_METRICS`,
MultiBench's :func:`relative_robustness` and :func:`effective_robustness`. Conditions that cannot
apply to the dataset (a modality it lacks, text noise without training text) are skipped and
listed under ``"skipped"`` with the reason.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import datasets
import numpy as np
import torch

from msa_bench.util.atomic import atomic_write
from msa_bench.inputs.batching import Batch
from msa_bench.inputs.corruption import PROTOCOLS, Transform, gaussian_noise, missing, text_noise, unk_token
from msa_bench.harness.evaluation import metrics_of_columns, predict
from msa_bench.inputs.loader import EVAL_BATCH_SIZE, batches_of, eval_batches
from msa_bench.models import MSAModel
from msa_bench.inputs.normalization import normalize_inputs
from msa_bench.util.runtime import resolve_device
from msa_bench.data.schema import MODALITIES

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
#: The benchmark's training regimes, as TrainConfig overrides. ``"default"``: each model's own
#: schedule. ``"lnln"``: LNLN's training (Zhang et al. 2024): every training example also draws a
#: missing rate uniformly in [0, 1] and loses that share of its frames, tokens and words, unannounced.
TRACKS: dict[str, dict[str, float]] = {"default": {}, "lnln": {"missing_frame_rate": 1.0}}
#: Training examples read for the noise statistics (a seeded subset on larger splits).
STATISTICS_EXAMPLES = 2048


def training_tags(config: Mapping, model: str | None = None) -> list[str]:
    """What a record's config says about missing-modality augmentation in training (these
    entries are tagged in every leaderboard table), plus what a built-in ``model`` (entry name,
    ``name+track`` too) declares it does inside itself (``MSAModel.missing_modality_training``)."""
    train = config.get("train", {})
    tags = ["reference"] if config.get("reference") else []  # a plain baseline row (e.g. scikit-learn), not a model
    declared = _declared_missing_training(model, config.get("model", {})) if model else ""
    if declared:
        tags.append(f"trained with {declared}")
    if train.get("missing_modality_rate", 0) > 0:
        tags.append(f"trained with modality dropout (rate ≤ {train['missing_modality_rate']:g})")
    if train.get("missing_frame_rate", 0) > 0:
        tags.append(f"trained with missing frames (LNLN, rate ≤ {train['missing_frame_rate']:g})")
    return tags


def _declared_missing_training(entry: str, model_config: Mapping) -> str:
    from msa_bench.models import MODELS, load_builtin_baselines

    load_builtin_baselines()
    name = entry.split("+", 1)[0]
    if name not in MODELS.names():
        return ""
    try:
        return MODELS.get(name).missing_modality_training.format(**model_config)
    except (KeyError, IndexError):  # a record of an older config than the model declares
        return ""


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


def condition_generator(seed: int, *key: object) -> torch.Generator:
    """A generator seeded from the run seed and the condition's name (stable across runs)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(repr(key).encode()))


# --------------------------------------------------------------------------- summaries


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


# --------------------------------------------------------------------------- training statistics


@dataclass(frozen=True)
class NoiseSource:
    """What noise draws from, taken from the training split only: per-feature standard
    deviations of audio/vision real frames, a pool of real text feature rows and the
    transcripts' vocabulary (sorted, so draws are stable). ``normalize`` is the model's input
    normalisation (:func:`msa_bench.inputs.normalization.normalize_inputs`): the conditions corrupt
    normalised inputs, so the statistics are those of the normalised training frames."""

    std: dict[str, torch.Tensor]
    text_rows: torch.Tensor
    vocabulary: tuple[str, ...]

    @classmethod
    def of(
        cls,
        train: datasets.Dataset,
        seed: int,
        max_examples: int = STATISTICS_EXAMPLES,
        normalize: Callable[[Batch], Batch] | None = None,
    ) -> NoiseSource:
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
        picks = sorted(order[:max_examples].tolist())
        examples = batches_of(train)
        frames: dict[str, list[torch.Tensor]] = {m: [] for m in MODALITIES}
        for start in range(0, len(picks), EVAL_BATCH_SIZE):
            batch, _ = examples[picks[start : start + EVAL_BATCH_SIZE]]
            batch = batch if normalize is None else normalize(batch)
            for name, modality in batch.modalities():
                frames[name].append(modality.features[modality.mask & modality.present.unsqueeze(1)])
        real = {m: torch.cat(f) if f else torch.zeros(0, examples.dims.get(m, 1)) for m, f in frames.items()}
        std = {m: real[m].std(dim=0) if len(real[m]) > 1 else torch.zeros(real[m].shape[1]) for m in ("audio", "vision")}
        vocabulary = tuple(sorted({word for text in train["text"] if text for word in text.split()}))
        return cls(std, real["text"], vocabulary)


# --------------------------------------------------------------------------- the sweep


def _available(batches: Sequence[Batch]) -> dict[str, bool]:
    """Which modalities any test example has (text: token features or a transcript)."""
    has = {name: any(bool(b.modality(name).present.any()) for b in batches) for name in MODALITIES}
    has["text"] = has["text"] or any(text.strip() for b in batches for text in b.raw_text)
    return has


def _key(*parts: object) -> str:
    return "/".join(f"{p:.1f}" if isinstance(p, float) else str(p) for p in parts)


class RobustnessSweep:
    """All conditions on one trained model and one test split, noise drawn from the training split.

    ``progress`` (a JSON file) keeps every finished condition, so a sweep that stopped midway
    resumes where it was when run again on the same model and seed.
    """

    def __init__(
        self,
        model: MSAModel,
        test: datasets.Dataset,
        train: datasets.Dataset,
        device: str | torch.device = "cpu",
        seed: int = 0,
        levels: Sequence[float] = LEVELS,
        progress: str | Path | None = None,
    ) -> None:
        check_levels(levels)
        self.model = model
        self.device = resolve_device(device)
        self.seed = seed
        self.levels = tuple(float(level) for level in levels)
        self.batches = eval_batches(test, EVAL_BATCH_SIZE)
        self.inputs = [batch for batch, _ in self.batches]
        self.noise_source = NoiseSource.of(train, seed, normalize=partial(normalize_inputs, model))
        self.unk = unk_token(model)
        self.metrics = curve_metrics(model.tasks)
        self.available = _available(self.inputs)
        self.modalities = tuple(m for m in MODALITIES if self.available[m])
        self.progress = None if progress is None else Path(progress)
        self.done = self._read_progress()

    # ---- evaluation, memoised and resumable

    def _read_progress(self) -> dict[str, dict[str, float]]:
        if self.progress is None or not self.progress.is_file():
            return {}
        try:
            saved = json.loads(self.progress.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            return {}
        return saved.get("conditions", {}) if saved.get("seed") == self.seed else {}

    def evaluate(self, key: str, transform: Transform | None) -> dict[str, float]:
        """All metrics of the model on the transformed test inputs (memoised by ``key``)."""
        if key not in self.done:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # undefined metrics (e.g. constant predictions) are NaN by design
                metrics = metrics_of_columns(predict(self.model, self.batches, self.device, transform)[1])
            self.done[key] = {name: _finite_or_none(value) for name, value in metrics.items()}
            if self.progress is not None:
                text = json.dumps({"seed": self.seed, "conditions": self.done}, sort_keys=True)
                atomic_write(self.progress, lambda path: Path(path).write_text(text, encoding="utf-8"))
        return {name: math.nan if value is None else value for name, value in self.done[key].items()}

    def _missing(self, protocol: str, names: Sequence[str], rate: float) -> dict[str, float]:
        label = "+".join(names)
        generator = condition_generator(self.seed, "missing", label, rate)
        return self.evaluate(_key(protocol, "missing", label, rate), missing(names, rate, generator, protocol, self.unk))

    # ---- the conditions

    def run(self) -> dict:
        clean = self.evaluate("clean", None)
        skipped = {f"modality {m}": f"the dataset has no {m}" for m in MODALITIES if not self.available[m]}
        protocols = {}
        for protocol in PROTOCOLS:
            drops = [c for k in range(1, len(self.modalities) + 1) for c in itertools.combinations(self.modalities, k)]
            keys = {"all": self.modalities, **{m: (m,) for m in self.modalities}}
            protocols[protocol] = {
                "modality_drop": {"+".join(names): self._missing(protocol, names, 1.0) for names in drops},
                "missing_rate": {
                    key: self._curve(clean, lambda r, names=names: self._missing(protocol, names, r))
                    for key, names in keys.items()
                },
            }
        noise = {}
        for name in self.modalities:
            make, reason = self._noise(name)
            if make is None:
                skipped[f"noise {name}"] = reason
                continue
            noise[name] = self._curve(
                clean, lambda s, name=name, make=make: self.evaluate(_key("noise", name, s), make(s))
            )
        return {
            "metric": self.metrics[0],
            "metrics": list(self.metrics),
            "grid": grid_name(self.levels),
            "levels": list(self.levels),
            "clean": clean,
            "protocols": protocols,
            "noise": noise,
            "skipped": skipped,
        }

    def _noise(self, name: str) -> tuple[Callable[[float], Transform] | None, str]:
        """(level -> transform, "") or (None, why the condition cannot apply)."""
        source = self.noise_source
        if name == "text":
            rows = source.text_rows if any(bool(b.text.present.any()) for b in self.inputs) else source.text_rows[:0]
            vocabulary = source.vocabulary if any(t.strip() for b in self.inputs for t in b.raw_text) else ()
            if not len(rows) and not vocabulary:
                return None, "the training split has no text tokens to draw replacements from"
            return (lambda s: text_noise(s, rows, vocabulary, condition_generator(self.seed, "noise", name, s))), ""
        if not bool((source.std[name] > 0).any()):
            return None, f"the training split has no varying {name} features to scale the noise by"
        return (lambda s: gaussian_noise(name, s, source.std[name], condition_generator(self.seed, "noise", name, s))), ""

    def _curve(self, clean: dict[str, float], at: Callable[[float], dict[str, float]]) -> dict:
        points = [clean if level == 0.0 else at(level) for level in self.levels]
        values = {m: [point.get(m, math.nan) for point in points] for m in self.metrics}
        return {
            "levels": list(self.levels),
            "values": values,
            "auilc": {m: auilc(self.levels, v) for m, v in values.items()},
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def evaluate_robustness(
    model: MSAModel,
    test: datasets.Dataset,
    train: datasets.Dataset,
    device: str | torch.device = "cpu",
    seed: int = 0,
    levels: Sequence[float] = LEVELS,
    progress: str | Path | None = None,
) -> dict:
    """The robustness dict stored in a result record (see the module docstring)."""
    return RobustnessSweep(model, test, train, device, seed, levels, progress).run()
