"""RAVDESS recordings as distributed: Zenodo zips or extracted ``Actor_XX/`` folders, WAV/FLAC/MP4.

Labels come only from the 7-part file name ``MM-VV-EE-II-SS-RR-AA``: modality (01 audio-visual,
02 video-only, 03 audio-only), vocal channel (01 speech, 02 song), emotion (01-08), intensity
(01 normal, 02 strong; neutral has no strong), statement (01, 02), repetition (01, 02), actor
(01-24; odd male, even female). A name that breaks any of these rules is reported, never guessed.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from msa_bench.sources.common import SourceFileError, dangling_links, files_under

MEDIA_SUFFIXES = (".wav", ".flac", ".mp4")
MODALITIES = {1: "audio-visual", 2: "video-only", 3: "audio-only"}
VOCAL_CHANNELS = {1: "speech", 2: "song"}
STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
EMOTION_NAMES = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fearful", 7: "disgust", 8: "surprised"}
INTENSITY_NAMES = {1: "normal", 2: "strong"}
_ACTOR_FOLDER = re.compile(r"^Actor_(\d{2})$")
_NAME = re.compile(r"^\d{2}(-\d{2}){6}$")

#: Official download: Zenodo record 1188976 (Livingstone & Russo, 2018; CC BY-NC-SA 4.0).
ZENODO_RECORD = "https://zenodo.org/records/1188976"


@dataclass(frozen=True)
class RavdessName:
    """The seven codes of a RAVDESS file name."""

    modality: int
    vocal_channel: int
    emotion: int
    intensity: int
    statement: int
    repetition: int
    actor: int

    @property
    def stem(self) -> str:
        return "-".join(f"{code:02d}" for code in self.codes())

    def codes(self) -> tuple[int, ...]:
        return (self.modality, self.vocal_channel, self.emotion, self.intensity, self.statement, self.repetition, self.actor)

    @property
    def transcript(self) -> str:
        return STATEMENTS[self.statement]

    def describe(self) -> dict[str, object]:
        """Every code with its meaning (the recording's original labels)."""
        return {
            "modality": MODALITIES[self.modality],
            "vocal_channel": VOCAL_CHANNELS[self.vocal_channel],
            "emotion": EMOTION_NAMES[self.emotion],
            "intensity": INTENSITY_NAMES[self.intensity],
            "statement": self.statement,
            "repetition": self.repetition,
            "actor": self.actor,
            "sex": "male" if self.actor % 2 else "female",
            "codes": self.stem,
        }


def parse_ravdess_name(name: str) -> RavdessName:
    """Parse a RAVDESS file name (with or without folder and suffix); ``ValueError`` says what is wrong."""
    stem = PurePosixPath(name).name.split(".")[0]
    if not _NAME.match(stem):
        raise ValueError(f"{name!r}: not seven two-digit codes MM-VV-EE-II-SS-RR-AA")
    parsed = RavdessName(*(int(code) for code in stem.split("-")))
    checks = (
        ("modality", parsed.modality in MODALITIES, "01-03"),
        ("vocal channel", parsed.vocal_channel in VOCAL_CHANNELS, "01-02"),
        ("emotion", parsed.emotion in EMOTION_NAMES, "01-08"),
        ("intensity", parsed.intensity in INTENSITY_NAMES, "01-02"),
        ("statement", parsed.statement in STATEMENTS, "01-02"),
        ("repetition", parsed.repetition in (1, 2), "01-02"),
        ("actor", 1 <= parsed.actor <= 24, "01-24"),
    )
    for field_name, ok, allowed in checks:
        if not ok:
            raise ValueError(f"{name!r}: {field_name} code must be {allowed}")
    if parsed.emotion == 1 and parsed.intensity == 2:
        raise ValueError(f"{name!r}: neutral (emotion 01) has no strong intensity (02) in RAVDESS")
    return parsed


@dataclass(frozen=True)
class Recording:
    """One media file: ``location`` is its path relative to the scanned folder, or
    ``<zip path>::<member>`` for a file inside an archive."""

    name: RavdessName
    location: str
    format: str


#: How many examples a report lists for each kind of problem.
MAX_REPORTED = 20


@dataclass
class Scan:
    """What a folder holds: recordings, malformed names, duplicates, ignored files and symbolic
    links to nothing."""

    recordings: list[Recording]
    malformed: dict[str, str]
    duplicates: list[str]
    outside_actor_folders: list[str]
    dangling_links: list[str] = field(default_factory=list)

    def report(self) -> dict[str, dict]:
        """The problems found, as the builder and ``msa-bench extract`` both report them."""
        return {
            "malformed_names": {"count": len(self.malformed), "examples": dict(list(self.malformed.items())[:MAX_REPORTED])},
            "duplicates_skipped": {"count": len(self.duplicates), "examples": self.duplicates[:MAX_REPORTED]},
            "outside_actor_folders": {"count": len(self.outside_actor_folders), "examples": self.outside_actor_folders[:MAX_REPORTED]},
            "dangling_links": {"count": len(self.dangling_links), "examples": self.dangling_links[:MAX_REPORTED]},
        }


def media_paths(root: Path) -> list[tuple[str, str]]:
    """``(location, path inside the distribution)`` of every media file in folders and zips."""
    found = []
    for path in files_under(root):
        if path.suffix.lower() in MEDIA_SUFFIXES:
            relative = path.relative_to(root).as_posix()
            found.append((relative, relative))
        elif path.suffix.lower() == ".zip":
            try:
                with zipfile.ZipFile(path) as archive:
                    members = sorted(archive.namelist())
            except zipfile.BadZipFile as err:
                raise SourceFileError(path, f"not a readable zip archive: {err}") from None
            found += [
                (f"{path.relative_to(root).as_posix()}::{member}", member)
                for member in members
                if PurePosixPath(member).suffix.lower() in MEDIA_SUFFIXES
            ]
    return found


def scan_ravdess(root: str | Path) -> Scan:
    """Find RAVDESS recordings under ``root``: files in ``Actor_XX/`` folders, on disk or in zips.

    Media outside ``Actor_XX/`` folders are listed, not used (the distribution keeps every file in
    its actor's folder). A recording found twice (e.g. a FLAC copy beside the zip) is used once.
    """
    root = Path(root)
    scan = Scan(recordings=[], malformed={}, duplicates=[], outside_actor_folders=[])
    scan.dangling_links = [path.relative_to(root).as_posix() for path in dangling_links(root)]
    seen: set[str] = set()
    for location, inner in media_paths(root):
        parts = PurePosixPath(inner).parts
        folder = _ACTOR_FOLDER.match(parts[-2]) if len(parts) >= 2 else None
        if folder is None:
            scan.outside_actor_folders.append(inner)
            continue
        try:
            name = parse_ravdess_name(parts[-1])
        except ValueError as err:
            scan.malformed[inner] = str(err)
            continue
        if name.actor != int(folder.group(1)):
            scan.malformed[inner] = f"actor code {name.actor:02d} but folder {parts[-2]}"
            continue
        if name.stem in seen:
            scan.duplicates.append(inner)
            continue
        seen.add(name.stem)
        scan.recordings.append(Recording(name=name, location=location, format=PurePosixPath(inner).suffix.lower()[1:]))
    return scan
