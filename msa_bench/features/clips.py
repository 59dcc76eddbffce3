"""Which clips to extract, from the raw-media layouts msa_bench reads.

* **Clip folder** (MMSA-FET): a label table (``label.csv``, any table
  :func:`msa_bench.sources.label_tables.read_label_table` reads) and one media file per clip at
  ``Raw/<video_id>/<clip_id>.<ext>`` or ``clips/<video_id>_<clip_id>.<ext>``.
* **Full videos cut by timestamps** (MOSI ``OpinionLevelSentiment.csv``, MOSEI ``labels.csv``): a
  label table with ``start``/``end`` and one media file per video at ``Raw/<video_id>.<ext>``,
  ``videos/<video_id>.<ext>`` or ``<video_id>.<ext>``.
* **MOUD**: ``transcriptions/<video>.csv`` (``#starttime;#endtime;transcription;sentiment``) and
  ``videos/<video>.mp4``.
* **RAVDESS**: ``Actor_XX/`` folders of recordings named ``MM-VV-EE-II-SS-RR-AA``
  (:func:`msa_bench.sources.ravdess.scan_ravdess`).

Word timings, when given, come from a CSV ``id,word,start,end`` (seconds from the clip start).

What the dataset builders report about the same files (malformed RAVDESS names, labels out of
range, symbolic links to nothing) is reported here too, with the media files no label row names
and the label rows no media file was found for (:class:`SourceChecks`).
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import xxhash

from msa_bench.util.errors import MissingFileError
from msa_bench.data.labels import labels_from_ravdess, labels_from_sentiment, out_of_range
from msa_bench.data.media import Window
from msa_bench.sources.common import SourceFileError, dangling_links, files_under
from msa_bench.util.hashing import file_digest

MEDIA_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov", ".webm", ".wav", ".flac", ".mp3", ".m4a")
LABEL_TABLE_NAMES = ("label.csv", "labels.csv", "OpinionLevelSentiment.csv")
#: Where a user reads which folder layouts ``msa-bench extract`` understands.
LAYOUTS_HINT = "The layouts msa-bench extract reads are listed under Inputs on the docs' Feature extraction page (docs/features.md)."
#: RAVDESS's documented speaker-independent split (the RAVDESS builder uses the same one).
RAVDESS_ACTOR_SPLITS = {"train": range(1, 17), "validation": range(17, 21), "test": range(21, 25)}
#: How many examples a report lists for each kind of problem.
REPORT_EXAMPLES = 20
#: Folders of a clip-folder or full-video layout whose media files should all be labelled.
MEDIA_FOLDERS = ("Raw", "clips", "videos")


@dataclass(frozen=True)
class Word:
    text: str
    start: float
    end: float


@dataclass
class Clip:
    """One clip to extract: where its media is, its transcript, labels and split."""

    dataset: str
    video_id: str
    clip_id: str
    media: Path | None
    window: Window
    text: str
    labels: dict
    source_labels: dict
    split: str | None = None
    words: list[Word] | None = field(default=None)

    @property
    def id(self) -> str:
        return f"{self.video_id}_{self.clip_id}"


@dataclass
class SourceChecks:
    """Problems found in the source files: ``report`` (count and examples per kind, under the
    builders' keys) and ``errors`` (one ``(id or file, reason)`` per problem, for ``errors.csv``)."""

    report: dict[str, dict] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)

    def add(self, key: str, problems: dict[str, str]) -> None:
        """Report ``problems`` (``{id or file: reason}``) under ``key``, as the CMU builders do."""
        self.report[key] = {"count": len(problems), "examples": list(problems)[:REPORT_EXAMPLES]}
        self.errors += list(problems.items())


def _find_media(candidates: list[Path]) -> Path | None:
    for stem in candidates:
        for suffix in MEDIA_SUFFIXES:
            path = stem.with_name(stem.name + suffix)
            if path.is_file():
                return path
    return None


def table_clips(dataset: str, data_dir: Path, label_file: Path) -> list[Clip]:
    """Clips of a label table: clip files, or windows of full videos when the table has times.

    Clips without a media file are kept (every modality reports it in ``errors.csv``)."""
    from msa_bench.sources.cmu import unified_labels
    from msa_bench.sources.label_tables import read_label_table

    clips = []
    for segment in read_label_table(label_file):
        if segment.start is not None and segment.end is not None:
            stems = [data_dir / "Raw" / segment.video_id, data_dir / "videos" / segment.video_id, data_dir / segment.video_id]
            try:
                window = Window(float(segment.start), float(segment.end))
            except ValueError as err:
                raise SourceFileError(label_file, f"segment {segment.id}: {err}") from None
        else:
            stems = [data_dir / "Raw" / segment.video_id / segment.clip_id, data_dir / "clips" / segment.id]
            window = Window()
        clips.append(
            Clip(
                dataset=dataset,
                video_id=segment.video_id,
                clip_id=segment.clip_id,
                media=_find_media(stems),
                window=window,
                text=segment.text or "",
                labels=unified_labels(segment),
                source_labels=segment.source_labels,
                split=segment.split,
            )
        )
    return clips


def moud_clips(data_dir: Path) -> list[Clip]:
    """MOUD utterances from ``transcriptions/*.csv``; media at ``videos/<video>.<ext>``."""
    clips = []
    for table_path in sorted((data_dir / "transcriptions").glob("*.csv")):
        try:
            table = pd.read_csv(table_path, sep=";", dtype=str, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as err:
            raise SourceFileError(table_path, f"not a MOUD transcription table ({err})") from None
        if table.shape[1] != 4:
            raise SourceFileError(table_path, f"expected 4 columns (start;end;text;sentiment), found {table.shape[1]}")
        video_id = table_path.stem
        media = _find_media([data_dir / "videos" / video_id])
        for number, (start, end, text, sentiment) in enumerate(table.itertuples(index=False, name=None)):
            try:
                score = float(sentiment) if sentiment.strip() else None
                window = Window(float(start), float(end))
            except ValueError as err:
                raise SourceFileError(table_path, f"row {number + 1}: {err}") from None
            clips.append(
                Clip(
                    dataset="moud",
                    video_id=video_id,
                    clip_id=str(number),
                    media=media,
                    window=window,
                    text=text,
                    labels=labels_from_sentiment(score),
                    source_labels={"sentiment": score, "start": window.start, "end": window.end},
                )
            )
    return clips


def ravdess_clips(data_dir: Path, checks: SourceChecks) -> list[Clip]:
    """RAVDESS recordings found in ``Actor_XX/`` folders, split by actor (01-16 / 17-20 / 21-24);
    what the scan found wrong goes to ``checks``, as the RAVDESS builder reports it."""
    from msa_bench.sources.ravdess import scan_ravdess

    scan = scan_ravdess(data_dir)
    checks.report.update(scan.report())
    checks.errors += [(name, f"malformed RAVDESS file name, not extracted: {why}") for name, why in scan.malformed.items()]
    clips = []
    for recording in scan.recordings:
        if "::" in recording.location:
            raise SourceFileError(recording.location.split("::")[0], "extract the RAVDESS zip archives first")
        name = recording.name
        clips.append(
            Clip(
                dataset="ravdess",
                video_id=f"Actor_{name.actor:02d}",
                clip_id=name.stem,
                media=data_dir / recording.location,
                window=Window(),
                text=name.transcript,
                labels=labels_from_ravdess(name.emotion, name.intensity),
                source_labels={**name.describe(), "file": recording.location},
                split=next(s for s, actors in RAVDESS_ACTOR_SPLITS.items() if name.actor in actors),
            )
        )
    return clips


def read_word_timings(path: str | Path) -> dict[str, list[Word]]:
    """Word timings per clip id from a CSV ``id,word,start,end`` (seconds from the clip start)."""
    path = Path(path)
    try:
        table = pd.read_csv(path, dtype={"id": str, "word": str}, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as err:
        raise SourceFileError(path, f"not a readable CSV table ({err})") from None
    missing = {"id", "word", "start", "end"} - set(table.columns)
    if missing:
        raise SourceFileError(path, f"word-timing table needs columns id, word, start, end; missing {sorted(missing)}")
    words: dict[str, list[Word]] = defaultdict(list)
    for clip_id, word, start, end in table[["id", "word", "start", "end"]].itertuples(index=False, name=None):
        try:
            start, end = float(start), float(end)
        except ValueError:
            raise SourceFileError(path, f"clip {clip_id!r}, word {word!r}: start {start!r} or end {end!r} is not a number") from None
        if not end > start:
            raise SourceFileError(path, f"clip {clip_id!r}, word {word!r}: end {end} is not after start {start}")
        words[clip_id].append(Word(word, start, end))
    return dict(words)


def _label_checks(clips: list[Clip], data_dir: Path, checks: SourceChecks) -> None:
    """Labels out of range (as the CMU builders flag them), label rows without media, and media
    files under ``Raw/``, ``clips/`` or ``videos/`` that no label row names."""
    checks.add(
        "labels_out_of_range",
        {c.id: f"label(s) {', '.join(bad)} out of range (kept)" for c in clips if (bad := out_of_range(c.labels))},
    )
    checks.add("labels_without_media", {c.id: "no media file found for this label row" for c in clips if c.media is None})
    used = {c.media.resolve() for c in clips if c.media is not None}
    unlabelled = {
        path.relative_to(data_dir).as_posix(): "no label row names this media file; not extracted"
        for folder in MEDIA_FOLDERS
        if (data_dir / folder).is_dir()
        for path in files_under(data_dir / folder)
        if path.suffix.lower() in MEDIA_SUFFIXES and path.resolve() not in used
    }
    checks.add("media_without_labels", unlabelled)


def find_clips(dataset: str, data_dir: str | Path, label_file: str | Path | None = None) -> tuple[list[Clip], SourceChecks]:
    """The clips of ``data_dir`` in whichever supported layout it holds (see the module docstring),
    and what is wrong with its files."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise MissingFileError(f"{data_dir}: data folder not found; pass the folder holding the raw media as --data-dir")
    checks = SourceChecks()
    if dataset == "ravdess":
        clips = ravdess_clips(data_dir, checks)
    elif label_file is not None:
        clips = table_clips(dataset, data_dir, data_dir / label_file)
    elif (data_dir / "transcriptions").is_dir():
        clips = moud_clips(data_dir)
    else:
        table = next((data_dir / n for n in LABEL_TABLE_NAMES if (data_dir / n).is_file()), None)
        if table is None:
            hint = (
                " It holds RAVDESS Actor_XX folders: did you mean `msa-bench extract ravdess`?"
                if any(data_dir.glob("Actor_[0-9][0-9]*")) else ""
            )
            raise MissingFileError(
                f"{data_dir}: no label table ({', '.join(LABEL_TABLE_NAMES)}) or transcriptions/ folder for "
                f"{dataset}.{hint} {LAYOUTS_HINT}"
            )
        clips = table_clips(dataset, data_dir, table)
    if dataset != "ravdess":
        _label_checks(clips, data_dir, checks)
    checks.add(
        "dangling_links",
        {
            path.relative_to(data_dir).as_posix(): f"symbolic link to {os.readlink(path)}, which does not exist; not read"
            for path in dangling_links(data_dir)
        },
    )
    if not clips:
        expected = "Actor_XX/ folders (or their zips) of files named like 03-01-05-01-01-01-01.wav" if dataset == "ravdess" else "media files beside the label table"
        raise MissingFileError(f"{data_dir}: no clips found for {dataset}: expected {expected}. {LAYOUTS_HINT}")
    return clips, checks


def assign_splits(clips: list[Clip], dataset: str) -> tuple[list[Clip], dict[str, object]]:
    """Fill missing splits: the SDK standard folds for MOSI/MOSEI (clips of videos in no fold
    are left out, as the dataset builders do), else ``train``. Returns the clips kept and a report."""
    unsplit = [c for c in clips if c.split is None]
    if not unsplit:
        return clips, {"splits": "from the source"}
    if dataset in ("mosi", "mosei"):
        from msa_bench.sources.cmu import standard_folds

        folds = {video: split for split, videos in standard_folds(dataset).items() for video in videos}
        for clip in unsplit:
            clip.split = folds.get(clip.video_id)
        outside = [c.id for c in unsplit if c.split is None]
        report = {"splits": "CMU SDK standard folds", "excluded_in_no_fold": {"count": len(outside), "examples": outside[:10]}}
        return [c for c in clips if c.split is not None], report
    for clip in unsplit:
        clip.split = "train"
    return clips, {"splits": f"the source has none: all {len(unsplit)} clips in train"}


def clips_fingerprint(clips: list[Clip], read_media: bool) -> str:
    """A content hash of what an extraction of ``clips`` reads: every clip's id, split, window,
    transcript, word timings and labels, and with ``read_media`` (an audio or vision extractor)
    the bytes of its media file. A file not read (the clips of a text-only extraction), a copy
    elsewhere or a new modification time leaves it as it is."""
    digest = xxhash.xxh3_128()
    media: dict[Path, str] = {}  # many clips may cut one video
    for clip in sorted(clips, key=lambda c: c.id):
        words = [[w.text, w.start, w.end] for w in clip.words or []]
        read = [clip.id, clip.split, clip.window.start, clip.window.end, clip.text, words, clip.labels, clip.source_labels]
        if read_media:
            if clip.media is not None and clip.media not in media:
                media[clip.media] = file_digest(clip.media) if clip.media.is_file() else "absent"
            read.append(media.get(clip.media, "none"))
        digest.update(json.dumps(read, sort_keys=True, default=str).encode() + b"\n")
    return digest.hexdigest()[:16]
