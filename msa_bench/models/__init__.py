"""Model API and registry. Built-in baselines (the ``baselines`` package) register on first use."""

from __future__ import annotations

from msa_bench.models.api import (
    MAIN_STAGE,
    MODELS,
    TASKS,
    DataSpec,
    ModelConfig,
    ModelOutput,
    MSAModel,
    TaskHeads,
    TrainingStage,
    build_config,
    count_parameters,
    learning_rate_groups,
    masked_mean,
    register_model,
    task_loss,
)
from msa_bench.models.fidelity import FidelityRow
from msa_bench.models.registry import (
    builtin_model_names,
    get_model_class,
    load_builtin_baselines,
    model_names,
    models_without_input,
)
from msa_bench.models.text_encoder import TextEncoder, TextEncoding

__all__ = [
    "MAIN_STAGE",
    "MODELS",
    "TASKS",
    "DataSpec",
    "FidelityRow",
    "MSAModel",
    "ModelConfig",
    "ModelOutput",
    "TaskHeads",
    "TrainingStage",
    "build_config",
    "builtin_model_names",
    "count_parameters",
    "get_model_class",
    "learning_rate_groups",
    "load_builtin_baselines",
    "masked_mean",
    "model_names",
    "models_without_input",
    "register_model",
    "task_loss",
    "TextEncoder",
    "TextEncoding",
]
