"""Test-time robustness of a trained model, measured the way the literature does.

No retraining; every condition is seeded (run seed and condition name), and conditions are
:mod:`msa_bench.inputs.corruption` transforms of the test batches' inputs:

- **missing rate** r in 0.0, 0.1, ..., 1.0 (:data:`~msa_bench.scoring.robustness.LEVELS`): each real frame, token feature
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

The curves are summarised by :mod:`msa_bench.scoring.robustness` (AUILC for every metric of
:data:`~msa_bench.scoring.robustness.CURVE_METRICS`, MultiBench's relative and effective
robustness). Conditions that cannot
apply to the dataset (a modality it lacks, text noise without training text) are skipped and
listed under ``"skipped"`` with the reason.
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import datasets
import torch

from msa_bench.util.atomic import atomic_write
from msa_bench.inputs.batching import Batch
from msa_bench.scoring.robustness import LEVELS, auilc, check_levels, curve_metrics, grid_name
from msa_bench.inputs.corruption import PROTOCOLS, Transform, gaussian_noise, missing, text_noise, unk_token
from msa_bench.worker.evaluation import metrics_of_columns, predict
from msa_bench.inputs.loader import EVAL_BATCH_SIZE, batches_of, eval_batches
from msa_bench.models import MSAModel
from msa_bench.inputs.normalization import normalize_inputs
from msa_bench.util.runtime import resolve_device
from msa_bench.data.schema import MODALITIES


#: The benchmark's training regimes, as TrainConfig overrides. ``"default"``: each model's own
#: schedule. ``"lnln"``: LNLN's training (Zhang et al. 2024): every training example also draws a
#: missing rate uniformly in [0, 1] and loses that share of its frames, tokens and words, unannounced.
TRACKS: dict[str, dict[str, float]] = {"default": {}, "lnln": {"missing_frame_rate": 1.0}}
#: Training examples read for the noise statistics (a seeded subset on larger splits).
STATISTICS_EXAMPLES = 2048


def condition_generator(seed: int, *key: object) -> torch.Generator:
    """A generator seeded from the run seed and the condition's name (stable across runs)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(repr(key).encode()))


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
