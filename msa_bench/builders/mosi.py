"""CMU-MOSI (and the shared CMU builder that CMU-MOSEI reuses).

Sources, chosen by ``CMUConfig.source`` or detected from ``data_dir``:

* ``mmsa``: MMSA's ``unaligned_50.pkl`` / ``aligned_50.pkl`` (their own splits);
* ``csd``: CMU Multimodal SDK computational sequences (labels + chosen feature sets);
* ``labels``: a label table (features null; the feature-extraction step fills them later).

Without ``data_dir``, the SDK's public ``.csd`` files are downloaded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import datasets

from msa_bench.builders.base import MSABuilder, example, zero_modalities
from msa_bench.util.config_types import check_field_types
from msa_bench.util.errors import ConfigError
from msa_bench.data.schema import MODALITIES, MSAMetadata
from msa_bench.sources.cmu import (
    CMUSource,
    CSDSource,
    PickleSource,
    assign_splits,
    label_missing,
    out_of_range_report,
    standard_folds,
    table_source,
    unified_labels,
)
from msa_bench.sources.common import DataNotFoundError, SourceFileError, file_checksum
from msa_bench.sources.label_tables import table_format

SOURCES = ("auto", "mmsa", "csd", "labels")
FOLDS = ("auto", "standard", "source")
AUTO = "auto"
#: A null modality's feature-set name; its dimension (1) is a placeholder the schema requires.
NO_FEATURES = "none"


@dataclass
class CMUConfig(datasets.BuilderConfig):
    """Which source to read and which feature sets fill the modalities.

    ``source``: ``auto`` (MMSA pickle, else SDK files, else label table, whichever ``data_dir``
    holds), ``mmsa``, ``csd`` or ``labels``. ``aligned``: the MMSA aligned pickle, or SDK
    features averaged per word; ``None`` = whichever pickle is present / unaligned.
    ``label_file`` / ``text_file``: label table and a second table giving transcripts (file
    names in ``data_dir``; ``auto`` picks them). ``text_features`` / ``audio_features`` /
    ``vision_features``: SDK feature-set name (e.g. ``glove``, ``covarep``, ``facet42``) or
    ``.csd`` file name; ``auto`` takes the first present; ``None`` leaves the modality null.
    ``folds``: ``standard`` (SDK folds), ``source`` (the source's own split column) or ``auto``
    (MMSA pickles keep their splits, everything else uses the standard folds).
    """

    source: str = AUTO
    aligned: bool | None = None
    label_file: str | None = AUTO
    text_file: str | None = AUTO
    text_features: str | None = AUTO
    audio_features: str | None = AUTO
    vision_features: str | None = AUTO
    folds: str = AUTO

    def __post_init__(self) -> None:
        super().__post_init__()
        check_field_types(type(self), vars(self), "config")
        if self.source not in SOURCES:
            raise ConfigError(f"source must be one of {SOURCES}, got {self.source!r}")
        if self.folds not in FOLDS:
            raise ConfigError(f"folds must be one of {FOLDS}, got {self.folds!r}")
        if self.source == "mmsa" and self.folds == "standard":
            raise ConfigError("MMSA pickles keep their own splits: use folds='source' (or 'auto') with source='mmsa'")


class CMUBuilder(MSABuilder):
    """Shared builder of CMU-MOSI and CMU-MOSEI; subclasses set the names and files below."""

    BUILDER_CONFIG_CLASS = CMUConfig
    #: Rows buffered before each Arrow write: feature rows are large (MOSEI: ~0.3 MB each), so a
    #: small batch keeps conversion memory near the size of the source itself.
    DEFAULT_WRITER_BATCH_SIZE = 100
    DATASET: str = ""
    TITLE: str = ""
    #: SDK file names: ``labels``, ``words`` and feature sets ``name -> (modality, file)``.
    SDK_BASE_URL: str = ""
    SDK_LABELS: str = ""
    SDK_WORDS: str = ""
    SDK_FEATURES: dict[str, tuple[str, str]] = {}
    #: Feature sets tried, in order, for ``auto`` per modality.
    DEFAULT_FEATURES: dict[str, tuple[str, ...]] = {}
    #: Label table file names tried, in order, for ``label_file="auto"``.
    LABEL_TABLES: tuple[str, ...] = ()
    #: Clip id of the first segment of a video in the SDK label sequence.
    CLIP_BASE: int = 0

    def msa_metadata(self) -> MSAMetadata:
        """Placeholder until the build: feature dimensions are known only once the source is open."""
        return MSAMetadata(NO_FEATURES, NO_FEATURES, NO_FEATURES, 1, 1, 1)

    # -- source selection -------------------------------------------------------------------
    def _open_source(self, dl_manager) -> CMUSource:
        if self.config.data_dir is None:
            return self._csd_source(self._download(dl_manager))
        source, files = self._chosen_source()
        if source == "mmsa":
            return PickleSource(files["pickle"])
        if source == "csd":
            return self._csd_source(files)
        return table_source(files["labels"], files["text"])

    def _chosen_source(self) -> tuple[str, dict[str, Path | None]]:
        """The source ``data_dir`` is read as (``mmsa``, ``csd`` or ``labels``) and its files: the
        pickle; the SDK files present; or the label table and the table giving transcripts."""
        c = self.config
        data_dir = Path(c.data_dir)
        if not data_dir.is_dir():
            raise DataNotFoundError(self.DATASET, f"data_dir {data_dir} is not a folder", self._needed_files())
        source = "labels" if c.source == AUTO and c.label_file not in (None, AUTO) else c.source
        if source == AUTO:
            source = next((s for s, found in self._present(data_dir).items() if found), None)
            if source is None:
                raise DataNotFoundError(self.DATASET, f"no {self.TITLE} files found in {data_dir}", self._needed_files())
        if source == "mmsa":
            return source, {"pickle": self._pickle_path(data_dir)}
        if source == "csd":
            return source, {name: data_dir / file for name, file in self._sdk_files().items() if (data_dir / file).is_file()}
        return source, self._table_files(data_dir)

    def source_files(self) -> dict[str, Path | None]:
        """The files the build reads: the pickle, the label table (and transcript table), or the
        SDK labels, words and the feature sets chosen, never the other files of ``data_dir``."""
        source, files = self._chosen_source()
        if source != "csd":
            return files
        self._require_labels(files)
        chosen = {modality: path for modality, (_, path) in self._chosen_features(files).items()}
        return {"labels": files["labels"], "words": files.get("words"), **chosen}

    def _present(self, data_dir: Path) -> dict[str, bool]:
        c = self.config
        return {
            "mmsa": any(path.is_file() for path in self._pickle_candidates(data_dir, None)),
            "csd": (data_dir / self.SDK_LABELS).is_file(),
            "labels": c.label_file not in (None, AUTO) or bool(self._tables(data_dir)),
        }

    @staticmethod
    def _pickle_candidates(data_dir: Path, aligned: bool | None) -> list[Path]:
        """MMSA pickle paths to try, in ``data_dir`` or MMSA's own ``Processed/`` subfolder."""
        names = {True: ["aligned_50.pkl"], False: ["unaligned_50.pkl"], None: ["unaligned_50.pkl", "aligned_50.pkl"]}[aligned]
        return [folder / name for folder in (data_dir, data_dir / "Processed") for name in names]

    def _pickle_path(self, data_dir: Path) -> Path:
        candidates = self._pickle_candidates(data_dir, self.config.aligned)
        found = next((path for path in candidates if path.is_file()), None)
        if found is None:
            tried = ", ".join(str(p.relative_to(data_dir)) for p in candidates)
            raise DataNotFoundError(self.DATASET, f"no MMSA pickle in {data_dir} (tried {tried})", self._needed_files())
        return found

    def _tables(self, data_dir: Path) -> list[Path]:
        """Known label tables in ``data_dir``, in ``LABEL_TABLES`` order (unknown CSVs skipped)."""
        found = []
        for name in self.LABEL_TABLES:
            path = data_dir / name
            if path.is_file():
                try:
                    table_format(path)
                except SourceFileError:
                    continue
                found.append(path)
        return found

    def _table_files(self, data_dir: Path) -> dict[str, Path | None]:
        """The label table and the table giving transcripts (``None``: no second table)."""
        c = self.config
        tables = self._tables(data_dir)
        label_path = data_dir / c.label_file if c.label_file not in (None, AUTO) else (tables[0] if tables else None)
        if label_path is None or not label_path.is_file():
            raise DataNotFoundError(self.DATASET, f"no label table in {data_dir}", self._needed_files())
        if c.text_file == AUTO:
            with_text = [t for t in tables if t != label_path and table_format(t) in ("mmsa", "mosi_table")]
            needs_text = table_format(label_path) not in ("mmsa", "mosi_table")
            text_path = with_text[0] if needs_text and with_text else None
        else:
            text_path = None if c.text_file is None else data_dir / c.text_file
        return {"labels": label_path, "text": text_path}

    def _sdk_files(self) -> dict[str, str]:
        """SDK file name of labels, words and the chosen feature set per modality."""
        files = {"labels": self.SDK_LABELS, "words": self.SDK_WORDS}
        files.update({name: file for name, (_, file) in self.SDK_FEATURES.items()})
        return files

    def _chosen_features(self, available: dict[str, Path]) -> dict[str, tuple[str, Path]]:
        chosen = {}
        for modality in MODALITIES:
            wanted = getattr(self.config, f"{modality}_features")
            if wanted is None:
                continue
            if wanted == AUTO:
                name = next((n for n in self.DEFAULT_FEATURES[modality] if n in available), None)
                if name is not None:
                    chosen[modality] = (name, available[name])
                continue
            if wanted.endswith(".csd"):
                path = Path(self.config.data_dir or ".") / wanted
                chosen[modality] = (Path(wanted).stem, path)
            elif wanted in available:
                chosen[modality] = (wanted, available[wanted])
            else:
                known = sorted(n for n, (m, _) in self.SDK_FEATURES.items() if m == modality)
                raise DataNotFoundError(
                    self.DATASET, f"{modality} feature set {wanted!r} not found (known: {known})", self._needed_files()
                )
        return chosen

    def _require_labels(self, available: dict[str, Path]) -> None:
        if "labels" not in available:
            raise DataNotFoundError(self.DATASET, f"{self.SDK_LABELS} not found", self._needed_files())

    def _csd_source(self, available: dict[str, Path]) -> CMUSource:
        self._require_labels(available)
        return CSDSource(
            labels=available["labels"],
            features=self._chosen_features(available),
            words=available.get("words"),
            aligned=bool(self.config.aligned),
            clip_base=self.CLIP_BASE,
        )

    # -- downloads --------------------------------------------------------------------------
    def _download_names(self) -> list[str]:
        """Files fetched without ``data_dir``: labels, words and the default feature sets."""
        defaults = [names[0] for names in self.DEFAULT_FEATURES.values()]
        return ["labels", "words", *defaults]

    def _url(self, name: str) -> str:
        file = self._sdk_files()[name]
        folder = {"labels": "labels", "words": "language"}.get(name) or {
            "text": "language",
            "audio": "acoustic",
            "vision": "visual",
        }[self.SDK_FEATURES[name][0]]
        return f"{self.SDK_BASE_URL}/{folder}/{file}"

    def _needed_files(self) -> dict[str, str]:
        needed = {self._sdk_files()[name]: self._url(name) for name in self._download_names()}
        needed["or: unaligned_50.pkl / aligned_50.pkl"] = "MMSA (github.com/thuiar/MMSA), shared by its authors"
        needed[f"or: a label table ({' / '.join(self.LABEL_TABLES)})"] = "MMSA-FET label.csv or the SDK label files"
        return needed

    def _download(self, dl_manager) -> dict[str, Path]:
        urls = {name: self._url(name) for name in self._download_names()}
        try:
            paths = dl_manager.download(urls)
        except Exception as err:  # any failure to fetch (offline, dead server) gets the same guidance
            reason = f"could not download the SDK files ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})"
            raise DataNotFoundError(self.DATASET, reason, self._needed_files()) from None
        self.record_report(downloads={urls[name]: file_checksum(path) for name, path in paths.items()})
        return {name: Path(path) for name, path in paths.items()}

    # -- generation -------------------------------------------------------------------------
    def _set_metadata(self, source: CMUSource) -> None:
        sets = source.feature_sets
        metadata = MSAMetadata(
            **{m: sets[m].name if m in sets else NO_FEATURES for m in MODALITIES},
            **{f"{m}_dim": sets[m].dim if m in sets else 1 for m in MODALITIES},
            provenance={"source": source.format, "files": source.files, **{f"{m}_file": s.file for m, s in sets.items()}},
            report=MSAMetadata.from_info(self.info).report,
        )
        self.info.features = metadata.features()
        self.info.description = metadata.to_description()

    def _split_generators(self, dl_manager):
        source = self._open_source(dl_manager)
        self._set_metadata(source)
        folds_mode = self.config.folds
        if folds_mode == AUTO:
            folds_mode = "source" if source.format == "mmsa_pickle" else "standard"
        if folds_mode == "source" and any(s.split is None for s in source.segments):
            raise SourceFileError(source.files[0], "has no split column; use folds='standard' (the SDK folds)")
        splits, split_report = assign_splits(source.segments, standard_folds(self.DATASET) if folds_mode == "standard" else None)
        self.record_report(
            source=source.format,
            folds=folds_mode,
            segments_read=len(source.segments),
            examples={split: len(indices) for split, indices in splits.items()},
            labels_out_of_range=out_of_range_report(source.segments),
            **split_report,
            **source.report,
        )
        return [
            datasets.SplitGenerator(name=split, gen_kwargs={"source": source, "indices": indices, "split": split})
            for split, indices in splits.items()
        ]

    def _generate_examples(self, source: CMUSource, indices: list[int], split: str):
        zero_features = Counter({m: 0 for m in source.feature_sets})
        nan_labels = 0
        for index in indices:
            segment = source.segments[index]
            features = source.features(index)
            zero_features.update(zero_modalities(features))
            nan_labels += label_missing(segment)
            yield segment.id, example(
                dataset=self.DATASET,
                video_id=segment.video_id,
                clip_id=segment.clip_id,
                text=segment.text or "",
                labels=unified_labels(segment),
                source_labels=segment.source_labels,
                **{f"{m}_features": features[m] for m in MODALITIES},
            )
        source.zero_feature_segments[split] = dict(zero_features)
        source.nan_labels[split] = nan_labels
        self.record_report(
            non_finite_features_replaced_by_0=dict(source.non_finite),
            zero_feature_segments=dict(source.zero_feature_segments),
            nan_labels=dict(source.nan_labels),
        )
        if isinstance(source, CSDSource) and source.aligned:
            self.record_report(aligned_words_without_frames=dict(source.words_without_frames))


class MOSI(CMUBuilder):
    """CMU-MOSI: 2,199 opinion segments of 93 YouTube movie reviews, sentiment in [-3, 3]."""

    DATASET = "mosi"
    TITLE = "CMU-MOSI"
    HOMEPAGE = "http://multicomp.cs.cmu.edu/resources/cmu-mosi-dataset/"
    CITATION = """@article{zadeh2016mosi,
  title={{MOSI}: Multimodal Corpus of Sentiment Intensity and Subjectivity Analysis in Online Opinion Videos},
  author={Zadeh, Amir and Zellers, Rowan and Pincus, Eli and Morency, Louis-Philippe},
  journal={IEEE Intelligent Systems},
  volume={31},
  number={6},
  pages={82--88},
  year={2016}
}"""
    SDK_BASE_URL = "http://immortal.multicomp.cs.cmu.edu/CMU-MOSI"
    SDK_LABELS = "CMU_MOSI_Opinion_Labels.csd"
    SDK_WORDS = "CMU_MOSI_TimestampedWords.csd"
    SDK_FEATURES = {
        "glove": ("text", "CMU_MOSI_TimestampedWordVectors.csd"),
        "covarep": ("audio", "CMU_MOSI_COVAREP.csd"),
        "opensmile": ("audio", "CMU_MOSI_openSMILE_IS09.csd"),
        "facet42": ("vision", "CMU_MOSI_Visual_Facet_42.csd"),
        "facet41": ("vision", "CMU_MOSI_Visual_Facet_41.csd"),
        "openface2": ("vision", "CMU_MOSI_Visual_OpenFace_2.csd"),
    }
    DEFAULT_FEATURES = {"text": ("glove",), "audio": ("covarep", "opensmile"), "vision": ("facet42", "facet41", "openface2")}
    LABEL_TABLES = ("OpinionLevelSentiment.csv", "label.csv")
    CLIP_BASE = 1
