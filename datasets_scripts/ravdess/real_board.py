"""The real-data RAVDESS board: every registered model that reads audio, on the shared RAVDESS speech
recordings, on two feature sets, each with a logistic-regression reference row.

Data: the RAVDESS speech recordings of ``--data-dir`` (actors 01-20 in the shared data), split
``speech20`` (actors 01-12 train, 13-16 validation, 17-20 test). Each feature set is read exactly
as the CLI reads it (:func:`board_dataset`)::

    msa-bench extract ravdess --data-dir D --out F --audio AUDIO --pool-ms MS
    msa-bench train MODEL --dataset ravdess --data-dir F --dataset-option split_scheme=speech20

Feature sets (``--feature-sets``, both by default), each its own table on the board (records
name the feature set in ``config.data.features``):

- ``egemaps``: eGeMAPSv02 low-level descriptors (10 ms frames), mean-pooled over 100 ms; entries
  named by the model. Reference ``logreg_egemaps_functionals``: the 88 eGeMAPSv02 functionals of
  the same clips (another extraction).
- ``whisper``: the Whisper base encoder output (20 ms frames, 512 dimensions), mean-pooled over
  100 ms; entries ``<model>+whisper-base``. Reference ``logreg_whisper_base_meanstd``: the mean and
  standard deviation over time of the board's own pooled frames (1,024 per clip).

Both references: StandardScaler + LogisticRegression, C chosen on the validation actors' UA, fitted
on the training actors only, scored on the test actors by the protocol's scorer; tagged
``reference``. Pooling: the models' recurrent and attention encoders were designed for
word-aligned or short sequences; over ~365 eGeMAPS frames the final LSTM state of MMIM or Self-MM
stays near chance on the validation actors, and attention costs minutes per epoch. For Whisper,
100 ms was chosen by validation UA against 40 and 200 ms (``docs/features.md`` has the figures).
Models: each model's ``"ravdess"`` schedule through ``msa-bench run``'s protocol (per-feature
normalisation fitted on the training actors, validation-only selection, one test evaluation, the
quick robustness grid).

    python datasets_scripts/ravdess/real_board.py --data-dir RAVDESS --workspace leaderboard/real

The workspace (:mod:`msa_bench.records.workspace`) gets the records, the run folders (an
interrupted board resumes), the extractions (``<workspace>/extractions/ravdess``) and the pages.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from msa_bench.board.page import render_leaderboard
from msa_bench.data.schema import MODALITIES
from msa_bench.features.pipeline import extract
from msa_bench.harness.protocol import guarded_run, run_protocol
from msa_bench.harness.reference import make_reference_record
from msa_bench.harness.training import DEFAULT_SEEDS
from msa_bench.loading.load import load_dataset
from msa_bench.models import builtin_model_names, models_without_input
from msa_bench.records.record import ResultRecord
from msa_bench.records.store import save_record
from msa_bench.records.workspace import Workspace
from msa_bench.scoring.metrics import emotion_class_metrics, predictions_frame
from msa_bench.scoring.robustness import QUICK_LEVELS

DATASET = "ravdess"
SPLIT = {"split_scheme": "speech20"}
C_GRID = (0.01, 0.1, 1.0, 10.0)


def first_row(frames: np.ndarray) -> np.ndarray:
    """Utterance-level features (one row per clip) as they are."""
    return frames[0]


def mean_and_std(frames: np.ndarray) -> np.ndarray:
    """The mean and the standard deviation of every feature over the clip's frames."""
    return np.concatenate([frames.mean(axis=0), frames.std(axis=0)])


@dataclass(frozen=True)
class FeatureSet:
    """One table of the board: what the models read, and the reference row beside them."""

    audio: str
    pool_ms: float | None
    #: Entry-name suffix of the models' records (``<model>+<variant>``); ``None``: the model's name.
    variant: str | None
    reference: str
    #: What the reference reads: another extraction's spec, or ``None`` for the board itself.
    reference_audio: str | None
    #: One vector per clip from its frames, for the reference.
    summary: Callable[[np.ndarray], np.ndarray]
    summary_description: str


FEATURE_SETS: dict[str, FeatureSet] = {
    "egemaps": FeatureSet("egemaps-lld", 100, None, "logreg_egemaps_functionals", "egemaps-functionals", first_row,
                          "the 88 eGeMAPSv02 functionals"),
    "whisper": FeatureSet("whisper-base", 100, "whisper-base", "logreg_whisper_base_meanstd", None, mean_and_std,
                          "mean and std over time of the board's pooled Whisper base frames"),
}


def board_dataset(data_dir: Path, folder: Path, audio: str, pool_ms: float | None = None, workers: int | None = None):
    """``msa-bench extract ravdess --data-dir data_dir --out folder --audio audio [--pool-ms pool_ms]``
    (resumable: a second call reuses the folder's cache), then the folder split ``speech20``, as
    ``msa-bench train --data-dir folder --dataset-option split_scheme=speech20`` reads it."""
    extract(DATASET, data_dir, folder, audio=audio, pool_ms=pool_ms, workers=workers)
    return load_dataset(DATASET, data_dir=folder, **SPLIT)


def extraction_folder(root: Path, audio: str, pool_ms: float | None) -> Path:
    return root / (audio if pool_ms is None else f"{audio}-pool{pool_ms:g}ms")


def clip_vectors(split, summary: Callable[[np.ndarray], np.ndarray]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ids, one vector per clip and the emotion class of every clip of ``split``."""
    rows = split.select_columns(["id", "audio_features", "emotion"])
    vectors = [summary(np.asarray(f, dtype=np.float64)) for f in rows["audio_features"]]
    return list(rows["id"]), np.stack(vectors), np.asarray(rows["emotion"])


def reference_record(feature_set: FeatureSet, board, data) -> tuple[ResultRecord, object]:
    """The logistic-regression row: C by validation UA, fitted on the training actors only."""
    began = time.perf_counter()
    (_, x_train, y_train), (_, x_valid, y_valid), (ids, x_test, y_test) = (
        clip_vectors(data[s], feature_set.summary) for s in ("train", "validation", "test")
    )

    def fitted(c: float):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000)).fit(x_train, y_train)

    validation_ua = {c: emotion_class_metrics(y_valid, fitted(c).predict(x_valid))["emotion_ua"] for c in C_GRID}
    best = max(C_GRID, key=lambda c: (validation_ua[c], -c))
    table = predictions_frame(ids, emotion_true=y_test, emotion_pred=fitted(best).predict(x_test))
    model = {"pipeline": "StandardScaler + LogisticRegression(max_iter=5000)", "features": feature_set.summary_description,
             "C": best, "C_grid": list(C_GRID), "selected_on": "validation emotion_ua",
             "validation_ua": {str(c): v for c, v in validation_ua.items()}}
    record = make_reference_record(feature_set.reference, DATASET, board, table, model, time.perf_counter() - began, data=data,
                                   script=__file__)
    return record, table


def dataset_modalities(split) -> tuple[str, ...]:
    """The modalities with features in at least one clip of ``split`` (RAVDESS speech: audio)."""
    columns = split.select_columns([f"{m}_features" for m in MODALITIES])
    return tuple(m for m in MODALITIES if any(columns[f"{m}_features"]))


def train_models(names: list[str], seeds: list[int], board, workspace: Workspace, variant: str | None) -> list[str]:
    """``msa-bench run``'s protocol for each model on ``board`` in this process (one model's
    failure does not stop the others); returns the entries that failed."""
    failed = []
    print(f"training {len(names)} model(s) on {DATASET} with seeds {list(seeds)}")
    for name in names:
        entry = name if variant is None else f"{name}+{variant}"
        paths, outcome = guarded_run(
            lambda: run_protocol(name, DATASET, seeds, records_dir=workspace.records, dataset=board, progress=False,
                                 robustness_levels=QUICK_LEVELS, variant=variant, run_root=workspace.runs, echo=lambda line: None)
        )
        failed.extend([] if paths else [entry])
        print(f"  {entry}: {outcome}", flush=True)
    return failed


def run_feature_set(feature_set: FeatureSet, args) -> tuple[object, list[str]]:
    """The reference row and every audio-reading model on one feature set; returns the board
    dataset and the entries that failed."""
    workspace = Workspace.resolve(args.workspace)
    extractions = workspace.root / "extractions" / DATASET
    folder = extraction_folder(extractions, feature_set.audio, feature_set.pool_ms)
    board = board_dataset(args.data_dir, folder, feature_set.audio, feature_set.pool_ms)
    data = board
    if feature_set.reference_audio is not None:
        data = board_dataset(args.data_dir, extraction_folder(extractions, feature_set.reference_audio, None), feature_set.reference_audio)
    record, table = reference_record(feature_set, board, data)
    save_record(record, table, workspace.records, replace=True)  # a re-run replaces its reference row (the old one is kept aside)
    print(f"  {feature_set.reference}: emotion UA {record.metrics['emotion_ua']:.4f} in {record.wall_time_s:.1f} s")
    if args.no_models:
        return board, []
    modalities = dataset_modalities(board["train"])
    names = args.models or builtin_model_names()
    left_out = models_without_input(names, modalities)
    for name, reason in left_out.items():
        print(f"  {name}: left out ({reason})")
    models = [n for n in names if n not in left_out]
    return board, train_models(models, args.seeds, board, workspace, feature_set.variant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="RAVDESS Actor_XX folders")
    parser.add_argument("--workspace", type=Path, required=True, help="records, run folders, extractions and pages (the committed board: leaderboard/real)")
    parser.add_argument("--feature-sets", nargs="*", choices=sorted(FEATURE_SETS), default=sorted(FEATURE_SETS))
    parser.add_argument("--models", nargs="*", default=None, help="default: every registered model that reads audio")
    parser.add_argument("--seeds", nargs="*", type=int, default=list(DEFAULT_SEEDS))
    parser.add_argument("--no-models", action="store_true", help="only the reference rows")
    args = parser.parse_args()

    started, failed, board = time.perf_counter(), [], None
    for name in args.feature_sets:
        print(f"feature set {name}:")
        board, failed_here = run_feature_set(FEATURE_SETS[name], args)
        failed += failed_here
    workspace = Workspace.resolve(args.workspace)
    pages = render_leaderboard(workspace.records, workspace.root, datasets_by_name={DATASET: board})
    print(f"done in {time.perf_counter() - started:.0f} s; leaderboard: {pages['markdown']}")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
