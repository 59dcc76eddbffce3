"""One generic registry, used for datasets, models, metrics and feature extractors.

Entries are either objects registered with the :meth:`Registry.register` decorator or lazy
``"package.module:Attribute"`` strings, so heavy stacks (py-feat, openSMILE, transformers) are
imported only when their entry is used. Unknown names answer with "did you mean ...?".
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Generic, TypeVar

from msa_bench.util.errors import MissingFileError, UnknownNameError

T = TypeVar("T")


def import_object(spec: str) -> object:
    """Import ``"package.module:Attr"`` or ``"path/to/file.py:Attr"``."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not attr:
        raise ValueError(f"expected 'module:Attribute' or 'file.py:Attribute', got {spec!r}")
    if module_name.endswith(".py"):
        path = Path(module_name).resolve()
        if not path.is_file():
            raise MissingFileError(f"{path}: no such file (from {spec!r})")
        unique_name = f"msa_bench_user_{abs(hash(str(path)))}_{path.stem}"
        module = sys.modules.get(unique_name)
        if module is None:
            module_spec = importlib.util.spec_from_file_location(unique_name, path)
            module = importlib.util.module_from_spec(module_spec)
            sys.modules[unique_name] = module
            module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise AttributeError(f"{module_name} has no attribute {attr!r} (from {spec!r})") from None


class Registry(Generic[T]):
    """Name -> object mapping with lazy import strings and helpful errors.

    ``entry_point_group`` names an installed-package entry-point group searched for names
    that are not registered here (how third-party packages add models).
    """

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._entries: dict[str, T | str] = {}

    def register(self, name: str, obj: T | str | None = None) -> Callable[[T], T] | None:
        """Register ``obj`` under ``name``; without ``obj``, use as a decorator."""
        if obj is not None:
            self._add(name, obj)
            return None

        def decorator(target: T) -> T:
            self._add(name, target)
            return target

        return decorator

    def _add(self, name: str, obj: T | str) -> None:
        existing = self._entries.get(name)
        if existing is not None and existing is not obj and not isinstance(existing, str):
            raise ValueError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = obj

    def get(self, name: str) -> T:
        """The object registered as ``name``; a ``file.py:Class`` or ``module:Class`` also works."""
        if name not in self._entries and ":" in name:
            return import_object(name)
        if name not in self._entries:
            self._load_entry_point(name)
        if name not in self._entries:
            raise UnknownNameError(self._unknown_message(name))
        entry = self._entries[name]
        if isinstance(entry, str):
            entry = import_object(entry)
            self._entries[name] = entry
        return entry

    def _load_entry_point(self, name: str) -> None:
        if self.entry_point_group is None:
            return
        for entry_point in importlib.metadata.entry_points(group=self.entry_point_group):
            if entry_point.name == name:
                self._entries[name] = entry_point.load()

    def _unknown_message(self, name: str) -> str:
        message = f"unknown {self.kind} {name!r}"
        close = difflib.get_close_matches(name, list(self._entries), n=3)
        if close:
            message += f"; did you mean {' or '.join(repr(c) for c in close)}?"
        return f"{message} (known: {', '.join(sorted(self._entries)) or 'none'})"

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
