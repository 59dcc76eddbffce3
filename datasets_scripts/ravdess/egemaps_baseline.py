"""RAVDESS speech emotion from eGeMAPSv02: msa_bench's protocol and Pepino et al.'s eGeMAPS recipe.

Features come from the msa_bench extraction pipeline (raw FLAC/WAV -> openSMILE). Both protocols
report actors 17-20 (the validation split), which no choice below ever looks at.

1. ``functionals`` (msa_bench protocol): 8 classes with calm kept apart; eGeMAPSv02 functionals
   (88 per clip), standardised on the training actors 01-16; logistic regression and an RBF SVM
   whose C is chosen by 4-fold cross-validation grouped by actor over the training actors.
2. ``pepino2021``: the eGeMAPS baseline recipe of Pepino, Riera & Ferrer (Interspeech 2021; their
   repository habla-liaa/ser-with-w2v2, experiment ``none-egemaps``): calm merged into neutral
   (7 classes); the 25 eGeMAPSv02 low-level descriptors averaged over pairs of 10 ms frames,
   at most 5 s, z-normalised per actor; a frame-wise two-layer MLP (128 ReLU units, dropout 0.2),
   mean pooling over the frames, softmax; Adam at 1e-4, batch 32, up to 100 epochs, early stopping
   with patience 4 on the loss of held-out training actors (15-16 here), best epoch kept; five seeds.
   They test on actors 23-24, which the shared data does not hold.

    python datasets_scripts/ravdess/egemaps_baseline.py --data-dir ../shared/data/ravdess --out runs/ravdess-egemaps
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import nn

from msa_bench.features import extract
from msa_bench.scoring.metrics import emotion_class_metrics
from msa_bench.models import masked_mean
from msa_bench.data.schema import EMOTION_CLASSES

CLASSIFIERS = {
    "logistic_regression": (LogisticRegression(max_iter=5000), {"logisticregression__C": [0.01, 0.1, 1.0, 10.0]}),
    "rbf_svm": (SVC(kernel="rbf", gamma="scale"), {"svc__C": [0.1, 1.0, 10.0, 100.0]}),
}
CALM, NEUTRAL = EMOTION_CLASSES.index("calm"), EMOTION_CLASSES.index("neutral")
EARLY_STOPPING_ACTORS = ("Actor_15", "Actor_16")
SEEDS = (0, 1, 2, 3, 4)
FRAME_STEP = 2  # 10 ms openSMILE frames averaged in pairs -> 20 ms
MAX_FRAMES = 250  # 5 s at 20 ms


def split_arrays(split) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Per clip: the audio feature matrix, the emotion class and the actor (clips without audio dropped)."""
    rows = [r for r in split if r["audio_features"] is not None and len(r["audio_features"])]
    features = [np.asarray(r["audio_features"], dtype=np.float32) for r in rows]
    return features, np.array([r["emotion"] for r in rows]), np.array([r["video_id"] for r in rows])


def functionals_protocol(dataset) -> dict:
    x_train, y_train, actors = split_arrays(dataset["train"])
    x_valid, y_valid, _ = split_arrays(dataset["validation"])
    x_train, x_valid = np.stack([x[0] for x in x_train]), np.stack([x[0] for x in x_valid])
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
    return report


def merge_calm(emotions: np.ndarray) -> np.ndarray:
    """Calm counted as neutral, as Pepino et al. (and most 7-class RAVDESS work) do."""
    return np.where(emotions == CALM, NEUTRAL, emotions)


def standardize_per_actor(frames: list[np.ndarray], actors: np.ndarray) -> list[np.ndarray]:
    """z-score every descriptor with the mean and standard deviation of that actor's frames."""
    normalized: list[np.ndarray] = list(frames)
    for actor in np.unique(actors):
        members = np.flatnonzero(actors == actor)
        stacked = np.concatenate([frames[i] for i in members])
        mean, std = stacked.mean(axis=0), stacked.std(axis=0)
        std[std == 0] = 1.0
        for i in members:
            normalized[i] = (frames[i] - mean) / std
    return normalized


def pad(frames: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Means of consecutive frame pairs (10 ms -> 20 ms), at most ``MAX_FRAMES``, zero-padded; returns (values, mask)."""
    kept = [downsample(f)[:MAX_FRAMES] for f in frames]
    values = torch.zeros(len(kept), MAX_FRAMES, kept[0].shape[1])
    mask = torch.zeros(len(kept), MAX_FRAMES)
    for i, f in enumerate(kept):
        values[i, : len(f)] = torch.from_numpy(f)
        mask[i, : len(f)] = 1.0
    return values, mask


def downsample(frames: np.ndarray) -> np.ndarray:
    """Average every ``FRAME_STEP`` consecutive frames (a last, shorter group is averaged on its own)."""
    starts = np.arange(0, len(frames), FRAME_STEP)
    return (np.add.reduceat(frames, starts, axis=0) / np.diff(np.append(starts, len(frames)))[:, None]).astype(np.float32)


class PooledFrameMLP(nn.Module):
    """Two frame-wise dense layers, mean over the unpadded frames, a linear layer to the classes."""

    def __init__(self, n_features: int, n_classes: int, hidden: int = 128, dropout: float = 0.2):
        super().__init__()
        self.frames = nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
        )
        self.classify = nn.Linear(hidden, n_classes)
        for layer in (*self.frames, self.classify):  # Keras' defaults, which the recipe used
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.classify(masked_mean(self.frames(values), mask))


def train_pooled_mlp(
    train: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    stop: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    n_classes: int,
    seed: int,
    max_epochs: int = 100,
    patience: int = 4,
    batch_size: int = 32,
) -> tuple[PooledFrameMLP, int]:
    """Adam at 1e-4 (gradients clipped at 1) until the held-out loss has not improved for ``patience``
    epochs; returns the model of the best epoch and that epoch's number (from 1)."""
    torch.manual_seed(seed)
    model = PooledFrameMLP(train[0].shape[-1], n_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    best, best_state, best_epoch, waited = float("inf"), copy.deepcopy(model.state_dict()), 0, 0
    for epoch in range(1, max_epochs + 1):
        model.train()
        for batch in torch.randperm(len(train[2])).split(batch_size):
            optimizer.zero_grad()
            loss_fn(model(train[0][batch], train[1][batch]), train[2][batch]).backward()
            nn.utils.clip_grad_value_(model.parameters(), 1.0)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            held_out = loss_fn(model(stop[0], stop[1]), stop[2]).item()
        if held_out < best:
            best, best_state, best_epoch, waited = held_out, copy.deepcopy(model.state_dict()), epoch, 0
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best_state)
    return model.eval(), best_epoch


def pepino2021_protocol(dataset, seeds: tuple[int, ...] = SEEDS) -> dict:
    tensors = {}
    for split in ("train", "validation"):
        frames, emotions, actors = split_arrays(dataset[split])
        values, mask = pad(standardize_per_actor(frames, actors))
        tensors[split] = (values, mask, torch.from_numpy(merge_calm(emotions)), actors)
    values, mask, labels, actors = tensors["train"]
    held_out = torch.from_numpy(np.isin(actors, EARLY_STOPPING_ACTORS))
    fit = (values[~held_out], mask[~held_out], labels[~held_out])
    stop = (values[held_out], mask[held_out], labels[held_out])
    n_classes = len(EMOTION_CLASSES) - 1  # calm folded into neutral
    valid_values, valid_mask, valid_labels, _ = tensors["validation"]
    per_seed, best_epochs = [], []
    for seed in seeds:
        model, best_epoch = train_pooled_mlp(fit, stop, n_classes, seed)
        best_epochs.append(best_epoch)
        with torch.no_grad():
            predicted = model(valid_values, valid_mask).argmax(dim=1).numpy()
        per_seed.append(emotion_class_metrics(valid_labels.numpy(), predicted))
    ua = np.array([s["emotion_ua"] for s in per_seed])
    wa = np.array([s["emotion_wa"] for s in per_seed])
    return {
        "n_fit": len(fit[2]),
        "n_early_stopping": len(stop[2]),
        "n_validation": len(valid_labels),
        "classes": n_classes,
        "seeds": list(seeds),
        "best_epoch_per_seed": best_epochs,
        "validation_ua_per_seed": [round(float(u), 4) for u in ua],
        "validation_ua_mean": round(float(ua.mean()), 4),
        "validation_ua_std": round(float(ua.std(ddof=1)), 4) if len(ua) > 1 else 0.0,
        "validation_wa_mean": round(float(wa.mean()), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="RAVDESS Actor_XX folders")
    parser.add_argument("--out", type=Path, required=True, help="extraction output folder (resumable)")
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args()

    functionals = extract("ravdess", args.data_dir, args.out / "functionals", audio="egemaps-functionals", workers=args.workers)
    descriptors = extract("ravdess", args.data_dir, args.out / "lld", audio="egemaps-lld", workers=args.workers)
    report = {
        "functionals": functionals_protocol(functionals.dataset),
        "pepino2021": pepino2021_protocol(descriptors.dataset),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
