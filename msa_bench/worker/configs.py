"""A model's training schedule for a dataset: its ``default_configs`` entry with overrides on top."""

from __future__ import annotations

from msa_bench.models import ModelConfig, MSAModel, build_config
from msa_bench.worker.train_config import TrainConfig

#: Training schedule of a model that declares no "synthetic" default config (``msa-bench run``).
FALLBACK_SYNTHETIC = {"train": {"max_epochs": 5, "patience": 3}}


#: The schedule of a model without a default config for the dataset: RAVDESS has no sentiment
#: (the default selection metric, MAE), so selection is on the categorical emotion's UA.
FALLBACK_CONFIGS = {"synthetic": FALLBACK_SYNTHETIC, "ravdess": {"train": {"select_metric": "emotion_ua", "patience": 6}}}


def model_name_of(model_class: type[MSAModel]) -> str:
    return getattr(model_class, "registered_name", None) or model_class.__name__


def resolve_configs(
    model_class: type[MSAModel],
    dataset_name: str,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
) -> tuple[ModelConfig, TrainConfig]:
    """The model's ``default_configs[dataset_name]`` with overrides on top (unknown keys are errors)."""
    defaults = model_class.default_configs.get(dataset_name) or FALLBACK_CONFIGS.get(dataset_name, {})
    model_config = build_config(model_class, {**defaults.get("model", {}), **(model_overrides or {})})
    train_config = TrainConfig.from_dict({**defaults.get("train", {}), **(train_overrides or {})})
    return model_config, train_config


def schedule_name(
    model_class: type[MSAModel],
    dataset_name: str,
    model_overrides: dict | None = None,
    train_overrides: dict | None = None,
) -> str:
    """The name of the training schedule :func:`resolve_configs` gives: the ``default_configs``
    entry (``"fallback"`` for a model without one on a dataset of :data:`FALLBACK_CONFIGS`, ``"defaults"`` for none),
    with ``"+overrides"`` when overrides were given."""
    if dataset_name in model_class.default_configs:
        name = dataset_name
    else:
        name = "fallback" if dataset_name in FALLBACK_CONFIGS else "defaults"
    return name + ("+overrides" if model_overrides or train_overrides else "")
