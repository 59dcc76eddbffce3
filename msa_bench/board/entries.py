"""Leaderboard entries and boards: one model on one dataset (its records, one per seed, and their
predictions), and the boards that gather the entries comparable with each other."""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msa_bench.data.schema import MODALITIES
from msa_bench.records.record import MetricSummary, ResultRecord
from msa_bench.util.errors import UserError

#: Seeds of the protocol; boards with fewer per entry say so.
PROTOCOL_SEEDS = 5


class LeaderboardError(UserError):
    """A record or an entry cannot go on the leaderboard; the message says why."""


@dataclass
class Entry:
    """One model on one dataset: its records (one per seed) and their predictions."""

    model: str
    kind: str
    records: list[ResultRecord]
    summary: dict[str, MetricSummary]  # recomputed from the predictions
    scores: dict[str, np.ndarray]  # bootstrap distribution of each seed-mean metric (examples and seeds)
    ids: frozenset[str]
    card: str | None = None  # the model card with its fidelity table, relative to the repository root
    builtin: bool = False  # a model of this repository's baselines (re-run by the maintainers)
    confusion: np.ndarray | None = None  # categorical emotion counts over all seeds (true x predicted)
    verified: bool = False  # every seed re-run identically by msa-bench verify since its last change

    @property
    def paper(self) -> dict:
        """The published numbers, unless the entry ran with overrides of the model's schedule for
        the dataset (another encoder, fewer epochs, text only): then they describe another setting."""
        if any(str(r.training.get("schedule", "")).endswith("+overrides") for r in self.records):
            return {}
        return self.records[0].paper_results

    @property
    def predictions_only(self) -> bool:
        return self.kind == "predictions_only"

    @property
    def reference(self) -> bool:
        """A plain baseline row (e.g. a scikit-learn script), not a model: deterministic, one run."""
        return bool(self.records[0].config.get("reference"))

    @property
    def folder(self) -> str:
        """The entry's folder, relative to the records folder."""
        return f"{self.records[0].dataset}/{self.model}/"


@dataclass
class Board:
    """The entries of one dataset that were trained and scored on the same data: one feature
    set, one dataset fingerprint, one set of test ids."""

    dataset: str
    features: str  # what the records say about their features ("audio: egemaps-lld, ..."); "" when they do not say
    entries: list[Entry]
    anchor: str  # the id of the board's section on the HTML page

    @property
    def title(self) -> str:
        return f"{self.dataset} — {self.features}" if self.features else self.dataset


def features_of(config: Mapping) -> str:
    """The feature set a record's config names (``config["data"]["features"]``), one line:
    ``"audio: egemaps-lld, pooled 100 ms"``; modalities marked ``"none"`` are left out."""
    data = config.get("data") if isinstance(config, Mapping) else None
    features = data.get("features") if isinstance(data, Mapping) else None
    if features is None:
        return ""
    if not isinstance(features, Mapping):
        return str(features)
    named = [(m, features[m]) for m in MODALITIES if m in features] + sorted((k, v) for k, v in features.items() if k not in MODALITIES)
    return "; ".join(f"{m}: {v}" for m, v in named if v not in (None, "", "none"))


def board_anchor(dataset: str, features: str, several: bool) -> str:
    """The dataset name, or with several feature sets on the page the name and the feature set
    (letters, digits, ``_`` and ``-``; at most 80 characters)."""
    if not several or not features:
        return dataset
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{dataset}-{features}").strip("-")
    return slug if len(slug) <= 80 else f"{slug[:71]}-{zlib.crc32(features.encode()):08x}"


REPOSITORY = Path(__file__).resolve().parents[2]


def _registered(entry_name: str):
    """The registered model class of an entry (``name`` or ``name+variant``), or ``None``."""
    from msa_bench.models import MODELS, load_builtin_baselines

    load_builtin_baselines()
    name = entry_name.split("+", 1)[0]
    return MODELS.get(name) if name in MODELS.names() else None


def is_builtin(entry_name: str) -> bool:
    """Whether an entry (``name`` or ``name+track``) is one of this repository's baselines."""
    model = _registered(entry_name)
    return model is not None and model.__module__.startswith("baselines.")


#: Tag of a protocol entry whose model code is not one of this repository's baselines.
SUBMITTED_CODE = "submitted code"


#: Tag of an entry every seed of which ``msa-bench verify`` re-ran identically since its last change.
VERIFIED = "re-run ✓"
#: What a record's isolation says, when the model did not run in the sandbox.
ISOLATION_TAGS = {"process": "not sandboxed (plain process)", "none": "not isolated (in-process run)"}


def entry_tags(entry: Entry) -> list[str]:
    if entry.predictions_only:
        tags = ["predictions only"]
    else:
        tags = [] if entry.builtin or entry.reference else [SUBMITTED_CODE]
        isolation = {r.isolation for r in entry.records} - {"sandbox"}
        tags += [ISOLATION_TAGS.get(level, level) for level in sorted(isolation) if not entry.reference]
    tags += [VERIFIED] if entry.verified else []
    return tags + training_tags(entry.records[0].config, entry.model)


def model_card(entry_name: str) -> str | None:
    """``docs/models/<module>.md`` of a built-in model (an entry ``name+track`` too), if it has one."""
    model = _registered(entry_name)
    if model is None:
        return None
    card = f"docs/models/{model.__module__.rsplit('.', 1)[-1]}.md"
    return card if model.__module__.startswith("baselines.") and (REPOSITORY / card).is_file() else None


def training_tags(config: Mapping, model: str | None = None) -> list[str]:
    """What a record's config says about missing-modality augmentation in training (these
    entries are tagged in every leaderboard table), plus what a built-in ``model`` (entry name,
    ``name+track`` too) declares it does inside itself (``MSAModel.missing_modality_training``).
    A value of another type than the config's (text where a rate is expected) is shown as given."""
    train = config.get("train") if isinstance(config.get("train"), Mapping) else {}
    tags = ["reference"] if config.get("reference") else []  # a plain baseline row (e.g. scikit-learn), not a model
    declared = _declared_missing_training(model, config.get("model")) if model else ""
    if declared:
        tags.append(f"trained with {declared}")
    for key, tag in (
        ("missing_modality_rate", "trained with modality dropout (rate ≤ {})"),
        ("missing_frame_rate", "trained with missing frames (LNLN, rate ≤ {})"),
    ):
        rate = _rate(train.get(key))
        if rate:
            tags.append(tag.format(rate))
    return tags


def _rate(value: object) -> str:
    """A rate above zero as shown in a tag ("" for zero, absent or not a number)."""
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return f"{value:g}" if value > 0 else ""
    return str(value)


_FIELD = re.compile(r"\{(\w+)(?:![rsa])?(?::[^{}]*)?\}")


def _declared_missing_training(entry: str, model_config: object) -> str:
    model = _registered(entry)
    if model is None or not model.missing_modality_training or not isinstance(model_config, Mapping):
        return ""
    template = model.missing_modality_training
    if any(name not in model_config for name in _FIELD.findall(template)):
        return ""  # a record of an older config than the model declares
    try:
        return template.format(**model_config)
    except (ValueError, TypeError):  # a value of another type than the format expects: shown as given
        return _FIELD.sub(lambda match: str(model_config[match.group(1)]), template)
