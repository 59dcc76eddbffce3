"""TFN: Tensor Fusion Network (Zadeh, Chen, Poria, Cambria, Morency; EMNLP 2017).

Modality embedding subnetworks: the acoustic and visual subnetworks are MLPs over the
mean-pooled frames; the language subnetwork is an LSTM over the token features followed by a
linear layer. Tensor fusion: each modality vector ``h_m`` is extended with a constant 1 and the
three are combined by an outer product, ``z = [h_t; 1] (x) [h_a; 1] (x) [h_v; 1]``, which holds the
unimodal terms, every bimodal product and the trimodal products at once. A post-fusion MLP
(sentiment inference subnetwork) maps the flattened ``z`` to the predictions.

Absent modality: its ``h_m`` is zero, so ``[0; 1]`` keeps exactly the terms of the modalities
that are present. The "mosi"/"mosei" configs use sizes of the paper's order (text 128,
audio/vision 32, post-fusion 128; not tuned here); the synthetic schedule uses small ones so
``msa-bench run`` stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.lf_dnn import FusionSizesConfig, subnetwork
from baselines.unimodal import SequenceEncoder, TaskHeads
from msa_bench.models import DataSpec, ModelOutput, MSAModel, masked_mean, register_model


@dataclass(frozen=True)
class TFNConfig(FusionSizesConfig):
    """TFN's sizes."""

    text_hidden: int = 128
    audio_hidden: int = 32
    vision_hidden: int = 32
    post_fusion_dim: int = 128


def with_one(hidden: torch.Tensor) -> torch.Tensor:
    """``[h; 1]``: the constant 1 keeps lower-order terms in the outer product."""
    return torch.cat([hidden, hidden.new_ones(hidden.shape[0], 1)], dim=1)


_TRAIN = {"lr": 1e-3, "batch_size": 32, "select_metric": "mae", "patience": 8, "max_epochs": 40}


@register_model("tfn")
class TFN(MSAModel):
    config_class = TFNConfig
    supported_tasks = ("sentiment", "emotions", "emotion")
    default_configs = {
        "test": {"model": {"text_hidden": 6, "audio_hidden": 3, "vision_hidden": 3, "post_fusion_dim": 8}},
        "synthetic": {
            "model": {"text_hidden": 16, "audio_hidden": 8, "vision_hidden": 8, "post_fusion_dim": 32, "dropout": 0.1},
            "train": {**_TRAIN, "lr": 3e-3, "max_epochs": 6, "patience": 3},
        },
        "mosi": {"model": {}, "train": _TRAIN},
        "mosei": {"model": {}, "train": {**_TRAIN, "batch_size": 64}},
        "ravdess": {"model": {"text_hidden": 16}, "train": {**_TRAIN, "select_metric": "emotion_wa"}},
    }
    paper_results = {
        "mosi": {"source": "Zadeh et al., EMNLP 2017, Table 1 (CMU-MOSI)", "mae": 0.87, "corr": 0.70, "acc5": 0.42},
    }

    def __init__(self, config: TFNConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.text = SequenceEncoder(spec.text_dim, config.text_hidden, config.dropout, kind="lstm")
        self.text_out = nn.Linear(config.text_hidden, config.text_hidden)
        self.audio = subnetwork(spec.audio_dim, config.audio_hidden, config.dropout)
        self.vision = subnetwork(spec.vision_dim, config.vision_hidden, config.dropout)
        fused = (config.text_hidden + 1) * (config.audio_hidden + 1) * (config.vision_hidden + 1)
        self.post_fusion = nn.Sequential(
            nn.Dropout(config.dropout),
            nn.Linear(fused, config.post_fusion_dim),
            nn.ReLU(),
            nn.Linear(config.post_fusion_dim, config.post_fusion_dim),
            nn.ReLU(),
        )
        self.heads = TaskHeads(config.post_fusion_dim, self.tasks, spec)

    def _pooled(self, modality, subnet: nn.Module) -> torch.Tensor:
        present = modality.present.unsqueeze(1)
        hidden = subnet(masked_mean(modality.features, modality.mask & present))
        return hidden * present.to(hidden.dtype)

    def forward(self, batch) -> ModelOutput:
        text = self.text_out(self.text.encode(batch.text)) * batch.text.present.unsqueeze(1).to(batch.text.features.dtype)
        audio = self._pooled(batch.audio, self.audio)
        vision = self._pooled(batch.vision, self.vision)
        fusion = torch.einsum("bt,ba,bv->btav", with_one(text), with_one(audio), with_one(vision))
        return self.heads(self.post_fusion(fusion.flatten(start_dim=1)))
