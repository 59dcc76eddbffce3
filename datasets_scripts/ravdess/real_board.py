"""The real-data RAVDESS board: every registered model on the shared RAVDESS speech recordings, plus
a plain reference row, rendered beside the synthetic board.

Data: the RAVDESS speech recordings of ``--data-dir`` (actors 01-20 in the shared data), split
``speech20`` (actors 01-12 train, 13-16 validation, 17-20 test), eGeMAPSv02 low-level
descriptors extracted on the fly into the dataset cache (once), averaged over 100 ms windows
(:func:`pooled`). Models: every registered model that reads audio (the others are left out, with
the reason printed), one after another in this process, through ``msa-bench run``'s protocol
(per-feature normalisation fitted on the training actors, validation-only selection, one test
evaluation, the quick robustness grid), each model's ``"ravdess"`` schedule (or the protocol's
RAVDESS fallback). Reference: StandardScaler + LogisticRegression on eGeMAPSv02
functionals of the same clips, C chosen on the validation actors' UA, scored on the same test
clips by the same scorer; tagged ``reference``.

    python datasets_scripts/ravdess/real_board.py --data-dir ../shared/data/ravdess \\
        --records leaderboard/real/records --out leaderboard/real [--models lf_dnn ...] [--seeds 1111 ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from msa_bench.board.page import render_leaderboard
from msa_bench.loading.load import load_dataset
from msa_bench.scoring.metrics import emotion_class_metrics, predictions_frame
from msa_bench.models import model_names, models_without_input
from msa_bench.harness.protocol import guarded_run, run_protocol
from msa_bench.harness.reference import make_reference_record
from msa_bench.records.record import ResultRecord, save_record
from msa_bench.scoring.robustness import QUICK_LEVELS
from msa_bench.data.schema import MODALITIES, msa_metadata
from msa_bench.harness.training import DEFAULT_SEEDS

DATASET = "ravdess"
SPLIT = {"split_scheme": "speech20"}
REFERENCE = "logreg_egemaps_functionals"
C_GRID = (0.01, 0.1, 1.0, 10.0)
#: LLD frames (10 ms) averaged per window: 100 ms steps, ~37 per clip instead of ~365.
POOL_FRAMES = 10


def functionals(split) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ids, the 88 functionals per clip and the emotion class of every clip of ``split``."""
    rows = split.select_columns(["id", "audio_features", "emotion"])
    return list(rows["id"]), np.stack([np.asarray(f[0], dtype=np.float64) for f in rows["audio_features"]]), np.asarray(rows["emotion"])


def pool_frames(frames, width: int = POOL_FRAMES) -> np.ndarray:
    """Means of consecutive windows of ``width`` frames (the last window may be shorter)."""
    x = np.asarray(frames, dtype=np.float32)
    starts = np.arange(0, len(x), width)
    return np.add.reduceat(x, starts, axis=0) / np.diff(np.append(starts, len(x)))[:, None].astype(np.float32)


def pooled(board, width: int = POOL_FRAMES):
    """The board with every clip's audio frames pooled to ``width``-frame windows, its metadata
    saying so (records name it in ``config.data.features``).

    The models' recurrent and attention encoders were designed for word-aligned or short
    sequences: over ~365 frames of 10 ms, the final LSTM state of MMIM or Self-MM stays near
    chance on the validation actors (it fits the training actors), and attention costs minutes
    per epoch here. Pooled frames keep the clip's time course at 100 ms steps."""
    out = board.map(lambda row: {"audio_features": pool_frames(row["audio_features"], width)}, desc="pooling frames")
    for split in out.values():
        metadata = msa_metadata(split)
        split.info.description = dataclasses.replace(metadata, audio=f"{metadata.audio}, mean of {width}-frame windows").to_description()
    return out


def dataset_modalities(split) -> tuple[str, ...]:
    """The modalities with features in at least one clip of ``split`` (RAVDESS speech: audio)."""
    columns = split.select_columns([f"{m}_features" for m in MODALITIES])
    return tuple(m for m in MODALITIES if any(columns[f"{m}_features"]))


def reference_record(board, data) -> tuple[ResultRecord, object]:
    """The logistic-regression row: C by validation UA, fitted on the training actors only."""
    began = time.perf_counter()
    (_, x_train, y_train), (_, x_valid, y_valid), (ids, x_test, y_test) = (functionals(data[s]) for s in ("train", "validation", "test"))

    def fitted(c: float):
        return make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=5000)).fit(x_train, y_train)

    validation_ua = {c: emotion_class_metrics(y_valid, fitted(c).predict(x_valid))["emotion_ua"] for c in C_GRID}
    best = max(C_GRID, key=lambda c: (validation_ua[c], -c))
    table = predictions_frame(ids, emotion_true=y_test, emotion_pred=fitted(best).predict(x_test))
    model = {"pipeline": "StandardScaler + LogisticRegression(max_iter=5000)", "C": best, "C_grid": list(C_GRID),
             "selected_on": "validation emotion_ua", "validation_ua": {str(c): v for c, v in validation_ua.items()}}
    record = make_reference_record(REFERENCE, DATASET, board, table, model, time.perf_counter() - began, data=data)
    return record, table


def train_models(names: list[str], seeds: list[int], board, records: Path, out: Path) -> list[str]:
    """``msa-bench run``'s protocol for each model on ``board`` in this process (one model's
    failure does not stop the others), then the page; returns the models that failed."""
    started, failed = time.perf_counter(), []
    print(f"training {len(names)} model(s) on {DATASET} with seeds {list(seeds)}")
    for name in names:
        paths, outcome = guarded_run(
            lambda: run_protocol(name, DATASET, seeds, records_dir=records, dataset=board, progress=False,
                                 robustness_levels=QUICK_LEVELS)
        )
        failed.extend([] if paths else [name])
        print(f"  {name}: {outcome}", flush=True)
    pages = render_leaderboard(records, out, datasets_by_name={DATASET: board})
    print(f"done in {time.perf_counter() - started:.0f} s; leaderboard: {pages['markdown']}")
    return failed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="RAVDESS Actor_XX folders")
    parser.add_argument("--records", type=Path, default=Path("leaderboard/real/records"))
    parser.add_argument("--out", type=Path, default=Path("leaderboard/real"))
    parser.add_argument("--models", nargs="*", default=None, help="default: every registered model")
    parser.add_argument("--seeds", nargs="*", type=int, default=list(DEFAULT_SEEDS))
    args = parser.parse_args()

    options = {"audio": "egemaps-lld", **SPLIT}
    board = pooled(load_dataset(DATASET, data_dir=args.data_dir, **options))  # the reference row is on this board too
    data = load_dataset(DATASET, data_dir=args.data_dir, audio="egemaps-functionals", **SPLIT)
    record, table = reference_record(board, data)
    save_record(record, table, args.records)
    print(f"  {REFERENCE}: emotion UA {record.metrics['emotion_ua']:.4f} in {record.wall_time_s:.1f} s")
    modalities = dataset_modalities(board["train"])
    names = args.models or model_names()
    left_out = models_without_input(names, modalities)
    for name, reason in left_out.items():
        print(f"  {name}: left out ({reason})")
    models = [n for n in names if n not in left_out]
    failed = train_models(models, args.seeds, board, args.records, args.out)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
