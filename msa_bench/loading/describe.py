"""A dataset's metadata report in words: how it is split, and what the build found wrong.

Builders report counts as ``{"count": n, "examples": [...]}`` (excluded, flagged or repaired
examples); every such entry with a count is a warning. Used by ``msa-bench info`` and by the
errors that refuse a dataset before training.
"""

from __future__ import annotations

from collections.abc import Mapping

from msa_bench.sources.common import SPLITS

#: How many example ids a warning quotes.
QUOTED = 3

#: The CMU builders' ``folds`` report value, in words.
FOLDS = {"standard": "the CMU SDK standard folds (by video)", "source": "the source's own split column"}


def words(key: str) -> str:
    """A report key as words: ``excluded_in_no_split`` -> ``excluded in no split``."""
    return key.replace("_", " ")


def _ranges(numbers: list[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``01-03, 07`` (RAVDESS actors as their folders number them)."""
    spans, start = [], None
    for index, number in enumerate(numbers):
        start = number if start is None else start
        if index + 1 == len(numbers) or numbers[index + 1] != number + 1:
            spans.append(f"{start:02d}" if start == number else f"{start:02d}-{number:02d}")
            start = None
    return ", ".join(spans)


def _base_scheme(report: Mapping[str, object]) -> str:
    if "split_scheme" in report:
        actors = report.get("actors")
        shown = (
            " (actors " + "; ".join(f"{split} {_ranges(actors[split]) or 'none'}" for split in SPLITS if split in actors) + ")"
            if isinstance(actors, Mapping)
            else ""
        )
        return f"split_scheme={report['split_scheme']}{shown}"
    if "folds" in report:
        return FOLDS.get(str(report["folds"]), f"folds={report['folds']}")
    if isinstance(report.get("splits"), str):
        return str(report["splits"])
    if "videos" in report:
        return "by video, as generated"
    return "the splits of the source"


def split_scheme(report: Mapping[str, object]) -> str:
    """How the dataset was split, in words: the builder's scheme, then any re-split."""
    resplit = report.get("resplit")
    if not isinstance(resplit, Mapping):
        return _base_scheme(report)
    if "split_file" in resplit:
        return f"split_file={resplit['split_file']}"
    moved = resplit.get("moved_to_validation", [])
    shown = ", ".join(moved[:QUOTED]) + (f" and {len(moved) - QUOTED} more" if len(moved) > QUOTED else "")
    return f"{resplit.get('from')}, then validation_fraction={resplit.get('validation_fraction')} (moved {shown} to validation)"


def _quoted(examples: object) -> str:
    if isinstance(examples, Mapping):
        shown = [f"{key}: {value}" for key, value in examples.items()]
    elif isinstance(examples, (list, tuple)):
        shown = [str(example) for example in examples]
    else:
        return ""
    return f" (e.g. {'; '.join(shown[:QUOTED])})" if shown else ""


#: Report entries that count problems per split or per modality (a mapping of counts).
COUNTS_PER_SPLIT = ("non_finite_features_replaced_by_0", "zero_feature_segments", "nan_labels")


def report_warnings(report: Mapping[str, object]) -> list[str]:
    """One line per problem the build reported: every ``{"count", "examples"}`` entry with a
    count, every :data:`COUNTS_PER_SPLIT` entry with a count, and the empty splits."""
    found = []
    for key, value in report.items():
        if isinstance(value, Mapping) and "count" in value:
            if value["count"]:
                found.append(f"{words(key)}: {value['count']:,}{_quoted(value.get('examples'))}")
        elif key == "empty_splits" and value:
            found.append(f"empty splits: {', '.join(value)}")
        elif key in COUNTS_PER_SPLIT and isinstance(value, Mapping) and _nonzero(value):
            found.append(f"{words(key)}: " + ", ".join(f"{k} {in_words(v)}" for k, v in _nonzero(value).items()))
    return found


def _nonzero(counts: Mapping) -> dict:
    """``counts`` (nested per split, per modality) without its zero counts."""
    kept = {}
    for key, value in counts.items():
        value = _nonzero(value) if isinstance(value, Mapping) else value
        if value:
            kept[key] = value
    return kept


def in_words(value: object) -> str:
    """A report value as short text: mappings as ``key value, ...``, lists comma-joined."""
    if isinstance(value, Mapping):
        return ", ".join(f"{words(str(k))} {in_words(v)}" for k, v in value.items()) or "none"
    if isinstance(value, (list, tuple)):
        return ", ".join(in_words(v) for v in value) or "none"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
