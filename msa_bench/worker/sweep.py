"""The robustness conditions, run where the model runs: seeded corruptions of the test inputs.

No retraining; every condition is seeded (run seed and condition name), and conditions are
:mod:`msa_bench.inputs.corruption` transforms of the test batches' inputs:

- **missing rate** r on the level grid (:data:`~msa_bench.scoring.robustness.LEVELS`): each real
  frame, token feature row and transcript word is dropped with probability r, for all modalities
  jointly (``"all"``) and for each alone, under both protocols of
  :data:`~msa_bench.inputs.corruption.PROTOCOLS` (``"unannounced"``, the papers', and
  ``"announced"``). The same frames are dropped under both protocols at each level.
- **modality drop**: every non-empty subset of the dataset's modalities removed (missing rate
  1.0 for those modalities), under both protocols.
- **noise** level s on the same grid: audio/vision get Gaussian noise of standard deviation s x
  (the feature's standard deviation over the *training* split's real frames, after the model's
  feature normalisation, which every condition follows); text tokens are replaced with
  probability s by random training-split tokens (feature rows, transcript words). Noise does not
  depend on the protocol.

The worker only predicts: :func:`sweep_predictions` returns each condition's predictions and a
*layout* naming the condition behind every point of every curve. The harness, which holds the
labels, scores them and assembles the record's robustness section
(:func:`msa_bench.harness.robustness.assemble`). Conditions that cannot apply (a modality the
test inputs lack, text noise without training text, a modality the harness marks not
applicable) are listed under ``"skipped"`` with the reason.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import datasets
import pandas as pd
import torch

from msa_bench.data.schema import MODALITIES
from msa_bench.inputs.batching import Batch
from msa_bench.inputs.corruption import PROTOCOLS, Transform, gaussian_noise, missing, text_noise, unk_token
from msa_bench.inputs.loader import EVAL_BATCH_SIZE, batches_of, eval_batches
from msa_bench.inputs.normalization import normalize_inputs
from msa_bench.models import MSAModel
from msa_bench.scoring.robustness import check_levels, grid_name
from msa_bench.util.atomic import atomic_write
from msa_bench.worker.evaluation import predictions_of

#: Training examples read for the noise statistics (a seeded subset on larger splits).
STATISTICS_EXAMPLES = 2048
#: The key of the uncorrupted test inputs (every curve's level 0.0).
CLEAN = "clean"


def condition_generator(seed: int, *key: object) -> torch.Generator:
    """A generator seeded from the run seed and the condition's name (stable across runs)."""
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(repr(key).encode()))


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

    def save(self, tensors: Path, vocabulary: Path) -> None:
        """Tensors to ``tensors`` (``torch.save``), the vocabulary to ``vocabulary`` (JSON)."""
        payload = {"text_rows": self.text_rows, **{f"std_{m}": v for m, v in self.std.items()}}
        atomic_write(tensors, lambda path: torch.save(payload, path))
        atomic_write(vocabulary, lambda path: Path(path).write_text(json.dumps(list(self.vocabulary)), encoding="utf-8"))

    @classmethod
    def load(cls, tensors: Path, vocabulary: Path) -> NoiseSource:
        payload = torch.load(tensors, weights_only=True)
        std = {key.removeprefix("std_"): value for key, value in payload.items() if key.startswith("std_")}
        return cls(std, payload["text_rows"], tuple(json.loads(Path(vocabulary).read_text(encoding="utf-8"))))


def available_modalities(batches: Sequence[Batch]) -> dict[str, bool]:
    """Which modalities any test example has (text: token features or a transcript)."""
    has = {name: any(bool(b.modality(name).present.any()) for b in batches) for name in MODALITIES}
    has["text"] = has["text"] or any(text.strip() for b in batches for text in b.raw_text)
    return has


def _key(*parts: object) -> str:
    return "/".join(f"{p:.1f}" if isinstance(p, float) else str(p) for p in parts)


class ConditionPlan:
    """Every condition of one sweep: a transform per key, and the layout placing each key."""

    def __init__(
        self,
        inputs: Sequence[Batch],
        noise: NoiseSource,
        *,
        seed: int,
        levels: Sequence[float],
        unk: str,
        not_applicable: Mapping[str, str] | None = None,
    ) -> None:
        check_levels(levels)
        self.inputs, self.noise, self.seed, self.unk = inputs, noise, seed, unk
        self.levels = tuple(float(level) for level in levels)
        not_applicable = dict(not_applicable or {})
        available = available_modalities(inputs)
        self.skipped = {f"modality {m}": f"the dataset has no {m}" for m in MODALITIES if not available[m]}
        self.skipped.update({f"modality {m}": reason for m, reason in not_applicable.items() if available.get(m)})
        self.modalities = tuple(m for m in MODALITIES if available[m] and m not in not_applicable)
        self.transforms: dict[str, Transform | None] = {CLEAN: None}

    def _missing(self, protocol: str, names: Sequence[str], rate: float) -> str:
        if rate == 0.0:
            return CLEAN
        label = "+".join(names)
        key = _key(protocol, "missing", label, rate)
        generator = condition_generator(self.seed, "missing", label, rate)
        self.transforms[key] = missing(names, rate, generator, protocol, self.unk)
        return key

    def layout(self) -> dict:
        """The sweep's layout: ``protocols`` (modality drops and missing-rate curves per
        protocol), ``noise`` curves per modality, each point a condition key; ``skipped``."""
        protocols = {}
        for protocol in PROTOCOLS:
            drops = [c for k in range(1, len(self.modalities) + 1) for c in itertools.combinations(self.modalities, k)]
            curves = {"all": self.modalities, **{m: (m,) for m in self.modalities}}
            protocols[protocol] = {
                "modality_drop": {"+".join(names): self._missing(protocol, names, 1.0) for names in drops},
                "missing_rate": {key: [self._missing(protocol, names, r) for r in self.levels] for key, names in curves.items()},
            }
        noise = {}
        skipped = dict(self.skipped)
        for name in self.modalities:
            make, reason = self._noise(name)
            if make is None:
                skipped[f"noise {name}"] = reason
                continue
            noise[name] = [CLEAN if s == 0.0 else self._add(_key("noise", name, s), make(s)) for s in self.levels]
        return {
            "grid": grid_name(self.levels),
            "levels": list(self.levels),
            "protocols": protocols,
            "noise": noise,
            "skipped": skipped,
        }

    def _add(self, key: str, transform: Transform) -> str:
        self.transforms[key] = transform
        return key

    def _noise(self, name: str) -> tuple[Callable[[float], Transform] | None, str]:
        """(level -> transform, "") or (None, why the condition cannot apply)."""
        source = self.noise
        if name == "text":
            rows = source.text_rows if any(bool(b.text.present.any()) for b in self.inputs) else source.text_rows[:0]
            vocabulary = source.vocabulary if any(t.strip() for b in self.inputs for t in b.raw_text) else ()
            if not len(rows) and not vocabulary:
                return None, "the training split has no text tokens to draw replacements from"
            return (lambda s: text_noise(s, rows, vocabulary, condition_generator(self.seed, "noise", name, s))), ""
        if not bool((source.std[name] > 0).any()):
            return None, f"the training split has no varying {name} features to scale the noise by"
        return (lambda s: gaussian_noise(name, s, source.std[name], condition_generator(self.seed, "noise", name, s))), ""


def sweep_predictions(
    model: MSAModel,
    test: datasets.Dataset,
    noise: NoiseSource,
    *,
    seed: int,
    levels: Sequence[float],
    device: torch.device,
    not_applicable: Mapping[str, str] | None = None,
    progress: Path | None = None,
) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The layout of the sweep and the predictions table of every condition it names.

    ``progress``: a folder keeping each finished condition's predictions, so a sweep stopped
    midway resumes where it was when run again on the same model and seed.
    """
    batches = eval_batches(test, EVAL_BATCH_SIZE)
    plan = ConditionPlan(
        [batch for batch, _ in batches], noise, seed=seed, levels=levels, unk=unk_token(model), not_applicable=not_applicable
    )
    layout = plan.layout()
    tables = {}
    for key, transform in plan.transforms.items():
        saved = None if progress is None else Path(progress) / f"{hashlib.sha256(f'{seed}:{key}'.encode()).hexdigest()[:16]}.parquet"
        if saved is not None and saved.is_file():
            tables[key] = pd.read_parquet(saved)
            continue
        tables[key] = predictions_of(model, batches, device, transform)
        if saved is not None:
            saved.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(saved, lambda path, table=tables[key]: table.to_parquet(path, index=False))
    return layout, tables


def noise_source_of(model: MSAModel, train: datasets.Dataset, seed: int) -> NoiseSource:
    """The noise statistics of ``train`` in the model's normalised input space."""
    return NoiseSource.of(train, seed, normalize=partial(normalize_inputs, model))
