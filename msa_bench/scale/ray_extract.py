"""Distributed feature extraction on Ray Data: ``msa-bench extract ... --engine ray``.

Writes exactly what :func:`msa_bench.features.pipeline.extract` writes (``dataset/``,
``errors.csv``, ``summary.json``, ``cache/``), with the same resume semantics, because both share
the per-clip :class:`~msa_bench.features.cache.FeatureCache` and the same assembly step:

* the clip list is read on the driver; per modality, clips already in the cache are skipped;
* CPU-bound extractors (openSMILE) decode and extract inside parallel Ray tasks;
* torch extractors (transformers encoders, py-feat) get inputs decoded by parallel CPU tasks and
  run in an actor pool, one model per actor, each actor holding one GPU when ``device="cuda"``;
* workers write every result to the cache themselves (atomic per-clip files; ``out`` must be on
  storage every node sees) and send back only the failure reason of a clip that failed, which
  goes to the errors table while the job continues;
* the driver assembles the dataset from the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from msa_bench.features.base import Extractor, Failure, build_extractor
from msa_bench.features.cache import FeatureCache
from msa_bench.features.clips import Clip
from msa_bench.features.pipeline import (
    ExtractionResult,
    cache_options,
    check_pooling,
    extract_batch,
    extract_word_batch,
    list_clips,
    load_input,
    modality_specs,
    save_extraction,
)
from msa_bench.scale.cluster import cluster_gpus, connect


# -- what runs on the workers ------------------------------------------------------------------
def _failures(results: list) -> np.ndarray:
    """Per clip: the failure reason, or "" when the result went to the cache."""
    return np.array([r.reason if isinstance(r, Failure) else "" for r in results], dtype=object)


def _cache_results(cache: FeatureCache, clips: list[Clip], results: list) -> np.ndarray:
    for clip, result in zip(clips, results):
        if not isinstance(result, Failure):
            cache.put(clip, *result)
    return _failures(results)


def decode_and_extract(batch: dict, *, make_extractor: Callable[[], Extractor], clips: list[Clip], cache: FeatureCache, fps: float) -> dict:
    """Ray task of a CPU-bound extractor: decode, extract and cache a batch of clips."""
    extractor = make_extractor()
    chosen = [clips[i] for i in batch["index"]]
    results = [extract_batch(extractor, [load_input(extractor.modality, clip, fps)])[0] for clip in chosen]
    return {"index": batch["index"], "failure": _cache_results(cache, chosen, results)}


def decode(batch: dict, *, modality: str, clips: list[Clip], fps: float) -> dict:
    """Ray task feeding an actor pool: the decoded input of each clip (or its decoding failure)."""
    inputs = np.empty(len(batch["index"]), dtype=object)
    inputs[:] = [load_input(modality, clips[i], fps) for i in batch["index"]]
    return {"index": batch["index"], "input": inputs}


class ExtractorActor:
    """Ray actor of a torch extractor: the model is moved to ``device`` once and kept loaded."""

    def __init__(
        self, make_extractor: Callable[[], Extractor], clips: list[Clip], cache: FeatureCache, device: str, word_aligned: bool
    ) -> None:
        self.extractor = make_extractor().to(device)
        self.clips = clips
        self.cache = cache
        self.word_aligned = word_aligned

    def __call__(self, batch: dict) -> dict:
        chosen = [self.clips[i] for i in batch["index"]]
        if self.extractor.modality == "text" and self.word_aligned:
            results = extract_word_batch(self.extractor, chosen)
        else:
            results = extract_batch(self.extractor, list(batch["input"]))
        return {"index": batch["index"], "failure": _cache_results(self.cache, chosen, results)}


# -- the driver --------------------------------------------------------------------------------
def run_modality_on_ray(
    extractor: Extractor,
    make_extractor: Callable[[], Extractor],
    clips: list[Clip],
    cache: FeatureCache,
    *,
    fps: float,
    batch_size: int,
    workers: int,
    device: str,
    word_aligned: bool = False,
) -> dict[str, object]:
    """Results per clip id for one extractor, like the local engine's ``run_modality``:
    cached clips are read back, the rest computed on the cluster (and cached by the workers).
    ``make_extractor`` builds ``extractor`` again on a worker (models are loaded there, not shipped)."""
    import ray

    todo = [i for i, clip in enumerate(clips) if cache.get(clip) is None]
    failures: dict[int, str] = {}
    if todo:
        shared = {"clips": clips}
        items = ray.data.from_items([{"index": i} for i in todo], override_num_blocks=min(len(todo), 4 * workers))
        if extractor.runs_in_workers:
            done = items.map_batches(
                decode_and_extract,
                fn_kwargs={"make_extractor": make_extractor, "cache": cache, "fps": fps, **shared},
                batch_size=1,
                num_cpus=1,
                concurrency=workers,
            )
        else:
            decoded = items.map_batches(
                decode, fn_kwargs={"modality": extractor.modality, "fps": fps, **shared}, batch_size=batch_size, num_cpus=1
            )
            done = decoded.map_batches(
                ExtractorActor,
                fn_constructor_kwargs={
                    "make_extractor": make_extractor, "cache": cache, "device": device, "word_aligned": word_aligned, **shared
                },
                batch_size=batch_size,
                num_cpus=1,
                num_gpus=1 if device.startswith("cuda") else 0,
                concurrency=workers,
            )
        failures = {row["index"]: row["failure"] for row in done.iter_rows() if row["failure"]}
    results: dict[str, object] = {}
    for i, clip in enumerate(clips):
        results[clip.id] = Failure(failures[i]) if i in failures else cache.get(clip)
        if results[clip.id] is None:  # a worker reported success but its file is not visible here
            raise RuntimeError(f"{cache.path(clip)}: missing after extraction; is {cache.dir} on storage every Ray node sees?")
    return results


def extract_on_ray(
    dataset: str,
    data_dir: str | Path,
    out: str | Path,
    *,
    audio: str | Extractor | None = None,
    text: str | Extractor | None = None,
    vision: str | Extractor | None = None,
    options: dict[str, dict[str, object]] | None = None,
    device: str = "cpu",
    fps: float = 5.0,
    batch_size: int = 16,
    workers: int | None = None,
    label_file: str | None = None,
    word_timings: str | Path | None = None,
    limit: int | None = None,
    pool_ms: float | None = None,
    address: str | None = None,
) -> ExtractionResult:
    """:func:`msa_bench.features.pipeline.extract` on a Ray cluster (same arguments and output).

    ``address``: ``None`` (a local Ray instance), ``"auto"`` or ``"ray://host:port"``.
    ``workers``: parallel tasks / actors per stage (default: the cluster's CPUs, or its GPUs for
    torch extractors on ``device="cuda"``). Extractors named by a spec are built here (for the
    cache keys and metadata) and again on each worker, which moves torch models to ``device``;
    an :class:`Extractor` instance is shipped to the workers as it is (it must be picklable).
    """
    pool_ms = check_pooling(pool_ms, word_timings)
    ray = connect(address)
    if device.startswith("cuda") and cluster_gpus() == 0:
        raise RuntimeError(f"--device {device} asked for, but the Ray cluster has no GPU")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clips, split_report, checks = list_clips(dataset, data_dir, label_file, word_timings, limit)
    specs = modality_specs(audio, text, vision)
    recipes = {m: partial(build_extractor, m, spec, **(options or {}).get(m, {})) for m, spec in specs.items() if spec is not None}
    extractors = {m: make() for m, make in recipes.items()}
    results, caches = {}, {}
    for modality, extractor in extractors.items():
        caches[modality] = FeatureCache(out / "cache", extractor, cache_options(modality, fps, word_timings is not None))
        on_gpu = device.startswith("cuda") and not extractor.runs_in_workers
        default_workers = int(cluster_gpus()) if on_gpu else int(ray.cluster_resources().get("CPU", 1))
        results[modality] = run_modality_on_ray(
            extractor,
            recipes[modality],
            clips,
            caches[modality],
            fps=fps,
            batch_size=batch_size,
            workers=max(1, workers or default_workers),
            device=device if on_gpu else "cpu",
            word_aligned=word_timings is not None,
        )
    changed = {m: cache.changed for m, cache in caches.items()}
    return save_extraction(
        dataset, clips, results, extractors, out, fps, word_timings is not None, split_report, checks, changed, pool_ms=pool_ms
    )
