"""Label tables: MMSA-FET ``label.csv``, the MOSI ``id,text,label,mode`` table, the original MOSI
``OpinionLevelSentiment.csv`` and the MOSEI label table. Each reader returns :class:`Segment` s.

``read_label_table`` recognises the format from the header, so callers need not know it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from msa_bench.data.labels import MOSEI_EMOTION_COLUMNS
from msa_bench.sources.common import Segment, SourceFileError, unified_split

MMSA_COLUMNS = ("video_id", "clip_id", "text", "label", "label_T", "label_A", "label_V", "annotation", "mode")
MOSI_TABLE_COLUMNS = ("id", "text", "label", "mode")
MOSEI_COLUMNS = ("id", "segment_id", "start", "end", "sentiment", *MOSEI_EMOTION_COLUMNS)
OPINION_COLUMNS = ("start", "end", "video_id", "segment_no", "sentiment")


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise SourceFileError(path, f"not a readable CSV table ({err})") from None
    except OSError as err:
        raise SourceFileError(path, f"cannot be read ({err.strerror or err})") from None


def _numbers(table: pd.DataFrame, columns, path: Path) -> pd.DataFrame:
    """``columns`` as floats; a value that is not a number is an error naming row and column."""
    out = table.copy()
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce")
        bad = values.isna() & (table[column] != "")
        if bad.any():
            row = int(bad.idxmax())
            raise SourceFileError(path, f"column {column!r} row {row + 1}: {table[column][row]!r} is not a number")
        out[column] = values.astype(float)
    return out


def _optional(value: float) -> float | None:
    return None if pd.isna(value) else float(value)


def read_mmsa_label_csv(path: str | Path) -> list[Segment]:
    """MMSA-FET's ``label.csv``: ``video_id, clip_id, text, label, label_T, label_A, label_V, annotation, mode``."""
    path = Path(path)
    table = _numbers(_read_csv(path), ("label", "label_T", "label_A", "label_V"), path)
    return [
        Segment(
            video_id=row.video_id,
            clip_id=row.clip_id,
            sentiment=_optional(row.label),
            text=row.text,
            split=unified_split(row.mode, path),
            source_labels={
                "label": _optional(row.label),
                **{k: _optional(getattr(row, k)) for k in ("label_T", "label_A", "label_V")},
                "annotation": row.annotation,
            },
        )
        for row in table.itertuples(index=False)
    ]


def read_mosi_table(path: str | Path) -> list[Segment]:
    """The MOSI table ``id,text,label,mode`` with ``id`` = ``<video_id>_<segment_no>``."""
    path = Path(path)
    table = _numbers(_read_csv(path), ("label",), path)
    segments = []
    for row in table.itertuples(index=False):
        video_id, sep, clip_id = row.id.rpartition("_")
        if not sep or not video_id or not clip_id:
            raise SourceFileError(path, f"id {row.id!r} is not '<video_id>_<segment_no>'")
        segments.append(
            Segment(
                video_id=video_id,
                clip_id=clip_id,
                sentiment=_optional(row.label),
                text=row.text,
                split=unified_split(row.mode, path),
                source_labels={"label": _optional(row.label), "mode": row.mode},
            )
        )
    return segments


def read_opinion_level_sentiment(path: str | Path) -> list[Segment]:
    """The original MOSI ``OpinionLevelSentiment.csv`` (no header: start, end, video, segment_no, sentiment)."""
    path = Path(path)
    table = _read_csv(path, header=None)
    if table.shape[1] != len(OPINION_COLUMNS):
        raise SourceFileError(path, f"expected {len(OPINION_COLUMNS)} columns {OPINION_COLUMNS}, found {table.shape[1]}")
    table.columns = list(OPINION_COLUMNS)
    table = _numbers(table, ("start", "end", "sentiment"), path)
    return [
        Segment(
            video_id=row.video_id,
            clip_id=row.segment_no,
            sentiment=_optional(row.sentiment),
            start=row.start,
            end=row.end,
            source_labels={"sentiment": _optional(row.sentiment)},
        )
        for row in table.itertuples(index=False)
    ]


def read_mosei_labels(path: str | Path) -> list[Segment]:
    """The MOSEI table ``id, segment_id, start, end, sentiment, happy, sad, anger, surprise, disgust, fear``
    (extra columns such as ``link`` are ignored)."""
    path = Path(path)
    emotion_columns = tuple(MOSEI_EMOTION_COLUMNS)
    table = _numbers(_read_csv(path), ("start", "end", "sentiment", *emotion_columns), path)
    segments = []
    for row in table.to_dict("records"):
        emotions = {column: row[column] for column in emotion_columns}
        segments.append(
            Segment(
                video_id=row["id"],
                clip_id=row["segment_id"],
                sentiment=_optional(row["sentiment"]),
                emotions=None if any(pd.isna(v) for v in emotions.values()) else emotions,
                start=row["start"],
                end=row["end"],
                source_labels={"sentiment": _optional(row["sentiment"]), **{k: _optional(v) for k, v in emotions.items()}},
            )
        )
    return segments


def table_format(path: str | Path) -> str:
    """``"mmsa"``, ``"mosi_table"``, ``"opinion"`` or ``"mosei"``, from the file's header line."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            header = [c.strip() for c in handle.readline().split(",")]
    except OSError as err:
        raise SourceFileError(path, f"cannot be read ({err.strerror or err})") from None
    if set(MMSA_COLUMNS) <= set(header):
        return "mmsa"
    if set(MOSEI_COLUMNS) <= set(header):
        return "mosei"
    if set(MOSI_TABLE_COLUMNS) <= set(header):
        return "mosi_table"
    if len(header) == len(OPINION_COLUMNS):
        try:
            float(header[0]), float(header[1])
            return "opinion"
        except ValueError:
            pass
    raise SourceFileError(
        path,
        "not a known label table: expected MMSA-FET label.csv columns "
        f"{', '.join(MMSA_COLUMNS)}; or {', '.join(MOSI_TABLE_COLUMNS)}; or MOSEI's {', '.join(MOSEI_COLUMNS)}; "
        f"or OpinionLevelSentiment.csv rows ({', '.join(OPINION_COLUMNS)}, no header). Found header {header}",
    )


READERS = {
    "mmsa": read_mmsa_label_csv,
    "mosi_table": read_mosi_table,
    "opinion": read_opinion_level_sentiment,
    "mosei": read_mosei_labels,
}


def read_label_table(path: str | Path) -> list[Segment]:
    """The segments of any supported label table (format recognised from its header)."""
    return READERS[table_format(path)](path)
