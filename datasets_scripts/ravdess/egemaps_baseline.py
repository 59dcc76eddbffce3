"""RAVDESS speech, 8 emotions: eGeMAPSv02 functionals + a linear and an RBF classifier.

Features come from the msa_bench extraction pipeline (raw FLAC/WAV -> openSMILE). Train on
actors 01-16, report validation (actors 17-20) WA (accuracy) and UA (mean per-class recall).
Hyper-parameters are chosen by grouped cross-validation over the training actors only; the
validation actors are used once, for the reported figures.

    python datasets_scripts/ravdess/egemaps_baseline.py --data-dir ../shared/data/ravdess --out runs/ravdess-egemaps
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from msa_bench.features import extract
from msa_bench.metrics import emotion_class_metrics

CLASSIFIERS = {
    "logistic_regression": (LogisticRegression(max_iter=5000), {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}),
    "rbf_svm": (SVC(kernel="rbf", gamma="scale"), {"svc__C": [0.1, 1.0, 10.0, 100.0]}),
}


def features_and_labels(split) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows = [r for r in split if r["audio_features"] is not None and not isinstance(r["audio_features"], float)]
    x = np.stack([np.asarray(r["audio_features"], dtype=np.float32)[0] for r in rows])
    y = np.array([r["emotion"] for r in rows])
    actors = np.array([r["video_id"] for r in rows])
    return x, y, actors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="RAVDESS Actor_XX folders")
    parser.add_argument("--out", type=Path, required=True, help="extraction output folder (resumable)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    extracted = extract("ravdess", args.data_dir, args.out, audio="egemaps-functionals", workers=args.workers)
    x_train, y_train, actors = features_and_labels(extracted.dataset["train"])
    x_valid, y_valid, _ = features_and_labels(extracted.dataset["validation"])
    report = {"n_train": len(y_train), "n_validation": len(y_valid), "classes": int(len(np.unique(y_train)))}
    for name, (classifier, grid) in CLASSIFIERS.items():
        search = GridSearchCV(make_pipeline(StandardScaler(), classifier), grid, cv=GroupKFold(4), scoring="balanced_accuracy")
        search.fit(x_train, y_train, groups=actors)
        scores = emotion_class_metrics(y_valid, search.predict(x_valid))
        report[name] = {
            "chosen": search.best_params_,
            "cv_ua_train_actors": round(float(search.best_score_), 4),
            "validation_wa": round(scores["emotion_wa"], 4),
            "validation_ua": round(scores["emotion_ua"], 4),
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
