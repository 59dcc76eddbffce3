"""``load_dataset``: build (or read from cache) a dataset in the unified schema."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
from pathlib import Path

import datasets
from datasets.exceptions import DatasetGenerationError

from msa_bench.builders import DATASETS, EXTRACT_ONLY, GENERATED
from msa_bench.loading.describe import report_warnings
from msa_bench.loading.folders import check_data_dir, wrong_dataset_hint
from msa_bench.loading.resplit import SPLIT_OPTIONS, pop_split_options, resplit
from msa_bench.data.schema import msa_metadata
from msa_bench.sources.common import DataNotFoundError
from msa_bench.util.errors import ConfigError, MissingFileError, UserError

NAMESPACE = "msa_bench/"
#: ``load_dataset`` options that name an extractor per modality (extraction on the fly).
EXTRACTOR_KEYS = ("audio", "text", "vision")


def canonical_name(name: str) -> str:
    """``"msa_bench/mosei"`` and ``"mosei"`` name the same dataset."""
    return name.removeprefix(NAMESPACE).lower()


def default_cache_dir() -> str | None:
    """``$MSA_BENCH_CACHE`` when set, else the ``datasets`` library's own cache."""
    return os.environ.get("MSA_BENCH_CACHE")


def dataset_options(name: str) -> list[str]:
    """The options ``load_dataset(name, ...)`` takes: its builder config's fields, the extractor
    specs (for datasets read from files) and the split options every dataset takes."""
    name = canonical_name(name)
    own = []
    if name in DATASETS:
        base = {field.name for field in dataclasses.fields(datasets.BuilderConfig)}
        own = [f.name for f in dataclasses.fields(DATASETS.get(name).BUILDER_CONFIG_CLASS) if f.name not in base]
    return [*own, *(() if name in GENERATED else EXTRACTOR_KEYS), *SPLIT_OPTIONS]


def check_dataset_options(name: str, options: dict, valid: list[str]) -> None:
    """Refuse an option of ``options`` not in ``valid``, with the close names and every valid one."""
    unknown = [key for key in options if key not in valid]
    if not unknown:
        return
    named = [
        f"{key!r}" + (f" (did you mean {close[0]!r}?)" if (close := difflib.get_close_matches(key, valid, n=1)) else "")
        for key in unknown
    ]
    raise ConfigError(
        f"{name}: unknown dataset option {', '.join(named)}; the options of {name} are "
        f"{', '.join(valid)} (as --dataset-option KEY=VALUE on the command line)"
    )


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
    arguments is served from the cache. Every dataset also takes ``split_file`` (a CSV ``id,split``
    assigning every example) or ``validation_fraction`` (a share of the training speakers/videos
    moved to validation); see :mod:`msa_bench.loading.resplit`.

    >>> ds = load_dataset("msa_bench/synthetic", n_clips=300)  # doctest: +SKIP
    >>> ds = load_dataset("ravdess", data_dir="ravdess/", audio="egemaps-lld", split_scheme="speech20")  # doctest: +SKIP
    """
    name = canonical_name(name)
    data_dir = None if data_dir is None else Path(data_dir)
    check_data_dir(name, data_dir)
    split_options = pop_split_options(config)
    specs = {m: spec for m in EXTRACTOR_KEYS if (spec := config.pop(m, None)) is not None}
    folder = None if data_dir is None else extraction_folder(data_dir)
    if specs:
        if data_dir is None or folder is not None:
            raise ConfigError(f"{', '.join(specs)}=: extracting needs data_dir, the folder of raw media (got {data_dir})")
        folder = extract_into_cache(name, data_dir, cache_dir, specs)
    if folder is not None:
        dataset = load_extraction(name, folder, config)
    else:
        dataset = build(name, data_dir, cache_dir, config)
    check_not_empty(name, dataset, data_dir)
    return resplit(dataset, **split_options)


def build(name: str, data_dir: Path | None, cache_dir: str | Path | None, config: dict) -> datasets.DatasetDict:
    """Dataset ``name`` built (or read from the cache) by its registered builder."""
    if name in EXTRACT_ONLY:
        raise UserError(
            f"{name} has no builder: make its features with `msa-bench extract {name} --data-dir RAW --out FEATURES`, "
            "then pass FEATURES as --data-dir"
        )
    DATASETS.get(name)  # an unknown name is refused before its options
    check_dataset_options(name, config, dataset_options(name))
    try:
        builder = get_builder(name, data_dir=data_dir, cache_dir=cache_dir, **config)
        builder.download_and_prepare()
    except DataNotFoundError as err:
        hint = wrong_dataset_hint(name, data_dir)
        if hint:
            raise MissingFileError(f"{err}\n{hint}") from None
        raise
    except DatasetGenerationError as err:  # a bad source file found mid-build: its own message, not datasets' wrapper
        if isinstance(err.__cause__, UserError):
            raise err.__cause__ from None
        raise
    return builder.as_dataset()


def check_not_empty(name: str, dataset: datasets.DatasetDict, data_dir: Path | None) -> None:
    """Refuse a dataset with no example in any split (e.g. MOSI files read as MOSEI, whose folds
    name none of their videos), with what the build report says and a hint at the right dataset."""
    if any(len(rows) for rows in dataset.values()):
        return
    found = report_warnings(msa_metadata(dataset).report)
    reasons = f" The build reported: {'; '.join(found)}." if found else ""
    hint = wrong_dataset_hint(name, data_dir)
    raise UserError(
        f"{data_dir if data_dir is not None else name}: no example of {name} was found in any split.{reasons}"
        + (f" {hint}" if hint else " Check --data-dir and the dataset options given.")
    )


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
    if marker.get("dataset") != dataset:
        if dataset not in DATASETS and dataset not in EXTRACT_ONLY:
            DATASETS.get(dataset)  # an unknown name fails as it does for every builder
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

        check_dataset_options(dataset, config, dataset_options(dataset))
        return split_extracted(extracted, RavdessConfig(**config))
    if config:
        raise ConfigError(
            f"{folder}: options {sorted(config)} cannot apply to extracted {dataset} features, which keep the "
            f"splits of the extraction; {' or '.join(SPLIT_OPTIONS)} re-split any dataset"
        )
    return extracted


def extract_into_cache(name: str, data_dir: Path, cache_dir: str | Path | None, specs: dict[str, str]) -> Path:
    """Extract ``data_dir``'s raw media with ``specs`` into a cache folder keyed by the content of
    what the extraction reads (the clips' transcripts and labels, and the media files when an
    audio or vision extractor reads them) and the specs (once; later calls find the marked folder,
    and extract again, from its per-clip cache, when its saved dataset cannot be read whole)."""
    from msa_bench.features.clips import clips_fingerprint
    from msa_bench.features.pipeline import extract, extraction_readable, list_clips

    root = Path(cache_dir or default_cache_dir() or datasets.config.HF_DATASETS_CACHE) / "msa_bench_extractions"
    clips, _, _ = list_clips(canonical_name(name), data_dir, None, None, None)
    source = clips_fingerprint(clips, read_media=bool({"audio", "vision"} & set(specs)))
    key = hashlib.sha256(json.dumps({"source": source, **specs}, sort_keys=True).encode()).hexdigest()[:16]
    folder = root / f"{canonical_name(name)}-{key}"
    if extraction_folder(folder) is None or not extraction_readable(folder):
        extract(canonical_name(name), data_dir, folder, **specs)
    return folder
