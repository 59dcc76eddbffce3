"""The reference baselines: each learns the synthetic task, and their fusion pieces behave."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msa_bench.inputs.batching import ModalityBatch
from msa_bench.models import build_config, get_model_class
from msa_bench.worker.train_config import TrainConfig
from msa_bench.harness.training import train_and_evaluate

from baselines.ef_lstm import resample
from baselines.tfn import tensor_fusion

REFERENCE_BASELINES = ("text_only", "audio_only", "vision_only", "ef_lstm", "lf_dnn", "tfn")


@pytest.mark.parametrize("name", REFERENCE_BASELINES)
def test_beats_predicting_the_training_mean_on_validation(name, synthetic_small):
    """Small test-sized model, the synthetic schedule's learning rate, a few epochs on ~200 clips."""
    model_class = get_model_class(name)
    defaults = model_class.default_configs
    train = TrainConfig.from_dict({**defaults["synthetic"]["train"], "max_epochs": 6, "patience": 6, "batch_size": 16})
    run = train_and_evaluate(
        model_class, build_config(model_class, defaults["test"]["model"]), synthetic_small, train,
        seed=1111, dataset_name="synthetic", progress=False,
    )
    best_val_mae = min(h["val"] for h in run.history)
    train_mean = float(np.mean(synthetic_small["train"]["sentiment"]))
    validation = np.asarray(synthetic_small["validation"]["sentiment"])
    assert best_val_mae < np.abs(validation - train_mean).mean()


@pytest.mark.parametrize("name", REFERENCE_BASELINES)
def test_declares_every_dataset_config(name):
    model_class = get_model_class(name)
    for dataset in ("synthetic", "mosi", "mosei", "ravdess"):
        defaults = model_class.default_configs[dataset]
        build_config(model_class, defaults["model"])
        TrainConfig.from_dict(defaults.get("train"))


def modality(lengths: list[int], dim: int = 2, max_len: int = 6) -> ModalityBatch:
    mask = torch.arange(max_len).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)
    features = torch.arange(len(lengths) * max_len * dim, dtype=torch.float32).view(len(lengths), max_len, dim)
    features = features * mask.unsqueeze(-1)
    return ModalityBatch(features, mask, mask.any(dim=1))


def test_resample_keeps_a_sequence_of_the_target_length():
    m = modality([4, 6])
    out = resample(m, 4)
    assert torch.allclose(out[0], m.features[0, :4])


def test_resample_pools_and_stretches_by_area():
    m = modality([4])
    pooled = resample(m, 2)
    assert torch.allclose(pooled[0, 0], m.features[0, :2].mean(dim=0))
    assert torch.allclose(pooled[0, 1], m.features[0, 2:4].mean(dim=0))
    stretched = resample(m, 8)
    assert torch.allclose(stretched[0, 0], m.features[0, 0]) and torch.allclose(stretched[0, 1], m.features[0, 0])
    assert torch.allclose(stretched[0, 7], m.features[0, 3])


def test_resample_gives_zeros_for_an_absent_modality():
    out = resample(modality([0, 3]), 5)
    assert (out[0] == 0).all() and out[1].abs().sum() > 0


def test_tensor_fusion_holds_the_unimodal_terms():
    """[1; h] products keep each h itself: an absent modality (h = 0) leaves the others' terms."""
    audio, vision, text = torch.zeros(1, 2), torch.randn(1, 2), torch.randn(1, 3)
    fused = tensor_fusion(audio, vision, text).view(1, 3, 3, 4)  # MMSA's [1; a] x [1; v] x [1; t] layout
    assert torch.allclose(fused[0, 0, 0, 1:], text[0])
    assert torch.allclose(fused[0, 0, 1:, 0], vision[0])
    assert (fused[0, 1:] == 0).all()
