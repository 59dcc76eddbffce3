"""TFN: Tensor Fusion Network (Zadeh, Chen, Poria, Cambria, Morency; EMNLP 2017), as MMSA's ``TFN``.

Modality embedding subnetworks: audio and vision are averaged over their real frames and encoded
by MMSA's :class:`~baselines.lf_dnn.SubNet` (BatchNorm -> dropout -> three Linear+ReLU layers);
text by :class:`~baselines.lf_dnn.TextSubNet` (an LSTM's final state -> Linear to ``text_out``).
Tensor fusion: each modality vector ``h_m`` gets a constant 1 prepended and the three are
combined by an outer product, ``z = [1; h_a] (x) [1; h_v] (x) [1; h_t]`` (MMSA's layout), which
holds the unimodal terms, every bimodal product and the trimodal products at once. A post-fusion
network (dropout -> two Linear+ReLU layers) feeds the task heads; the sentiment score is bounded
as in the official code, ``6 * sigmoid(.) - 3`` (``bounded_sentiment=False`` for a plain linear
head).

Absent modality: its ``h_m`` is zero, so ``[1; 0]`` keeps exactly the terms of the modalities
that are present. Equal to MMSA's ``TFN`` (commit a94e65d) on unpadded inputs: the official
weights load through :func:`official_state_dict` and reproduce its outputs
(``tests/test_official_equivalence.py``); the differences are listed in ``fidelity``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.lf_dnn import (
    MMSA_MOSEI_SCHEDULE,
    MMSA_MOSI_SCHEDULE,
    MMSA_TRAINING_STEP,
    SUBNET_FIDELITY,
    SUBNET_RULES,
    FusionSizesConfig,
    SubNet,
    TextSubNet,
)
from msa_bench.models import DataSpec, MSAModel, ModelOutput, TaskHeads, register_model
from msa_bench.models.fidelity import FidelityRow, rename_official
from msa_bench.models.layers import frame_mask


@dataclass(frozen=True)
class TFNConfig(FusionSizesConfig):
    """TFN's sizes (MMSA's MOSI config) and the official bounded sentiment output."""

    text_hidden: int = 128
    text_out: int = 32
    audio_hidden: int = 32
    vision_hidden: int = 128
    post_fusion_dim: int = 64
    dropout: float = 0.3
    post_fusion_dropout: float = 0.5
    bounded_sentiment: bool = True


def with_one(hidden: torch.Tensor) -> torch.Tensor:
    """``[1; h]``: the constant 1 keeps lower-order terms in the outer product."""
    return torch.cat([hidden.new_ones(hidden.shape[0], 1), hidden], dim=1)


def tensor_fusion(audio: torch.Tensor, vision: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
    """``[1; a] (x) [1; v] (x) [1; t]`` flattened (B, (A+1)(V+1)(T+1)), MMSA's index order.

    Two batched outer products (``bmm``), as MMSA builds it: with backward, faster on CPU than
    one three-way ``einsum``, which runs as broadcast products."""
    audio_vision = torch.bmm(with_one(audio).unsqueeze(2), with_one(vision).unsqueeze(1)).flatten(start_dim=1)
    return torch.bmm(audio_vision.unsqueeze(2), with_one(text).unsqueeze(1)).flatten(start_dim=1)


_TRAIN = {"lr": 1e-3, "batch_size": 32, "select_metric": "mae", "patience": 8, "max_epochs": 40}


@register_model("tfn")
class TFN(MSAModel):
    config_class = TFNConfig
    supported_tasks = ("sentiment", "emotions", "emotion")
    default_configs = {
        "test": {"model": {"text_hidden": 6, "text_out": 6, "audio_hidden": 3, "vision_hidden": 3, "post_fusion_dim": 8}},
        "synthetic": {
            "model": {"text_hidden": 16, "text_out": 16, "audio_hidden": 8, "vision_hidden": 8, "post_fusion_dim": 32,
                      "dropout": 0.1, "post_fusion_dropout": 0.1},
            "train": {**_TRAIN, "lr": 3e-3, "max_epochs": 6, "patience": 3},
        },
        # MMSA config_regression.json tfn (hidden_dims are text, audio, vision there).
        "mosi": {"model": {}, "train": _TRAIN},
        "mosei": {
            "model": {"text_hidden": 128, "text_out": 128, "audio_hidden": 16, "vision_hidden": 128, "post_fusion_dim": 16,
                      "dropout": 0.4, "post_fusion_dropout": 0.4},
            "train": {**_TRAIN, "batch_size": 128, "lr": 5e-3},
        },
        "ravdess": {"model": {"text_hidden": 16, "text_out": 16, "vision_hidden": 32}, "train": {**_TRAIN, "select_metric": "emotion_ua"}},
    }
    paper_results = {
        "mosi": {"source": "Zadeh et al., EMNLP 2017, Table 1 (CMU-MOSI; unverified against the PDF here)",
                 "mae": 0.87, "corr": 0.70, "acc5": 0.42},
    }
    fidelity = (
        FidelityRow("forward pass (fixture tfn/)", "MMSA TFN at a94e65d", "TFN with official weights via official_state_dict",
                    "equal", test="tests/test_official_equivalence.py::test_mmsa_subnetwork_models_equal_mmsa"),
        FidelityRow("training step (fixture tfn/)", "MMSA trainer: Adam (lr 1e-3) over every parameter but the constant "
                    "output range/shift, L1, BatchNorm in train mode", "Optimization from the mosi schedule", "equal",
                    test=MMSA_TRAINING_STEP),
        *SUBNET_FIDELITY,
        FidelityRow("fusion tensor layout", "kron([1;a], [1;v], [1;t]), 1 prepended", "same", "equal",
                    test="tests/test_official_equivalence.py::test_mmsa_subnetwork_models_equal_mmsa"),
        FidelityRow("sentiment output", "6 * sigmoid(Linear) - 3", "same (bounded_sentiment=True)", "equal",
                    test="tests/test_official_equivalence.py::test_mmsa_subnetwork_models_equal_mmsa"),
        FidelityRow("emotion tasks", "not in the official code", "linear heads on the post-fusion features", "deviation",
                    reason="msa_bench also scores MOSEI/RAVDESS emotions",
                    effect="none on sentiment-only datasets (no emotion head is built)"),
        FidelityRow("MOSI hyperparameters", "config_regression.json tfn (mosi)", "same values", "equal",
                    test=MMSA_MOSI_SCHEDULE),
        FidelityRow("MOSEI hyperparameters", "config_regression.json tfn (mosei)", "same values", "equal",
                    test=MMSA_MOSEI_SCHEDULE),
    )

    def __init__(self, config: TFNConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.audio_subnet = SubNet(spec.audio_dim, config.audio_hidden, config.dropout)
        self.vision_subnet = SubNet(spec.vision_dim, config.vision_hidden, config.dropout)
        self.text_subnet = TextSubNet(spec.text_dim, config.text_hidden, config.text_out)
        fused = (config.text_out + 1) * (config.audio_hidden + 1) * (config.vision_hidden + 1)
        self.post_fusion = nn.Sequential(
            nn.Dropout(config.post_fusion_dropout),
            nn.Linear(fused, config.post_fusion_dim),
            nn.ReLU(),
            nn.Linear(config.post_fusion_dim, config.post_fusion_dim),
            nn.ReLU(),
        )
        self.heads = TaskHeads(config.post_fusion_dim, self.tasks, spec)

    def features(self, batch) -> dict[str, torch.Tensor]:
        """The unimodal vectors and the flattened fusion tensor (MMSA's ``Feature_*``)."""
        audio = self.audio_subnet.encode(batch.audio)
        vision = self.vision_subnet.encode(batch.vision)
        text = self.text_subnet(batch.text.features, frame_mask(batch.text))
        return {"text": text, "audio": audio, "vision": vision, "fusion": tensor_fusion(audio, vision, text)}

    def forward(self, batch) -> ModelOutput:
        output = self.heads(self.post_fusion(self.features(batch)["fusion"]))
        if self.config.bounded_sentiment and output.sentiment is not None:
            output.sentiment = torch.sigmoid(output.sentiment) * 6.0 - 3.0
        return output


def official_state_dict(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MMSA's ``TFN`` state dict (regression) as this module's: renames; the constant
    ``output_range``/``output_shift`` (6, -3) are dropped (``bounded_sentiment`` applies them)."""
    rules = (
        *SUBNET_RULES,
        (r"post_fusion_layer_1\.(.*)", r"post_fusion.1.\1"),
        (r"post_fusion_layer_2\.(.*)", r"post_fusion.3.\1"),
        (r"post_fusion_layer_3\.(.*)", r"heads.heads.sentiment.\1"),
        (r"output_range|output_shift", ""),
    )
    if float(official["output_range"]) != 6.0 or float(official["output_shift"]) != -3.0:
        raise ValueError("tfn: official output_range/output_shift must be 6 and -3 (the bounded sentiment range)")
    return rename_official(official, rules, model="tfn")
