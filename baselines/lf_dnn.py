"""LF-DNN: late fusion of per-modality deep networks, as MMSA's ``LF_DNN``.

Audio and vision are averaged over their real frames and encoded by :class:`SubNet`
(BatchNorm -> dropout -> three Linear+ReLU layers); text goes through :class:`TextSubNet` (an
LSTM whose final state is projected by one Linear layer, ``text_hidden`` -> ``text_out``). The
three vectors are concatenated (audio, vision, text) and a post-fusion network (dropout -> two
Linear+ReLU layers) feeds the task heads. The modalities meet only after each has been
summarised: no cross-modal interaction below the fusion layer. An absent modality contributes a
zero vector, so the prediction rests on the modalities that are there.

Equal to MMSA's ``LF_DNN`` (commit a94e65d) on unpadded inputs: the official weights load
through :func:`official_state_dict` and reproduce its outputs
(``tests/test_official_equivalence.py``); the differences are listed in ``fidelity``.
:class:`SubNet` and :class:`TextSubNet` are also TFN's and LMF's subnetworks (MMSA shares them).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from msa_bench.inputs.batching import ModalityBatch
from msa_bench.models import DataSpec, MSAModel, ModelConfig, ModelOutput, TaskHeads, masked_mean, register_model
from msa_bench.models.fidelity import FidelityRow, rename_official
from msa_bench.models.layers import LSTMEncoder, frame_mask


@dataclass(frozen=True)
class FusionSizesConfig(ModelConfig):
    """The sizes of MMSA's subnetwork models (LF-DNN, TFN), checked. ``dropout`` is the audio and
    vision subnets' input dropout; the text subnet has none (MMSA's one-layer ``TextSubNet``
    sets its dropout to 0); ``post_fusion_dropout`` precedes the post-fusion layers."""

    text_hidden: int = 64
    text_out: int = 64
    audio_hidden: int = 16
    vision_hidden: int = 16
    post_fusion_dim: int = 64
    dropout: float = 0.2
    post_fusion_dropout: float = 0.2

    def __post_init__(self) -> None:
        for name in ("text_hidden", "text_out", "audio_hidden", "vision_hidden", "post_fusion_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("dropout", "post_fusion_dropout"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")


@dataclass(frozen=True)
class LFDNNConfig(FusionSizesConfig):
    """LF-DNN's sizes: the defaults of :class:`FusionSizesConfig`."""


class SubNet(nn.Module):
    """MMSA's ``SubNet`` on an utterance vector: BatchNorm -> dropout -> (Linear -> ReLU) x 3."""

    def __init__(self, in_dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.norm = nn.BatchNorm1d(in_dim)
        self.layers = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(in_dim, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.norm(x))

    def encode(self, modality: ModalityBatch) -> torch.Tensor:
        """The subnet over the mean of the real frames; zero where the modality is absent."""
        hidden = self(masked_mean(modality.features, frame_mask(modality)))
        return hidden * modality.present.unsqueeze(1).to(hidden.dtype)


class TextSubNet(nn.Module):
    """MMSA's ``TextSubNet``: an LSTM's final state (real tokens only) -> Linear."""

    def __init__(self, in_dim: int, hidden: int, out_dim: int) -> None:
        super().__init__()
        self.lstm = LSTMEncoder(in_dim, hidden)
        self.linear = nn.Linear(hidden, out_dim)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, out_dim); zero for examples without a real token."""
        last = self.lstm.final_state(features, mask)
        return self.linear(last) * mask.any(dim=1, keepdim=True).to(last.dtype)


def subnet_rules(official: str, ours: str) -> tuple[tuple[str, str], ...]:
    """Name rules from an MMSA ``SubNet``/``TextSubNet`` called ``official`` to ours called ``ours``."""
    return (
        (rf"{official}\.norm\.(.*)", rf"{ours}.norm.\1"),
        (rf"{official}\.linear_1\.(.*)", rf"{ours}.layers.1.\1"),
        (rf"{official}\.linear_2\.(.*)", rf"{ours}.layers.3.\1"),
        (rf"{official}\.linear_3\.(.*)", rf"{ours}.layers.5.\1"),
    )


#: Official MMSA subnetwork names (``audio_subnet``, ``video_subnet``, ``text_subnet``) -> ours.
SUBNET_RULES: tuple[tuple[str, str], ...] = (
    *subnet_rules("audio_subnet", "audio_subnet"),
    *subnet_rules("video_subnet", "vision_subnet"),
    (r"text_subnet\.rnn\.(.*)", r"text_subnet.lstm.forward_lstm.\1"),
    (r"text_subnet\.linear_1\.(.*)", r"text_subnet.linear.\1"),
)

#: Fidelity rows shared by MMSA's subnetwork models (LF-DNN, TFN, LMF).
SUBNET_FIDELITY: tuple[FidelityRow, ...] = (
    FidelityRow("audio/vision pooling", "mean over the padded sequence (MMSA loader, need_normalized)",
                "mean over real frames; absent modality -> zero vector", "deviation",
                reason="padding must not change a clip's features",
                effect="none on unpadded input, such as every official fixture's"),
    FidelityRow("text LSTM", "runs over every step, padding included", "reads real tokens only", "deviation",
                reason="padding must not enter the recurrence", effect="none on unpadded input, such as every official fixture's"),
)

#: The official trainer of MMSA's single-task models, and its test.
MMSA_TRAINING_STEP = "tests/test_official_training.py::test_training_step_equals_the_official_trainer"
#: Our MOSI / MOSEI schedules against MMSA's config_regression.json.
MMSA_MOSI_SCHEDULE = "tests/test_official_schedules.py::test_mosi_schedules_are_the_official_configurations"
MMSA_MOSEI_SCHEDULE = "tests/test_official_schedules.py::test_schedules_transcribed_from_the_official_code"

_TRAIN = {"lr": 1e-3, "batch_size": 32, "select_metric": "mae", "patience": 8, "max_epochs": 40}


@register_model("lf_dnn")
class LFDNN(MSAModel):
    config_class = LFDNNConfig
    supported_tasks = ("sentiment", "emotions", "emotion")
    default_configs = {
        "test": {"model": {"text_hidden": 8, "text_out": 8, "audio_hidden": 8, "vision_hidden": 8, "post_fusion_dim": 16,
                           "dropout": 0.0, "post_fusion_dropout": 0.0}},
        "synthetic": {
            "model": {"text_hidden": 32, "text_out": 32, "audio_hidden": 32, "vision_hidden": 32, "post_fusion_dim": 32,
                      "dropout": 0.1, "post_fusion_dropout": 0.1},
            "train": {**_TRAIN, "lr": 3e-3, "max_epochs": 6, "patience": 3},
        },
        # MMSA config_regression.json lf_dnn (hidden_dims are text, audio, vision there).
        "mosi": {
            "model": {"text_hidden": 128, "text_out": 256, "audio_hidden": 16, "vision_hidden": 128,
                      "post_fusion_dim": 128, "dropout": 0.2, "post_fusion_dropout": 0.2},
            "train": {**_TRAIN, "batch_size": 128, "lr": 1e-3, "weight_decay": 1e-2},
        },
        "mosei": {
            "model": {"text_hidden": 128, "text_out": 128, "audio_hidden": 32, "vision_hidden": 128,
                      "post_fusion_dim": 128, "dropout": 0.2, "post_fusion_dropout": 0.2},
            "train": {**_TRAIN, "batch_size": 64, "lr": 2e-3, "weight_decay": 1e-3},
        },
        "ravdess": {"model": {"text_hidden": 16, "text_out": 16, "audio_hidden": 64, "vision_hidden": 64},
                    "train": {**_TRAIN, "select_metric": "emotion_ua"}},
    }
    fidelity = (
        FidelityRow("forward pass (fixture lf_dnn/)", "MMSA LF_DNN at a94e65d",
                    "LFDNN with official weights via official_state_dict", "equal",
                    test="tests/test_official_equivalence.py::test_mmsa_subnetwork_models_equal_mmsa"),
        FidelityRow("training step (fixture lf_dnn/)", "MMSA trainer: Adam (lr 1e-3, L2 1e-2) over every parameter, L1, "
                    "BatchNorm in train mode, no clipping", "Optimization from the mosi schedule", "equal",
                    test=MMSA_TRAINING_STEP),
        *SUBNET_FIDELITY,
        FidelityRow("post-fusion network", "dropout, 2 x (Linear + ReLU), Linear", "dropout, 2 x (Linear + ReLU), task heads",
                    "equal", test="tests/test_official_equivalence.py::test_mmsa_subnetwork_models_equal_mmsa"),
        FidelityRow("MOSI hyperparameters", "config_regression.json lf_dnn (mosi)", "same values", "equal",
                    test=MMSA_MOSI_SCHEDULE),
        FidelityRow("MOSEI hyperparameters", "config_regression.json lf_dnn (mosei)", "same values", "equal",
                    test=MMSA_MOSEI_SCHEDULE),
    )

    def __init__(self, config: LFDNNConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.audio_subnet = SubNet(spec.audio_dim, config.audio_hidden, config.dropout)
        self.vision_subnet = SubNet(spec.vision_dim, config.vision_hidden, config.dropout)
        self.text_subnet = TextSubNet(spec.text_dim, config.text_hidden, config.text_out)
        self.post_fusion = nn.Sequential(
            nn.Dropout(config.post_fusion_dropout),
            nn.Linear(config.audio_hidden + config.vision_hidden + config.text_out, config.post_fusion_dim),
            nn.ReLU(),
            nn.Linear(config.post_fusion_dim, config.post_fusion_dim),
            nn.ReLU(),
        )
        self.heads = TaskHeads(config.post_fusion_dim, self.tasks, spec)

    def features(self, batch) -> dict[str, torch.Tensor]:
        """The unimodal vectors and their concatenation (MMSA's ``Feature_*`` outputs)."""
        audio = self.audio_subnet.encode(batch.audio)
        vision = self.vision_subnet.encode(batch.vision)
        text = self.text_subnet(batch.text.features, frame_mask(batch.text))
        return {"text": text, "audio": audio, "vision": vision, "fusion": torch.cat([audio, vision, text], dim=1)}

    def forward(self, batch) -> ModelOutput:
        return self.heads(self.post_fusion(self.features(batch)["fusion"]))


def official_state_dict(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MMSA's ``LF_DNN`` state dict (regression) as this module's: renames only."""
    rules = (
        *SUBNET_RULES,
        (r"post_fusion_layer_1\.(.*)", r"post_fusion.1.\1"),
        (r"post_fusion_layer_2\.(.*)", r"post_fusion.3.\1"),
        (r"post_fusion_layer_3\.(.*)", r"heads.heads.sentiment.\1"),
    )
    return rename_official(official, rules, model="lf_dnn")
