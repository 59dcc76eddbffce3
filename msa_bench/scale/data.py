"""How a worker process gets a dataset: the arguments of :func:`msa_bench.load_dataset`."""

from __future__ import annotations

from dataclasses import dataclass

import datasets

_LOADED: dict = {}


@dataclass(frozen=True)
class DatasetSource:
    """:func:`msa_bench.load_dataset` arguments, picklable and hashable; loaded once per process."""

    name: str
    data_dir: str | None = None
    cache_dir: str | None = None
    options: tuple[tuple[str, object], ...] = ()

    def load(self) -> datasets.DatasetDict:
        if self not in _LOADED:
            from msa_bench.loading.load import load_dataset

            _LOADED[self] = load_dataset(self.name, data_dir=self.data_dir, cache_dir=self.cache_dir, **dict(self.options))
        return _LOADED[self]

    def to_dict(self) -> dict:
        return {"name": self.name, "data_dir": self.data_dir, "cache_dir": self.cache_dir, "options": dict(self.options)}

    @classmethod
    def from_dict(cls, values: dict) -> DatasetSource:
        return cls(values["name"], values.get("data_dir"), values.get("cache_dir"), tuple(sorted(values.get("options", {}).items())))
