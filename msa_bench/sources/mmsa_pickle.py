"""MMSA's feature pickles (``aligned_50.pkl`` / ``unaligned_50.pkl``), loaded without running code.

Layout: ``{"train" | "valid" | "test": {"id": ["<video>$_$<clip>", ...], "raw_text", "text" (N, 50, D_t),
"text_bert" (N, 3, 50), "audio" (N, T, D_a), "vision" (N, T, D_v), "audio_lengths", "vision_lengths"
(unaligned only), "regression_labels", "annotations", optionally "regression_labels_{T,A,V}"}}``.

Sequences are trimmed to their real length: text to its BERT attention mask (``text_bert[:, 1]``);
unaligned audio and vision to ``audio_lengths`` / ``vision_lengths``; aligned audio and vision,
which follow the text positions, to the text length. Without a length, a sequence stays as stored.
"""

from __future__ import annotations

import builtins
import codecs
import collections
import math
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from msa_bench.data.schema import MODALITIES
from msa_bench.sources.common import Segment, SourceFileError

SPLIT_KEYS: dict[str, str] = {"train": "train", "validation": "valid", "test": "test"}
ID_SEPARATOR = "$_$"
REQUIRED_KEYS = ("id", "regression_labels")

class _CheckedArray(np.ndarray):
    """What the restricted unpickler builds arrays as. numpy's own ``__setstate__`` checks the
    bytes of a numeric array but not the length of an object array's element list, and reads past
    a list shorter than the shape says (a crash, not an error, on a corrupt pickle)."""

    def __setstate__(self, state):
        shape, dtype, data = state[-4], state[-3], state[-1]
        if isinstance(dtype, np.dtype) and dtype.hasobject and (not isinstance(data, list) or len(data) != math.prod(shape)):
            raise ValueError(f"an object array of shape {shape} holds {len(data)} elements")
        super().__setstate__(state)


def _reconstruct(subtype, shape, dtype) -> np.ndarray:
    """numpy's ``_reconstruct`` (the first step of unpickling an array), making a :class:`_CheckedArray`."""
    return np.ndarray.__new__(_CheckedArray, shape, dtype)


def _plain(value: object) -> object:
    """``value`` with every :class:`_CheckedArray` in its dicts, lists and tuples as an ndarray."""
    if isinstance(value, _CheckedArray):
        return value.view(np.ndarray)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item) for item in value)
    return value


_NUMPY_CORE = ("numpy.core.multiarray", "numpy._core.multiarray", "numpy.core.numeric", "numpy._core.numeric")
#: Everything a pickle of numpy arrays and builtin containers needs, and nothing else.
ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    **{(module, "_reconstruct"): _reconstruct for module in _NUMPY_CORE[:2]},
    **{(module, "scalar"): np._core.multiarray.scalar for module in _NUMPY_CORE[:2]},
    **{(module, "_frombuffer"): np._core.numeric._frombuffer for module in _NUMPY_CORE[2:]},
    ("_codecs", "encode"): codecs.encode,
    ("collections", "OrderedDict"): collections.OrderedDict,
    **{("builtins", name): getattr(builtins, name) for name in ("set", "frozenset", "complex", "slice", "bytearray")},
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that admits only numpy arrays/dtypes/scalars and builtin containers and scalars.

    A pickle may name any importable callable and run it while loading; this one refuses every
    global outside :data:`ALLOWED_GLOBALS`.
    """

    def __init__(self, file, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str):
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise SourceFileError(
                self.path,
                f"refusing to load {module}.{name}: an MMSA pickle holds only numpy arrays and builtin "
                "containers, and anything else could run code on this machine",
            )
        return allowed


def restricted_load(path: str | Path) -> object:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return _plain(RestrictedUnpickler(handle, path).load())
    except SourceFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError, OverflowError, MemoryError) as err:
        raise SourceFileError(path, f"not a readable pickle (truncated or corrupt?): {type(err).__name__}: {err}") from None
    except OSError as err:
        raise SourceFileError(path, f"cannot be read ({err.strerror or err})") from None


def _check_lengths(path: Path, split: str, part: dict) -> None:
    """Every per-example array of a split has one entry per id (else examples would be misread)."""
    n = len(part["id"])
    for key, values in part.items():
        length = len(values) if hasattr(values, "__len__") and not isinstance(values, (str, bytes)) else None
        if length is not None and length != n:
            raise SourceFileError(path, f"split {split!r}: {key!r} has {length} entries but 'id' has {n}; the pickle is inconsistent")


#: What reading an array of the wrong shape or type raises (a pickle of another layout).
LAYOUT_ERRORS = (TypeError, ValueError, IndexError, KeyError, AttributeError, OverflowError)


class MMSAPickle:
    """One MMSA pickle, loaded (restricted) and checked: every split and its required keys."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        data = restricted_load(self.path)
        if not isinstance(data, dict):
            raise SourceFileError(self.path, f"expected a dict of splits, found {type(data).__name__}")
        missing = [key for key in SPLIT_KEYS.values() if key not in data]
        if missing:
            raise SourceFileError(self.path, f"missing split(s) {missing}; found {sorted(map(str, data))}")
        for key in SPLIT_KEYS.values():
            if not isinstance(data[key], dict):
                raise SourceFileError(self.path, f"split {key!r} is a {type(data[key]).__name__}, not a dict of arrays")
            absent = [k for k in REQUIRED_KEYS if k not in data[key]]
            if absent:
                raise SourceFileError(self.path, f"split {key!r} lacks {absent}")
            _check_lengths(self.path, key, data[key])
        self.data = {split: data[key] for split, key in SPLIT_KEYS.items()}
        self.aligned = "audio_lengths" not in self.data["train"] and "vision_lengths" not in self.data["train"]

    @contextmanager
    def _reading(self, what: str) -> Iterator[None]:
        """An array of the wrong shape or type becomes a :class:`SourceFileError` naming the file."""
        try:
            yield
        except SourceFileError:
            raise
        except LAYOUT_ERRORS as err:
            raise SourceFileError(self.path, f"{what}: not MMSA's layout ({type(err).__name__}: {err})") from None

    def dims(self) -> dict[str, int | None]:
        """Feature dimension per modality (``None`` where the pickle has no such array)."""
        train = self.data["train"]
        with self._reading("split 'train': feature dimensions"):
            return {m: (int(np.asarray(train[m]).shape[-1]) if m in train else None) for m in MODALITIES}

    def examples(self, split: str) -> Iterator[tuple[Segment, dict[str, np.ndarray | None]]]:
        """``(segment, features)`` of each example of ``split`` (unified split name)."""
        part = self.data[split]
        for k, raw_id in enumerate(part["id"]):
            with self._reading(f"split {SPLIT_KEYS[split]!r}, example {k} ({raw_id!r})"):
                example = self._segment(part, k, str(raw_id), split), self._features(part, k)
            yield example

    def _segment(self, part: dict, k: int, raw_id: str, split: str) -> Segment:
        video_id, sep, clip_id = raw_id.rpartition(ID_SEPARATOR)
        if not sep:
            raise SourceFileError(self.path, f"id {raw_id!r} is not '<video>{ID_SEPARATOR}<clip>'")
        labels = {
            key: float(np.asarray(part[key][k]).ravel()[0])
            for key in ("regression_labels", "regression_labels_T", "regression_labels_A", "regression_labels_V")
            if key in part
        }
        if "annotations" in part:
            labels["annotations"] = str(part["annotations"][k])
        return Segment(
            video_id=video_id,
            clip_id=clip_id,
            sentiment=labels["regression_labels"],
            text=str(part["raw_text"][k]) if "raw_text" in part else "",
            split=split,
            source_labels=labels,
        )

    def _features(self, part: dict, k: int) -> dict[str, np.ndarray | None]:
        text_length = int(np.asarray(part["text_bert"][k])[1].sum()) if "text_bert" in part else None
        lengths = {
            "text": text_length,
            "audio": int(part["audio_lengths"][k]) if "audio_lengths" in part else (text_length if self.aligned else None),
            "vision": int(part["vision_lengths"][k]) if "vision_lengths" in part else (text_length if self.aligned else None),
        }
        return {m: (np.asarray(part[m][k])[: lengths[m]] if m in part else None) for m in MODALITIES}
