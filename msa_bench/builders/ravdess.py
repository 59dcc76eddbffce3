"""RAVDESS: acted emotional speech and song, 24 actors; labels from each file's 7-part name.

Splits are speaker independent: actors 01-16 train, 17-20 validation, 21-24 test
(``split_scheme="actors"``, the default), actors 01-12 / 13-16 / 17-20 (``"speech20"``, for
collections without actors 21-24, such as the project's shared data; actors 21-24 are left out),
or leave-actors-out k-fold (``split_scheme="kfold"``). Features are
null here (the transcript is the statement); the feature-extraction step fills them from the
recordings, whose location is kept in ``source_labels["file"]``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import datasets
import numpy as np

from msa_bench.builders.base import MSABuilder, example
from msa_bench.util.config_types import check_field_types
from msa_bench.util.errors import ConfigError
from msa_bench.data.labels import labels_from_ravdess
from msa_bench.data.schema import MSAMetadata
from msa_bench.sources.common import SPLITS, DataNotFoundError, dangling_links, file_checksum
from msa_bench.sources.ravdess import MODALITIES, VOCAL_CHANNELS, ZENODO_RECORD, Recording, media_paths, scan_ravdess
from msa_bench.util.hashing import text_digest

ACTORS = tuple(range(1, 25))
#: Actors per split of each fixed split scheme ("kfold" is computed from ``n_folds`` and ``fold``).
ACTOR_SPLITS = {
    "actors": {"train": range(1, 17), "validation": range(17, 21), "test": range(21, 25)},
    "speech20": {"train": range(1, 13), "validation": range(13, 17), "test": range(17, 21)},
}
SPLIT_SCHEMES = (*ACTOR_SPLITS, "kfold")
ZENODO_FILES = (
    "Audio_Speech_Actors_01-24.zip",
    "Audio_Song_Actors_01-24.zip",
    *(f"Video_{kind}_Actor_{actor:02d}.zip" for kind in ("Speech", "Song") for actor in ACTORS),
)
#: What is downloaded without ``data_dir``: the audio-only speech recordings (the usual benchmark).
DEFAULT_DOWNLOAD = "Audio_Speech_Actors_01-24.zip"


@dataclass
class RavdessConfig(datasets.BuilderConfig):
    """Split scheme and which recordings to keep.

    ``split_scheme``: ``"actors"`` or ``"speech20"`` (see the module docstring), or ``"kfold"``:
    actors 01-24 in ``n_folds`` consecutive groups; group ``fold`` is
    the test split, the next group (cyclically) validation, the rest train. ``vocal_channel``
    (``all``/``speech``/``song``) and ``modality`` (``all``/``audio-visual``/``video-only``/
    ``audio-only``) filter the recordings found.
    """

    split_scheme: str = "actors"
    n_folds: int = 6
    fold: int = 0
    vocal_channel: str = "all"
    modality: str = "all"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_field_types(type(self), vars(self), "config")
        if self.split_scheme not in SPLIT_SCHEMES:
            raise ConfigError(f"split_scheme must be one of {SPLIT_SCHEMES}, got {self.split_scheme!r}")
        if not 3 <= self.n_folds <= len(ACTORS):
            raise ConfigError(f"n_folds must be between 3 and {len(ACTORS)}, got {self.n_folds}")
        if not 0 <= self.fold < self.n_folds:
            raise ConfigError(f"fold must be in [0, {self.n_folds}), got {self.fold}")
        if self.vocal_channel not in ("all", *VOCAL_CHANNELS.values()):
            raise ConfigError(f"vocal_channel must be all, speech or song, got {self.vocal_channel!r}")
        if self.modality not in ("all", *MODALITIES.values()):
            raise ConfigError(f"modality must be all or one of {tuple(MODALITIES.values())}, got {self.modality!r}")

    def actor_splits(self) -> dict[str, list[int]]:
        """Actor numbers per split."""
        if self.split_scheme in ACTOR_SPLITS:
            return {split: list(actors) for split, actors in ACTOR_SPLITS[self.split_scheme].items()}
        groups = [list(map(int, g)) for g in np.array_split(np.array(ACTORS), self.n_folds)]
        test, validation = groups[self.fold], groups[(self.fold + 1) % self.n_folds]
        train = [a for a in ACTORS if a not in test and a not in validation]
        return {"train": train, "validation": validation, "test": test}


class RAVDESS(MSABuilder):
    """The Ryerson Audio-Visual Database of Emotional Speech and Song."""

    BUILDER_CONFIG_CLASS = RavdessConfig
    HOMEPAGE = ZENODO_RECORD
    CITATION = """@article{livingstone2018ravdess,
  title={The {Ryerson} Audio-Visual Database of Emotional Speech and Song ({RAVDESS}): A dynamic, multimodal set of facial and vocal expressions in {North American English}},
  author={Livingstone, Steven R. and Russo, Frank A.},
  journal={PLoS ONE},
  volume={13},
  number={5},
  pages={e0196391},
  year={2018},
  doi={10.1371/journal.pone.0196391}
}"""

    def msa_metadata(self) -> MSAMetadata:
        return MSAMetadata(
            "none", "none", "none", 1, 1, 1, provenance={"labels": "RAVDESS file names", "text": "statement code"}
        )

    def source_fingerprint(self) -> str:
        """The names found (in folders and zips, and links to nothing) key the build cache: a
        RAVDESS build reads file names, never the recordings' bytes."""
        root = Path(self.config.data_dir)
        if not root.is_dir():
            return text_digest(str(root))[:16]  # the build refuses it; nothing is cached
        names = [location for location, _ in media_paths(root)]
        names += [f"dangling:{path.relative_to(root).as_posix()}" for path in dangling_links(root)]
        return text_digest("\n".join(names))[:16]

    def _root(self, dl_manager) -> Path:
        needed = {name: f"{ZENODO_RECORD}/files/{name}" for name in ZENODO_FILES[:3]}
        needed["... Video_Speech_Actor_XX.zip / Video_Song_Actor_XX.zip (XX = 01-24)"] = ZENODO_RECORD
        if self.config.data_dir is not None:
            root = Path(self.config.data_dir)
            if not root.is_dir():
                raise DataNotFoundError("ravdess", f"data_dir {root} is not a folder", needed)
            return root
        url = f"{ZENODO_RECORD}/files/{DEFAULT_DOWNLOAD}?download=1"
        try:
            archive = dl_manager.download(url)
        except Exception as err:  # offline or dead server: the same guidance either way
            reason = f"could not download {DEFAULT_DOWNLOAD} ({type(err).__name__})"
            raise DataNotFoundError("ravdess", reason, needed) from None
        self.record_report(downloads={url: file_checksum(archive)})
        return Path(dl_manager.extract(archive))

    def _keep(self, recording: Recording) -> bool:
        described = recording.name.describe()
        return self.config.vocal_channel in ("all", described["vocal_channel"]) and self.config.modality in (
            "all",
            described["modality"],
        )

    def _split_generators(self, dl_manager):
        root = self._root(dl_manager)
        scan = scan_ravdess(root)
        if not scan.recordings:
            raise DataNotFoundError(
                "ravdess",
                f"no RAVDESS recordings (Actor_XX/MM-VV-EE-II-SS-RR-AA.wav|flac|mp4, or the Zenodo zips) in {root}",
                {name: f"{ZENODO_RECORD}/files/{name}" for name in ZENODO_FILES[:2]},
            )
        kept = [r for r in scan.recordings if self._keep(r)]
        actor_split = {actor: split for split, actors in self.config.actor_splits().items() for actor in actors}
        by_split = {split: [r for r in kept if actor_split.get(r.name.actor) == split] for split in SPLITS}
        present = Counter(r.name.actor for r in kept)
        self.record_report(
            split_scheme=self.config.split_scheme,
            examples={split: len(rows) for split, rows in by_split.items()},
            actors_in_no_split=sorted(a for a in present if a not in actor_split),
            empty_splits=[split for split, rows in by_split.items() if not rows],
            actors={split: [a for a in actors if present[a]] for split, actors in self.config.actor_splits().items()},
            actors_absent=[a for a in ACTORS if not present[a]],
            recordings_found=len(scan.recordings),
            filtered_out=len(scan.recordings) - len(kept),
            by_modality=dict(Counter(r.name.describe()["modality"] for r in kept)),
            by_vocal_channel=dict(Counter(r.name.describe()["vocal_channel"] for r in kept)),
            by_format=dict(Counter(r.format for r in kept)),
            **scan.report(),
        )
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"recordings": rows}) for split, rows in by_split.items()
        ]

    def _generate_examples(self, recordings: list[Recording]):
        for recording in recordings:
            name = recording.name
            row = example(
                dataset="ravdess",
                video_id=f"Actor_{name.actor:02d}",
                clip_id=name.stem,
                text=name.transcript,
                labels=labels_from_ravdess(name.emotion, name.intensity),
                source_labels={**name.describe(), "file": recording.location, "format": recording.format},
            )
            yield row["id"], row


def split_extracted(dataset: datasets.DatasetDict, config: RavdessConfig) -> datasets.DatasetDict:
    """An extracted RAVDESS dataset (:func:`msa_bench.features.load_extracted`) split and filtered
    by ``config`` as the builder splits recordings: by actor (``video_id`` ``Actor_XX``), keeping
    the vocal channel and modality asked for. Rows are selected, never copied."""
    parts = [dataset[split] for split in SPLITS if len(dataset[split])]
    rows = datasets.concatenate_datasets(parts)
    described = [json.loads(labels) for labels in rows["source_labels"]]
    actor_split = {actor: split for split, actors in config.actor_splits().items() for actor in actors}
    keep = [
        config.vocal_channel in ("all", d["vocal_channel"]) and config.modality in ("all", d["modality"]) for d in described
    ]
    split_of = [actor_split.get(int(video.removeprefix("Actor_"))) if kept else None for video, kept in zip(rows["video_id"], keep)]
    metadata = MSAMetadata.from_info(rows.info)
    actors = {split: sorted({int(v.removeprefix("Actor_")) for v, s in zip(rows["video_id"], split_of) if s == split}) for split in SPLITS}
    report = {
        **metadata.report,
        "split_scheme": config.split_scheme,
        "splits": f"re-split by actor ({config.split_scheme})",
        "examples": {split: split_of.count(split) for split in SPLITS},
        "actors": actors,
        "left_out": split_of.count(None),
    }
    description = replace(metadata, report=report).to_description()
    result = {}
    for split in SPLITS:
        selected = rows.select([i for i, s in enumerate(split_of) if s == split])
        selected.info.description = description
        result[split] = selected
    return datasets.DatasetDict(result)
