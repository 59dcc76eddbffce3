"""Finding models: the registered names, the built-in baselines (imported on first use) and
``file.py:Class`` specs."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable

from msa_bench.models.api import MODELS, MSAModel

_BUILTINS_LOADED = False


def load_builtin_baselines() -> None:
    """Import every module of the ``baselines`` package so their models register."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    import baselines

    for module in pkgutil.iter_modules(baselines.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"baselines.{module.name}")
    _BUILTINS_LOADED = True


def get_model_class(name: str) -> type[MSAModel]:
    """A registered model, a built-in baseline, ``file.py:Class`` / ``module:Class``, or an entry point."""
    if ":" not in name:
        load_builtin_baselines()
    model_class = MODELS.get(name)
    if not (isinstance(model_class, type) and issubclass(model_class, MSAModel)):
        raise TypeError(f"{name!r} is not an MSAModel subclass (got {model_class!r})")
    return model_class


def model_names() -> list[str]:
    load_builtin_baselines()
    return MODELS.names()


def builtin_model_names() -> list[str]:
    """The names of this repository's baselines (models a user registers in the same process are not)."""
    load_builtin_baselines()
    return [name for name in MODELS.names() if getattr(MODELS.get(name), "__module__", "").startswith("baselines.")]


def models_without_input(names: Iterable[str], modalities: Iterable[str]) -> dict[str, str]:
    """The models of ``names`` that read none of a dataset's ``modalities``, each with the reason:
    there they could only predict a constant, so a board leaves them out."""
    available = set(modalities)
    return {
        name: f"reads {', '.join(get_model_class(name).input_modalities)}; the dataset has only {', '.join(sorted(available))}"
        for name in names
        if not available & set(get_model_class(name).input_modalities)
    }
