"""``load_dataset``: build (or read from cache) a dataset in the unified schema."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import datasets
from datasets.exceptions import DatasetGenerationError

from msa_bench.builders import DATASETS
from msa_bench.util.errors import ConfigError, UserError

NAMESPACE = "msa_bench/"
#: ``load_dataset`` options that name an extractor per modality (extraction on the fly).
EXTRACTOR_KEYS = ("audio", "text", "vision")


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

    ``data_dir`` may also be an ``msa-bench extract`` output folder (or its ``dataset/``): its
    features are loaded, split by ``config`` where the builder can (RAVDESS's ``split_scheme``).
    Extractor specs in ``config`` (``audio=``, ``text=``, ``vision=``, as for ``extract``) extract
    the raw media of ``data_dir`` on the fly into the cache, once. A second call with the same
    arguments is served from the cache.

    >>> ds = load_dataset("msa_bench/synthetic", n_clips=300)  # doctest: +SKIP
    >>> ds = load_dataset("ravdess", data_dir="ravdess/", audio="egemaps-lld", split_scheme="speech20")  # doctest: +SKIP
    """
    specs = {m: spec for m in EXTRACTOR_KEYS if (spec := config.pop(m, None)) is not None}
    folder = None if data_dir is None else extraction_folder(Path(data_dir))
    if specs:
        if data_dir is None or folder is not None:
            raise ConfigError(f"{', '.join(specs)}=: extracting needs data_dir, the folder of raw media (got {data_dir})")
        folder = extract_into_cache(name, Path(data_dir), cache_dir, specs)
    if folder is not None:
        return load_extraction(name, folder, config)
    builder = get_builder(name, data_dir=data_dir, cache_dir=cache_dir, **config)
    try:
        builder.download_and_prepare()
    except DatasetGenerationError as err:  # a bad source file found mid-build: its own message, not datasets' wrapper
        if isinstance(err.__cause__, UserError):
            raise err.__cause__ from None
        raise
    return builder.as_dataset()


def extraction_folder(data_dir: Path) -> Path | None:
    """``data_dir`` (or its parent, for ``OUT/dataset``) when it is an ``msa-bench extract`` output
    marked by :data:`~msa_bench.features.pipeline.MARKER`; ``None`` for anything else."""
    from msa_bench.features.pipeline import MARKER

    for folder in (data_dir, data_dir.parent if data_dir.name == "dataset" else None):
        if folder is not None and (folder / MARKER).is_file():
            return folder
    if (data_dir / "dataset" / "dataset_dict.json").is_file() and (data_dir / "summary.json").is_file():
        raise UserError(
            f"{data_dir}: an msa-bench extract output from an older msa_bench (no {MARKER}); run the same "
            f"`msa-bench extract ... --out {data_dir}` again: it reuses the features in its cache/"
        )
    return None


def load_extraction(name: str, folder: Path, config: dict) -> datasets.DatasetDict:
    """The dataset an ``extract`` run saved under ``folder``, checked against ``name`` and split by
    ``config`` (only RAVDESS splits extracted rows again; other datasets keep the extraction's)."""
    from msa_bench.features.pipeline import LAYOUT_VERSION, MARKER, load_extracted

    marker_path = folder / MARKER
    try:
        marker = json.loads(marker_path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise UserError(f"{marker_path}: not valid JSON ({err}); run msa-bench extract again with --out {folder}") from None
    dataset = canonical_name(name)
    DATASETS.get(dataset)  # an unknown name fails as it does for every builder
    if marker.get("dataset") != dataset:
        raise UserError(
            f"{folder}: extracted for the dataset {marker.get('dataset')!r} (see {MARKER}), not {dataset!r}; "
            f"pass --dataset {marker.get('dataset')} or another --data-dir"
        )
    if marker.get("layout_version") != LAYOUT_VERSION:
        raise UserError(
            f"{folder}: written by another msa_bench version (layout {marker.get('layout_version')}, this one reads "
            f"{LAYOUT_VERSION}); run the same `msa-bench extract ... --out {folder}` again: it reuses its cache/"
        )
    extracted = load_extracted(folder)
    if dataset == "ravdess":
        from msa_bench.builders.ravdess import RavdessConfig, split_extracted

        return split_extracted(extracted, RavdessConfig(**config))
    if config:
        raise ConfigError(
            f"{folder}: options {sorted(config)} cannot apply to extracted {dataset} features, which keep the "
            "splits of the extraction"
        )
    return extracted


def extract_into_cache(name: str, data_dir: Path, cache_dir: str | Path | None, specs: dict[str, str]) -> Path:
    """Extract ``data_dir``'s raw media with ``specs`` into a cache folder keyed by the source
    files' fingerprint and the specs (once; later calls find the marked folder)."""
    from msa_bench.builders.base import source_fingerprint
    from msa_bench.features.pipeline import extract

    root = Path(cache_dir or default_cache_dir() or datasets.config.HF_DATASETS_CACHE) / "msa_bench_extractions"
    key = hashlib.sha256(json.dumps({"source": source_fingerprint(data_dir), **specs}, sort_keys=True).encode()).hexdigest()[:16]
    folder = root / f"{canonical_name(name)}-{key}"
    if extraction_folder(folder) is None:
        extract(canonical_name(name), data_dir, folder, **specs)
    return folder
