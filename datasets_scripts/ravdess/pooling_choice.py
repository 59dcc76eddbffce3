"""How the RAVDESS board's Whisper pooling window was chosen: validation UA of a few audio-reading
models on Whisper base frames mean-pooled over several windows, one seed each.

Nothing here reads the test actors: the validation actors (13-16 of split ``speech20``) stand in
for the test split, and each model's ``"ravdess"`` schedule selects its epoch on them as on the
board. Frames are extracted once without pooling (``--extraction``, resumable); each window is
applied in memory by :func:`msa_bench.features.pooling.pool_frames`, the function behind
``extract --pool-ms``.

    python datasets_scripts/ravdess/pooling_choice.py --data-dir ../shared/data/ravdess \\
        --extraction runs/ravdess/whisper-base [--windows 40 100 200] [--models ef_lstm audio_only self_mm mmim]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import datasets
import numpy as np

from datasets_scripts.ravdess.real_board import DATASET, board_dataset
from msa_bench.features.pooling import pool_frames
from msa_bench.harness.training import train_and_evaluate
from msa_bench.models import get_model_class
from msa_bench.worker.configs import resolve_configs

#: Seconds between Whisper encoder frames.
FRAME_HOP_S = 0.02


def pooled_without_test(frames: datasets.DatasetDict, window_ms: float) -> datasets.DatasetDict:
    """Training and validation actors pooled over ``window_ms``; the validation actors also as ``test``."""

    def pool(row):
        values = np.asarray(row["audio_features"], dtype=np.float32)
        return {"audio_features": pool_frames(values, np.arange(len(values)) * FRAME_HOP_S, window_ms)[0]}

    train, validation = (frames[split].map(pool, desc=f"pooling {window_ms:g} ms") for split in ("train", "validation"))
    return datasets.DatasetDict(train=train, validation=validation, test=validation)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="RAVDESS Actor_XX folders")
    parser.add_argument("--extraction", type=Path, default=Path("runs/ravdess/whisper-base"), help="unpooled Whisper base extraction")
    parser.add_argument("--windows", nargs="*", type=float, default=[40, 100, 200])
    parser.add_argument("--models", nargs="*", default=["ef_lstm", "audio_only", "self_mm", "mmim"])
    parser.add_argument("--seed", type=int, default=1111)
    args = parser.parse_args()

    frames = board_dataset(args.data_dir, args.extraction, "whisper-base")
    for window in args.windows:
        data = pooled_without_test(frames, window)
        for name in args.models:
            model_class = get_model_class(name)
            model_config, train_config = resolve_configs(model_class, DATASET)
            began = time.perf_counter()
            run = train_and_evaluate(model_class, model_config, data, train_config, seed=args.seed, dataset_name=DATASET, progress=False)
            print(json.dumps({"window_ms": window, "model": name, "validation_ua": round(run.metrics["emotion_ua"], 4),
                              "epochs": len(run.history), "seconds": round(time.perf_counter() - began)}), flush=True)


if __name__ == "__main__":
    main()
