"""What a dataset needs before any training: examples to train on, features to read and a
validation split to select the checkpoint on. The harness calls :func:`check_trainable` first,
so a dataset that cannot train is refused in one paragraph, not in a traceback mid-run.

An empty test split is allowed: the run trains and selects, and nothing is scored on test.
"""

from __future__ import annotations

import datasets

from msa_bench.data.schema import MODALITIES, msa_metadata
from msa_bench.loading.describe import report_warnings, split_scheme
from msa_bench.sources.common import SPLITS
from msa_bench.util.errors import UserError

#: Where the docs explain how to get features for each dataset.
FEATURES_DOCS = "the docs page Datasets, section 'Getting features'"
#: Datasets whose published features msa_bench reads (MMSA pickles, CMU SDK files).
PUBLISHED_FEATURES = ("mosi", "mosei")


class UntrainableDataError(UserError):
    """A dataset the harness cannot train on: an empty training or validation split, or no features."""


def present_modalities(split: datasets.Dataset) -> list[str]:
    """The modalities with features in at least one example of ``split``."""
    table = split.with_format("arrow")[:]
    return [m for m in MODALITIES if table.column(f"{m}_features").null_count < len(split)]


def _how_to_get_features(name: str) -> str:
    extract = (
        f"run `msa-bench extract {name} --data-dir RAW_MEDIA --out FEATURES --audio egemaps-functionals` "
        "(or --text/--vision extractors) and pass FEATURES as --data-dir"
    )
    if name in PUBLISHED_FEATURES:
        extract += (
            "; or point --data-dir at a folder holding MMSA's unaligned_50.pkl / aligned_50.pkl or the CMU SDK "
            ".csd feature files (COVAREP, FACET, GloVe)"
        )
    return f"Get features first: {extract} (see {FEATURES_DOCS})."


def check_trainable(dataset: datasets.DatasetDict, name: str, options: dict | None = None) -> None:
    """Refuse (:class:`UntrainableDataError`) a dataset with no training examples, no features in
    any modality, or no validation examples; each message names the split scheme in use and what
    to do. ``options`` are the dataset options given (named in the messages)."""
    report = msa_metadata(dataset).report
    scheme = split_scheme(report)
    sizes = ", ".join(f"{split} {len(dataset[split]):,}" for split in SPLITS) + f"; split scheme: {scheme}"
    given = f" with the options {', '.join(f'{k}={v}' for k, v in options.items())}" if options else ""
    if not len(dataset["train"]):
        found = report_warnings(report)
        raise UntrainableDataError(
            f"{name}: the training split is empty{given} ({sizes}), so there is nothing to train on."
            + (f" The build reported: {'; '.join(found)}." if found else "")
            + " Choose the splits yourself with --dataset-option split_file=ids.csv (a CSV with the columns id,split "
            "that assigns every example), or pass a --data-dir holding training examples."
        )
    if not present_modalities(dataset["train"]):
        raise UntrainableDataError(
            f"{name}: the examples have labels but no features in any modality (text, audio and vision are all "
            f"absent), so a model could only learn a constant. {_how_to_get_features(name)}"
        )
    if not len(dataset["validation"]):
        raise UntrainableDataError(
            f"{name}: the validation split is empty{given} ({sizes}), and the checkpoint is "
            "selected on validation only. Give it a validation split with one of two dataset options: "
            "--dataset-option validation_fraction=0.2 moves about that share of the training examples to "
            "validation as whole speakers/videos (the video_id column, e.g. RAVDESS actors), or "
            "--dataset-option split_file=ids.csv assigns every example from a CSV with the columns id,split "
            "(in Python: load_dataset(..., validation_fraction=0.2))."
        )
