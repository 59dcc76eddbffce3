"""Check config values against the dataclass field types before the dataclass sees them.

Without this, ``lr: abc`` in a YAML config reaches ``TrainConfig.__post_init__`` and fails with
``'>' not supported between 'str' and 'int'``, naming neither the field nor the expected type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping

from msa_bench.util.errors import ConfigError

_SIMPLE = {bool: "a boolean (true/false)", int: "an integer", float: "a number", str: "a string"}


def _accepts(kind: object, value: object) -> bool | None:
    """Whether ``value`` fits the annotation ``kind``; ``None`` when the annotation is not checked."""
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if kind in (bool, str):
        return isinstance(value, kind)
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        verdicts = [_accepts(arg, value) for arg in typing.get_args(kind)]
        return None if None in verdicts else any(verdicts)
    if kind is type(None):
        return value is None
    if origin in (tuple, list) or kind in (tuple, list):
        return isinstance(value, (tuple, list))
    if origin is dict or kind is dict:
        return isinstance(value, Mapping)
    return None


def _describe(kind: object) -> str:
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(kind))
    if kind is type(None):
        return "null"
    return _SIMPLE.get(kind, getattr(kind, "__name__", str(kind)))


def check_field_types(config_class: type, values: Mapping[str, object], section: str) -> None:
    """Raise :class:`ConfigError` naming ``section.field``, the expected type and the value given,
    for the first value of ``values`` that does not fit its field's annotation."""
    hints = typing.get_type_hints(config_class)
    for field in dataclasses.fields(config_class):
        if field.name in values and _accepts(hints.get(field.name), values[field.name]) is False:
            raise ConfigError(
                f"{section}.{field.name}: expected {_describe(hints[field.name])}, got {values[field.name]!r}"
            )
