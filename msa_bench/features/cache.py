"""Per-clip feature cache, so an interrupted extraction resumes where it stopped.

One ``.npz`` per clip and extractor: ``<root>/<modality>/<extractor>-<config hash>/<clip>-<key>.npz``
where the key hashes the clip's media path, time window, transcript, the decoding options and the
extractor library's version. Each file also stores the content hash of the media file it was
computed from (:func:`~msa_bench.util.hashing.file_digest`, never its size or modification time):
when the file at that path holds other bytes, even of the same size and time, the entry is stale,
recomputed, and counted in :attr:`FeatureCache.changed`. Files are written atomically and read
with ``allow_pickle=False``; an entry that cannot be read (empty, truncated, not a zip) is removed
and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from importlib.metadata import version
from pathlib import Path

import numpy as np

from msa_bench.util.atomic import atomic_write
from msa_bench.util.hashing import file_digest
from msa_bench.features.base import Extractor
from msa_bench.features.clips import Clip

#: What reading a damaged ``.npz`` raises: empty (``EOFError``), truncated or overwritten
#: (``BadZipFile``), without the arrays expected (``KeyError``), unreadable (``OSError``).
UNREADABLE_ENTRY = (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile)
#: Stored media fingerprints are content hashes since this version (earlier entries are ignored).
FINGERPRINT = "xxh3-128"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]


class FeatureCache:
    def __init__(self, root: str | Path, extractor: Extractor, decode_options: dict[str, object]) -> None:
        self.dir = Path(root) / extractor.modality / f"{_safe(extractor.name)}-{extractor.config.config_hash()}"
        self.decode_options = decode_options
        self.reads_media = extractor.modality != "text"
        self.library_version = version(extractor.library)
        #: Ids of clips whose cached entry was computed from another version of their media file.
        self.changed: set[str] = set()
        #: Fingerprint per media file, computed once per run (many clips may cut one video).
        self._fingerprints: dict[Path, str] = {}

    def path(self, clip: Clip) -> Path:
        key = json.dumps(
            {
                "media": str(clip.media),
                "window": [clip.window.start, clip.window.end],
                "text": clip.text,
                "library_version": self.library_version,
                "fingerprint": FINGERPRINT,
                **self.decode_options,
                **({"words": [[w.text, w.start, w.end] for w in clip.words or []]} if self.decode_options.get("per_word") else {}),
            },
            sort_keys=True,
        )
        return self.dir / f"{_safe(clip.id)}-{hashlib.sha256(key.encode()).hexdigest()[:10]}.npz"

    def _fingerprint(self, clip: Clip) -> str:
        if not self.reads_media or clip.media is None:
            return ""
        if clip.media not in self._fingerprints:
            self._fingerprints[clip.media] = file_digest(clip.media)
        return self._fingerprints[clip.media]

    def get(self, clip: Clip) -> tuple[np.ndarray, np.ndarray | None] | None:
        """The cached ``(values, times)`` of ``clip``, or ``None`` (absent, unreadable or stale)."""
        path = self.path(clip)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as stored:
                if str(stored["media"]) != self._fingerprint(clip):
                    self.changed.add(clip.id)
                    return None
                return stored["values"], (stored["times"] if "times" in stored else None)
        except UNREADABLE_ENTRY:
            path.unlink(missing_ok=True)  # damaged (a full disk, a copy cut short): recompute it
            return None

    def put(self, clip: Clip, values: np.ndarray, times: np.ndarray | None) -> None:
        arrays = {"values": values, "media": np.array(self._fingerprint(clip))}
        if times is not None:
            arrays["times"] = times
        def write(temporary: Path) -> None:
            with open(temporary, "wb") as handle:  # a file name would get ".npz" appended
                np.savez(handle, **arrays)

        atomic_write(self.path(clip), write)
