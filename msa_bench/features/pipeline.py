"""From raw media to the unified dataset: decode, extract each modality, align, save.

``extract("mosi", data_dir, out, audio="egemaps-lld", text="bert-base-uncased", vision="pyfeat")``
writes to ``out``:

* ``dataset/`` — the unified ``DatasetDict`` (``datasets.load_from_disk`` or :func:`load_extracted`),
  with every extractor's name, library version and config hash in ``msa_metadata(ds).provenance``;
* ``errors.csv`` — one row per clip and modality that failed (``id, modality, extractor, reason``),
  and one per problem in the source files (modality ``source``: malformed names, labels out of
  range, media without labels, labels without media — what the dataset builders report);
* ``token_ids.parquet`` — with a transformers text encoder: MMSA-style ``input_ids``,
  ``attention_mask``, ``segment_ids`` per clip id, for models that fine-tune the encoder;
* ``summary.json`` — clips succeeded / failed per modality (and those recomputed because their
  media file changed), and under ``source_checks`` the problems found in the source files;
* ``cache/`` — per-clip results, so a second run resumes where an interrupted one stopped;
* ``msa_bench_extraction.json`` — the marker (written last) by which ``load_dataset(NAME,
  data_dir=out)`` and every ``--data-dir`` recognise the folder: dataset name, schema version,
  extractor per modality and the content hash of what was read
  (:func:`~msa_bench.features.clips.clips_fingerprint`).

When no clip got any feature, only ``errors.csv`` and ``summary.json`` are written and
:class:`NothingExtracted` says why; ``out`` is created only when something is written in it.

CPU-bound extractors (openSMILE) run decode + extract in worker processes
(:mod:`~msa_bench.features.workers`: they die with this process); torch extractors get inputs
decoded by the workers and run batched in the main process on ``device``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import datasets
import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm.auto import tqdm

from msa_bench.builders.base import arrow_rows, example
from msa_bench.features.alignment import average_in_words
from msa_bench.features.base import Extractor, Failure, build_extractor
from msa_bench.features.cache import FeatureCache
from msa_bench.features.pooling import check_window, pool_frames, pooled_name
from msa_bench.util.atomic import atomic_dir, atomic_write, write_text
from msa_bench.util.errors import ConfigError, UserError
from msa_bench.features.clips import Clip, SourceChecks, assign_splits, clips_fingerprint, find_clips, read_word_timings
from msa_bench.features.workers import worker_pool
from msa_bench.data.media import SAMPLE_RATE, MediaError, read_audio, read_frames
from msa_bench.data.schema import MODALITIES, MSAMetadata
from msa_bench.sources.common import SPLITS

#: Feature-set name and placeholder dimension of a modality that was not extracted.
NO_FEATURES = "none"
NO_WORD_TIMINGS = "no word timings for this clip"
#: ``errors.csv`` modality of a problem in the source files rather than in one modality.
SOURCE = "source"
#: The file that marks a folder as an :func:`extract` output.
MARKER = "msa_bench_extraction.json"
#: Version of the saved layout; a folder of another version is extracted again (from its cache).
LAYOUT_VERSION = 2

Result = tuple[np.ndarray, np.ndarray | None] | Failure


class NothingExtracted(UserError):
    """No clip got any feature: the message names ``errors.csv`` and the commonest reasons."""

    def __init__(self, out: Path, errors: pd.DataFrame, summary: dict[str, dict], source_checks: dict[str, dict]) -> None:
        reasons = errors["reason"].value_counts().head(3)
        common = "; ".join(reason + (f" ({count} clips)" if count > 1 else "") for reason, count in reasons.items())
        total = max((s["total"] for s in summary.values()), default=0)
        super().__init__(
            f"{out}: none of the {total} clips got any feature, so no dataset was written; the reason for each "
            f"clip is in {out / 'errors.csv'}" + (f", e.g. {common}" if common else "")
        )
        self.summary = summary
        self.source_checks = source_checks


@dataclass(frozen=True)
class ExtractionResult:
    dataset: datasets.DatasetDict
    errors: pd.DataFrame
    summary: dict[str, dict[str, object]]
    out: Path
    #: What is wrong with the source files (:class:`~msa_bench.features.clips.SourceChecks` report).
    source_checks: dict[str, dict] | None = None


# -- decoding and extraction of one clip (also run inside worker processes) ----------------------
def load_input(modality: str, clip: Clip, fps: float):
    """The decoded input of ``clip`` for ``modality``: waveform, ``(frames, times)`` or text."""
    if modality == "text":
        return clip.text
    if clip.media is None:
        return Failure("no media file found for this clip")
    try:
        if modality == "audio":
            return read_audio(clip.media, clip.window)
        return read_frames(clip.media, fps, clip.window)
    except MediaError as err:
        return Failure(str(err))


def finish(extractor: Extractor, output, frame_times: np.ndarray | None) -> Result:
    """Attach frame times to an output; drop faceless (NaN) vision rows."""
    if isinstance(output, Failure):
        return output
    values = np.asarray(output, dtype=np.float32)
    if extractor.modality == "vision":
        keep = ~np.isnan(values).any(axis=1)
        if not keep.any():
            return Failure(f"no face found in the {len(values)} sampled frames")
        return values[keep], frame_times[keep]
    if extractor.frame_hop_s is not None:
        return values, np.arange(len(values)) * extractor.frame_hop_s
    return values, None


def extract_batch(extractor: Extractor, inputs: list) -> list[Result]:
    """Run ``extractor`` on decoded inputs, passing failures through untouched."""
    usable = [i for i, item in enumerate(inputs) if not isinstance(item, Failure)]
    results: list[Result] = list(inputs)
    if not usable:
        return results
    vision = extractor.modality == "vision"
    try:
        outputs = extractor.extract([inputs[i][0] if vision else inputs[i] for i in usable])
    except Exception as err:  # noqa: BLE001 - one bad clip must not end a long run
        if len(usable) == 1:
            results[usable[0]] = Failure(f"{extractor.name} failed: {type(err).__name__}: {err}")
            return results
        for i in usable:  # find the clip that broke the batch
            results[i] = extract_batch(extractor, [inputs[i]])[0]
        return results
    for i, output in zip(usable, outputs):
        results[i] = finish(extractor, output, inputs[i][1] if vision else None)
    return results


def extract_word_batch(extractor: Extractor, clips: list[Clip]) -> list[Result]:
    """Word-aligned text for ``clips`` (one vector per word); a clip without word timings fails."""
    with_words = [c for c in clips if c.words]
    outputs = iter(extractor.extract_words([[w.text for w in c.words] for c in with_words]) if with_words else [])
    return [finish(extractor, next(outputs), None) if c.words else Failure(NO_WORD_TIMINGS) for c in clips]


def _decode_and_extract(extractor: Extractor, clip: Clip, fps: float) -> Result:
    return extract_batch(extractor, [load_input(extractor.modality, clip, fps)])[0]


def _decode(modality: str, clips: list[Clip], fps: float) -> list:
    return [load_input(modality, clip, fps) for clip in clips]


# -- running one modality over all clips ------------------------------------------------------
def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _prefetched_inputs(pool: Executor | None, modality: str, clips: list[Clip], fps: float, batch_size: int):
    """``(clips, decoded inputs)`` per batch; with a pool, the next batch decodes meanwhile."""
    batches = list(_chunks(clips, batch_size))
    if pool is None:
        for batch in batches:
            yield batch, _decode(modality, batch, fps)
        return
    pending: list[Future] = [pool.submit(_decode, modality, batches[0], fps)] if batches else []
    for index, batch in enumerate(batches):
        if index + 1 < len(batches):
            pending.append(pool.submit(_decode, modality, batches[index + 1], fps))
        yield batch, pending.pop(0).result()


def run_modality(
    extractor: Extractor,
    clips: list[Clip],
    cache: FeatureCache,
    *,
    fps: float,
    batch_size: int,
    pool: Executor | None,
    word_aligned: bool = False,
    progress: bool = True,
) -> dict[str, Result]:
    """Results per clip id for one extractor: cached ones read back, the rest computed and cached.

    With ``word_aligned``, text is encoded word by word (sub-word tokens pooled per word).
    """
    results: dict[str, Result] = {}
    todo = []
    for clip in clips:
        cached = cache.get(clip)
        if cached is None:
            todo.append(clip)
        else:
            results[clip.id] = cached
    bar = tqdm(total=len(todo), desc=f"{extractor.modality}: {extractor.name}", unit="clip", disable=not progress)
    # Cache writes (each flushed to disk) go to one thread, so they overlap the extraction instead
    # of adding to it: ~5 ms per Whisper clip on CPU, as long as the encoding itself on a GPU.
    writer = ThreadPoolExecutor(1, thread_name_prefix="feature-cache")
    writes: list[Future] = []

    def record(clip: Clip, result: Result) -> None:
        while writes and writes[0].done():
            writes.pop(0).result()  # a failed write (e.g. a full disk) stops the run at the next clip
        if not isinstance(result, Failure):
            writes.append(writer.submit(cache.put, clip, *result))
        results[clip.id] = result
        bar.update(1)

    try:  # the bar ends its line before anything else is printed (a Ctrl-C line, an error)
        if extractor.modality == "text" and word_aligned:
            for batch in _chunks(todo, batch_size):
                for clip, result in zip(batch, extract_word_batch(extractor, batch)):
                    record(clip, result)
        elif extractor.runs_in_workers and pool is not None:
            futures = {pool.submit(_decode_and_extract, extractor, clip, fps): clip for clip in todo}
            for future in as_completed(futures):
                record(futures[future], future.result())
        else:
            decode_pool = None if extractor.modality == "text" else pool
            for batch, inputs in _prefetched_inputs(decode_pool, extractor.modality, todo, fps, batch_size):
                for clip, result in zip(batch, extract_batch(extractor, inputs)):
                    record(clip, result)
        for write in writes:
            write.result()
    finally:
        writer.shutdown(wait=True)  # what was extracted is in the cache, even after Ctrl-C
        bar.close()
    return results


# -- assembling the dataset ---------------------------------------------------------------------
def _aligned(result: Result, clip: Clip, modality: str) -> Result:
    if isinstance(result, Failure) or modality == "text":
        return result
    if not clip.words:
        return Failure(NO_WORD_TIMINGS)
    values, times = result
    if times is None:
        return Failure(f"{modality} features have no frame times (utterance-level); cannot word-align")
    return average_in_words(values, times, clip.words), None


def pools(extractor: Extractor, pool_ms: float | None) -> bool:
    """Whether ``pool_ms`` pools this extractor's output: only frame-level features have frame times."""
    return pool_ms is not None and (extractor.modality == "vision" or extractor.frame_hop_s is not None)


def _pooled(result: Result, pool_ms: float) -> Result:
    if isinstance(result, Failure):
        return result
    return pool_frames(*result, pool_ms)


def _rows(
    clips: list[Clip],
    results: dict[str, dict[str, Result]],
    extractors: dict[str, Extractor],
    word_aligned: bool,
    checks: SourceChecks,
    pool_ms: float | None = None,
):
    """Dataset rows per split, and the errors table (source problems first)."""
    rows: dict[str, list[dict]] = {split: [] for split in SPLITS}
    errors = [{"id": item, "modality": SOURCE, "extractor": "", "reason": reason} for item, reason in checks.errors]
    for clip in clips:
        features = {}
        for modality, extractor in extractors.items():
            result = results[modality][clip.id]
            result = _aligned(result, clip, modality) if word_aligned else result
            result = _pooled(result, pool_ms) if pools(extractor, pool_ms) else result
            if isinstance(result, Failure):
                errors.append({"id": clip.id, "modality": modality, "extractor": extractor.name, "reason": result.reason})
                continue
            features[f"{modality}_features"] = result[0]
        row = example(
            dataset=clip.dataset,
            video_id=clip.video_id,
            clip_id=clip.clip_id,
            labels=clip.labels,
            source_labels=clip.source_labels,
            text=clip.text,
            **features,
        )
        rows.setdefault(clip.split, []).append(row)
    return rows, pd.DataFrame(errors, columns=["id", "modality", "extractor", "reason"])


def feature_set_name(extractor: Extractor, pool_ms: float | None) -> str:
    """The name a modality's features go by in the dataset metadata and in every record."""
    return pooled_name(extractor.name, pool_ms) if pools(extractor, pool_ms) else extractor.name


def _metadata(extractors: dict[str, Extractor], fps: float, aligned: bool, report: dict, pool_ms: float | None = None) -> MSAMetadata:
    import av

    def stamp(modality: str) -> tuple[str, int]:
        extractor = extractors.get(modality)
        return (feature_set_name(extractor, pool_ms), extractor.dim) if extractor else (NO_FEATURES, 1)

    (text, text_dim), (audio, audio_dim), (vision, vision_dim) = (stamp(m) for m in MODALITIES)
    provenance = {m: e.provenance() for m, e in extractors.items()}
    provenance["decoding"] = {"library": "av", "version": av.__version__, "audio_sample_rate": SAMPLE_RATE, "vision_fps": fps}
    provenance["alignment"] = "word-aligned (mean of frames inside each word)" if aligned else "unaligned"
    pooled = [m for m, e in extractors.items() if pools(e, pool_ms)]
    if pooled:
        provenance["pooling"] = {"statistic": "mean", "window_ms": pool_ms, "modalities": pooled}
    return MSAMetadata(text, audio, vision, text_dim, audio_dim, vision_dim, provenance=provenance, report=report)


def _write_token_ids(extractor: Extractor | None, clips: list[Clip], out: Path) -> None:
    if extractor is None or not hasattr(extractor, "token_ids"):
        return
    with_text = [c for c in clips if c.text.strip()]
    ids = extractor.token_ids([c.text for c in with_text])
    table = pd.DataFrame({"id": [c.id for c in with_text], **{k: [i[k] for i in ids] for k in ("input_ids", "attention_mask", "segment_ids")}})
    atomic_write(out / "token_ids.parquet", lambda temporary: table.to_parquet(temporary, index=False))


def summarize(
    clips: list[Clip], errors: pd.DataFrame, extractors: dict[str, Extractor], changed: dict[str, set[str]] | None = None
) -> dict[str, dict[str, object]]:
    """Clips succeeded and failed per modality; ``recomputed_changed_media`` (only when non-zero):
    clips whose cached features were computed from an earlier version of their media file."""
    failed = errors.groupby("modality").size().to_dict() if len(errors) else {}
    summary = {
        m: {"extractor": e.name, "succeeded": len(clips) - failed.get(m, 0), "failed": failed.get(m, 0), "total": len(clips)}
        for m, e in extractors.items()
    }
    for modality, ids in (changed or {}).items():
        if ids:
            summary[modality]["recomputed_changed_media"] = len(ids)
    return summary


def extract(
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
    progress: bool = True,
) -> ExtractionResult:
    """Extract features for every clip of ``data_dir`` and save the unified dataset to ``out``.

    ``audio`` / ``text`` / ``vision``: extractor specs (see :func:`build_extractor`) or
    instances; ``None`` leaves the modality null. ``options``: per-modality config options,
    e.g. ``{"text": {"layer": 8}}``. ``workers``: processes for decoding and CPU extractors
    (default: all cores; 0 runs everything in this process). ``word_timings``: CSV
    ``id,word,start,end``; when given, every modality is averaged per word. ``pool_ms``: frame-level
    features (with frame times) become the mean of each ``pool_ms`` window (see
    :mod:`~msa_bench.features.pooling`); the cache keeps the frames, so another window needs no
    re-extraction.
    """
    pool_ms = check_pooling(pool_ms, word_timings)
    out = Path(out)
    clips, split_report, checks = list_clips(dataset, data_dir, label_file, word_timings, limit)
    specs = modality_specs(audio, text, vision)
    extractors = {
        m: build_extractor(m, spec, **(options or {}).get(m, {})).to(device) for m, spec in specs.items() if spec is not None
    }
    caches = {m: FeatureCache(out / "cache", e, cache_options(m, fps, word_timings is not None)) for m, e in extractors.items()}
    workers = os.cpu_count() if workers is None else workers
    pool = worker_pool(workers) if workers > 0 else None
    try:
        results = {
            m: run_modality(
                e,
                clips,
                caches[m],
                fps=fps,
                batch_size=batch_size,
                pool=pool,
                word_aligned=word_timings is not None,
                progress=progress,
            )
            for m, e in extractors.items()
        }
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    changed = {m: cache.changed for m, cache in caches.items()}
    return save_extraction(
        dataset, clips, results, extractors, out, fps, word_timings is not None, split_report, checks, changed, pool_ms=pool_ms
    )


def check_pooling(pool_ms: float | None, word_timings: str | Path | None) -> float | None:
    """The pooling window (a float), positive, and not together with word alignment (which
    already averages frames)."""
    if pool_ms is not None and word_timings is not None:
        raise ConfigError("pool_ms and word_timings both average frames: give one of them (word timings average per word)")
    return check_window(pool_ms)


def list_clips(
    dataset: str, data_dir: str | Path, label_file: str | None, word_timings: str | Path | None, limit: int | None
) -> tuple[list[Clip], dict, SourceChecks]:
    """The clips to extract, with their splits (and word timings when given), the split report,
    and what is wrong with the source files."""
    found, checks = find_clips(dataset, data_dir, label_file)
    clips, split_report = assign_splits(found, dataset)
    clips = clips[:limit] if limit is not None else clips
    if word_timings is not None:
        timings = read_word_timings(word_timings)
        for clip in clips:
            clip.words = timings.get(clip.id)
    return clips, split_report, checks


def modality_specs(audio, text, vision) -> dict[str, object]:
    """Extractor spec per modality; at least one must be given."""
    specs = {"text": text, "audio": audio, "vision": vision}
    if not any(specs.values()):
        raise ValueError("nothing to extract: give at least one of audio, text, vision")
    return specs


def cache_options(modality: str, fps: float, word_aligned: bool) -> dict[str, object]:
    """What besides the clip and the extractor config changes a cached result."""
    if modality == "vision":
        return {"fps": fps}
    return {"per_word": True} if modality == "text" and word_aligned else {}


def save_extraction(
    dataset,
    clips,
    results,
    extractors,
    out: Path,
    fps: float,
    aligned: bool,
    split_report: dict,
    checks: SourceChecks,
    changed: dict[str, set[str]] | None = None,
    *,
    pool_ms: float | None = None,
) -> ExtractionResult:
    """Assemble rows, the errors table and the summary from per-clip results and save them under
    ``out``. The source checks go into the metadata report under the builders' keys, so
    ``msa-bench info`` shows them as it does for a dataset built from the same files."""
    rows, errors = _rows(clips, results, extractors, aligned, checks, pool_ms)
    summary = summarize(clips, errors[errors["modality"] != SOURCE], extractors, changed)
    if not any(s["succeeded"] for s in summary.values()):
        atomic_write(out / "errors.csv", lambda temporary: errors.to_csv(temporary, index=False))
        write_text(out / "summary.json", json.dumps({**summary, "source_checks": checks.report}, indent=2, sort_keys=True))
        raise NothingExtracted(out, errors[errors["modality"] != SOURCE], summary, checks.report)
    read_media = any(e.modality != "text" for e in extractors.values())
    report = {
        "source": dataset, "source_files": clips_fingerprint(clips, read_media), **split_report, **checks.report, "extraction": summary
    }
    metadata = _metadata(extractors, fps, aligned, report, pool_ms)
    features = metadata.features()
    info = datasets.DatasetInfo(description=metadata.to_description(), features=features)
    dataset_dict = datasets.DatasetDict(
        {
            split: datasets.Dataset.from_dict(
                {name: [row[name] for row in split_rows] for name in features}, features=features, info=info.copy()
            )
            for split, split_rows in rows.items()
        }
    )
    # save_to_disk cannot read an empty split back: empty splits are rebuilt by load_extracted.
    with atomic_dir(out / "dataset") as folder:
        datasets.DatasetDict({k: v for k, v in dataset_dict.items() if len(v)}).save_to_disk(str(folder))
    atomic_write(out / "errors.csv", lambda temporary: errors.to_csv(temporary, index=False))
    _write_token_ids(extractors.get("text"), clips, out)
    write_text(out / "summary.json", json.dumps({**summary, "source_checks": checks.report}, indent=2, sort_keys=True))
    marker = {
        "layout_version": LAYOUT_VERSION,
        "dataset": dataset,
        "extractors": {m: e.name for m, e in extractors.items()},
        "pool_ms": pool_ms,
        "source_files": report["source_files"],
    }
    write_text(out / MARKER, json.dumps(marker, indent=2, sort_keys=True))
    return ExtractionResult(dataset_dict, errors, summary, out, checks.report)


def extraction_readable(out: str | Path) -> bool:
    """Whether every Arrow file of ``out``'s saved dataset is there and can be read whole (not cut
    short by a full disk or a copy); a cache folder that is not is extracted again (from its cache)."""
    try:
        for state in Path(out, "dataset").glob("*/state.json"):
            for entry in json.loads(state.read_text(encoding="utf-8"))["_data_files"]:
                arrow_rows(state.parent / entry["filename"])
    except (OSError, ValueError, KeyError, pa.ArrowInvalid):
        return False
    return True


def load_extracted(out: str | Path) -> datasets.DatasetDict:
    """The dataset an :func:`extract` run saved under ``out`` (``train``/``validation``/``test``)."""
    saved = datasets.load_from_disk(str(Path(out) / "dataset"))
    template = next(iter(saved.values()))
    empty = {name: [] for name in template.features}
    return datasets.DatasetDict(
        {
            split: saved[split] if split in saved else datasets.Dataset.from_dict(empty, features=template.features, info=template.info.copy())
            for split in SPLITS
        }
    )


def format_summary(summary: dict[str, dict[str, object]], source_checks: dict[str, dict] | None = None) -> str:
    """The lines ``msa-bench extract`` prints: per modality, then each kind of source problem found."""
    lines = []
    for m, s in summary.items():
        line = f"{m:>6}: {s['succeeded']}/{s['total']} clips succeeded ({s['failed']} failed) with {s['extractor']}"
        if s.get("recomputed_changed_media"):
            line += f"; {s['recomputed_changed_media']} recomputed because their media file changed"
        lines.append(line)
    for key, found in (source_checks or {}).items():
        if found["count"]:
            examples = found["examples"]
            shown = [f"{k}: {v}" for k, v in examples.items()] if isinstance(examples, dict) else examples
            lines.append(f"{key}: {found['count']} (e.g. {'; '.join(shown[:3])})")
    return "\n".join(lines)
