"""``load_dataset``: build (or read from cache) a dataset in the unified schema."""

from __future__ import annotations

import os
from pathlib import Path

import datasets
from datasets.exceptions import DatasetGenerationError

from msa_bench.builders import DATASETS
from msa_bench.errors import UserError

NAMESPACE = "msa_bench/"


def canonical_name(name: str) -> str:
    """``"msa_bench/mosei"`` and ``"mosei"`` name the same dataset."""
    return name.removeprefix(NAMESPACE).lower()


def default_cache_dir() -> str | None:
    """``$MSA_BENCH_CACHE`` when set, else the ``datasets`` library's own cache."""
    return os.environ.get("MSA_BENCH_CACHE")


def get_builder(
    name: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None, **config
) -> datasets.DatasetBuilder:
    """The builder for ``name``, configured with ``config`` (not yet prepared)."""
    builder_class = DATASETS.get(canonical_name(name))
    cache_dir = cache_dir or default_cache_dir()
    return builder_class(
        cache_dir=None if cache_dir is None else str(cache_dir),
        data_dir=None if data_dir is None else str(data_dir),
        **config,
    )


def load_dataset(
    name: str, data_dir: str | Path | None = None, cache_dir: str | Path | None = None, **config
) -> datasets.DatasetDict:
    """Build dataset ``name`` in the unified schema, with ``train``/``validation``/``test`` splits.

    A second call with the same arguments is served from the cache.

    >>> ds = load_dataset("msa_bench/synthetic", n_clips=300)  # doctest: +SKIP
    """
    builder = get_builder(name, data_dir=data_dir, cache_dir=cache_dir, **config)
    try:
        builder.download_and_prepare()
    except DatasetGenerationError as err:  # a bad source file found mid-build: its own message, not datasets' wrapper
        if isinstance(err.__cause__, UserError):
            raise err.__cause__ from None
        raise
    return builder.as_dataset()
