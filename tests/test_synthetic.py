"""The embedded synthetic dataset: schema, determinism, and that every modality carries signal."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from msa_bench import load_dataset, msa_metadata, unified_features
from msa_bench.inputs.loader import make_dataloader
from msa_bench.builders.synthetic import SyntheticConfig
from msa_bench.models import masked_mean

MODALITY_SETS = {"text": ("text",), "audio": ("audio",), "vision": ("vision",), "all": ("text", "audio", "vision")}


def _arrow_digests(cache_dir: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(cache_dir.rglob("*.arrow"))}


def test_has_the_unified_features_and_three_splits(synthetic_small):
    assert set(synthetic_small) == {"train", "validation", "test"}
    for split in synthetic_small.values():
        assert split.features == unified_features(300, 74, 35)
    assert msa_metadata(synthetic_small).audio_dim == 74


def test_splits_are_speaker_independent(synthetic_small):
    videos = {name: set(split["video_id"]) for name, split in synthetic_small.items()}
    assert not videos["train"] & videos["validation"]
    assert not videos["train"] & videos["test"]
    assert not videos["validation"] & videos["test"]
    assert sum(len(split) for split in synthetic_small.values()) == 300


def test_same_seed_gives_byte_identical_files_and_other_seed_differs(tmp_path):
    for run in ("a", "b"):
        load_dataset("synthetic", cache_dir=tmp_path / run, n_clips=120, seed=3)
    load_dataset("synthetic", cache_dir=tmp_path / "c", n_clips=120, seed=4)
    first, second, other = (_arrow_digests(tmp_path / run) for run in ("a", "b", "c"))
    assert first and first == second
    assert sorted(first.values()) != sorted(other.values())


def test_labels_are_in_range_and_text_matches_its_features(synthetic_small):
    train = synthetic_small["train"]
    sentiment = np.array(train["sentiment"])
    assert sentiment.min() >= -3 and sentiment.max() <= 3
    assert (sentiment == 0).any(), "MOSI-like labels include exact zeros (needed by Non0 metrics)"
    emotions = np.array(train["emotions"])
    assert emotions.shape[1] == 6 and emotions.min() >= 0 and emotions.max() <= 3
    row = train[0]
    assert len(row["text"].split()) == len(row["text_features"])


@pytest.mark.parametrize("bad", [{"n_clips": 5}, {"max_audio_len": 2}])
def test_rejects_bad_config(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        SyntheticConfig(name="bad", **bad)


def _pooled(split) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    pooled = {m: [] for m in ("text", "audio", "vision")}
    labels = []
    for batch, targets in make_dataloader(split, batch_size=256):
        for name, modality in batch.modalities():
            pooled[name].append(masked_mean(modality.features, modality.mask))
        labels.append(targets.sentiment)
    return torch.cat(labels), {m: torch.cat(v) for m, v in pooled.items()}


def _validation_mae(train, valid, modalities: tuple[str, ...]) -> float:
    torch.manual_seed(0)
    y_train, x_train = train
    y_valid, x_valid = valid
    inputs_train = torch.cat([x_train[m] for m in modalities], dim=1)
    inputs_valid = torch.cat([x_valid[m] for m in modalities], dim=1)
    mean, std = inputs_train.mean(0), inputs_train.std(0) + 1e-6
    model = torch.nn.Sequential(
        torch.nn.Linear(inputs_train.shape[1], 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)
    )
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3, weight_decay=1e-4)
    best = float("inf")
    for step in range(400):
        optimizer.zero_grad()
        loss = torch.nn.functional.l1_loss(model((inputs_train - mean) / std).squeeze(1), y_train)
        loss.backward()
        optimizer.step()
        if step % 20 == 19:
            with torch.no_grad():
                mae = (model((inputs_valid - mean) / std).squeeze(1) - y_valid).abs().mean().item()
            best = min(best, mae)
    return best


def test_fusion_beats_every_single_modality(synthetic_default):
    train, valid = _pooled(synthetic_default["train"]), _pooled(synthetic_default["validation"])
    maes = {name: _validation_mae(train, valid, modalities) for name, modalities in MODALITY_SETS.items()}
    mean_mae = (valid[0] - train[0].mean()).abs().mean().item()
    for single in ("text", "audio", "vision"):
        assert maes[single] < mean_mae, f"{single} carries no signal: {maes}"
        assert maes["all"] < maes[single] - 0.1, f"fusion does not beat {single}: {maes}"
