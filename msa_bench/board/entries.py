"""Leaderboard entries: one model on one dataset, its records (one per seed) and their predictions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msa_bench.records.record import MetricSummary, ResultRecord
from msa_bench.util.errors import UserError


#: Seeds of the protocol; boards with fewer per entry say so.
PROTOCOL_SEEDS = 5


class LeaderboardError(UserError):
    """A record cannot go on the leaderboard; the message names the file and the reason."""


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

    @property
    def paper(self) -> dict:
        """The published numbers, unless the entry ran with overrides of the model's schedule for
        the dataset (another encoder, fewer epochs, text only): then they describe another setting."""
        if any(r.training.get("schedule", "").endswith("+overrides") for r in self.records):
            return {}
        return self.records[0].paper_results

    @property
    def predictions_only(self) -> bool:
        return self.kind == "predictions_only"

    @property
    def reference(self) -> bool:
        """A plain baseline row (e.g. a scikit-learn script), not a model."""
        return bool(self.records[0].config.get("reference"))


REPOSITORY = Path(__file__).resolve().parents[2]


def is_builtin(entry_name: str) -> bool:
    """Whether an entry (``name`` or ``name+track``) is one of this repository's baselines."""
    from msa_bench.models import MODELS, load_builtin_baselines

    load_builtin_baselines()
    name = entry_name.split("+", 1)[0]
    return name in MODELS.names() and MODELS.get(name).__module__.startswith("baselines.")


#: Tag of a protocol entry whose model code is not one of this repository's baselines.
SUBMITTED_CODE = "submitted code"


def entry_tags(entry: Entry) -> list[str]:
    if entry.predictions_only:
        tags = ["predictions only"]
    else:
        tags = [] if entry.builtin or entry.reference else [SUBMITTED_CODE]
    return tags + training_tags(entry.records[0].config, entry.model)


def model_card(entry_name: str) -> str | None:
    """``docs/models/<module>.md`` of a built-in model (an entry ``name+track`` too), if it has one."""
    from msa_bench.models import MODELS, load_builtin_baselines

    load_builtin_baselines()
    name = entry_name.split("+", 1)[0]
    if name not in MODELS.names():
        return None
    module = MODELS.get(name).__module__
    card = f"docs/models/{module.rsplit('.', 1)[-1]}.md"
    return card if module.startswith("baselines.") and (REPOSITORY / card).is_file() else None


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
