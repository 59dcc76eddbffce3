"""LMF: low-rank multimodal fusion.

Liu, Shen, Lakshminarasimhan, Liang, Zadeh, Morency. "Efficient Low-rank Multimodal Fusion with
Modality-Specific Factors." ACL 2018. Official code: Justin1904/Low-rank-Multimodal-Fusion.

Architecture: audio and vision are averaged over their real frames and encoded by a subnet
(BatchNorm → dropout → three Linear+ReLU layers); text goes through an LSTM whose final state
is projected by one Linear layer (MMSA's one-layer ``TextSubNet`` has no dropout). Each unimodal vector gets a constant 1 prepended and is mapped
by ``rank`` modality-specific factors to the output (the score); the prediction is the
element-wise product of the three modalities' factor outputs, summed over the rank with
learned weights plus a bias (the tensor fusion of TFN without building the outer product).

Equal to MMSA's ``LMF`` (commit a94e65d) on full, unpadded inputs: the official weights load
through :func:`official_state_dict` and reproduce its outputs (``tests/test_official_equivalence.py``).
Where msa_bench differs (documented in ``fidelity``):

- Averages are over real frames only and absent modalities are zero vectors (the official
  loader averages padded sequences, padding included).
- The text LSTM reads only the real tokens (the official one runs over the padding too).
- The "mosi"/"mosei" configs are MMSA's (``config_regression.json``). The paper's numbers are
  Has0 binary accuracy and F1: the official evaluation scores ``y >= 0`` over all samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from baselines.lf_dnn import (
    MMSA_MOSEI_SCHEDULE,
    MMSA_MOSI_SCHEDULE,
    MMSA_TRAINING_STEP,
    SUBNET_FIDELITY,
    SUBNET_RULES,
    SubNet,
    TextSubNet,
)
from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, TextEncoder, register_model
from msa_bench.models.fidelity import FidelityRow, rename_official


@dataclass(frozen=True)
class LMFConfig(ModelConfig):
    text_encoder: str | None = None
    audio_hidden: int = 16
    vision_hidden: int = 16
    text_hidden: int = 128
    text_out: int = 64
    rank: int = 4
    audio_dropout: float = 0.2
    vision_dropout: float = 0.2
    factor_lr: float = 5e-4


@register_model("lmf")
class LMF(MSAModel):
    config_class = LMFConfig
    default_configs = {
        # MMSA config_regression.json (hidden_dims are text, audio, vision there).
        "mosi": {
            "model": {"text_hidden": 128, "audio_hidden": 16, "vision_hidden": 128, "rank": 3, "audio_dropout": 0.3, "vision_dropout": 0.3, "factor_lr": 1e-3},
            "train": {"lr": 1e-3, "weight_decay": 5e-3, "batch_size": 64, "max_epochs": 100, "patience": 8},
        },
        "mosei": {
            "model": {"text_hidden": 128, "audio_hidden": 16, "vision_hidden": 128, "rank": 4, "audio_dropout": 0.2, "vision_dropout": 0.2, "factor_lr": 1e-3},
            "train": {"lr": 1e-3, "weight_decay": 1e-3, "batch_size": 32, "max_epochs": 100, "patience": 8},
        },
        "ravdess": {
            "model": {"text_hidden": 16, "text_out": 16, "audio_hidden": 64, "vision_hidden": 16},
            "train": {"lr": 1e-3, "weight_decay": 1e-3, "batch_size": 32, "max_epochs": 40, "patience": 8, "select_metric": "emotion_ua"},
        },
        "synthetic": {
            "model": {"factor_lr": 3e-3, "text_hidden": 32, "text_out": 32},
            "train": {"lr": 3e-3, "weight_decay": 0.0, "batch_size": 32, "max_epochs": 8, "patience": 3},
        },
        "test": {"model": {"audio_hidden": 6, "vision_hidden": 6, "text_hidden": 8, "text_out": 8, "rank": 2}},
    }
    #: Accuracies and F1 as fractions, like msa_bench.scoring.metrics.
    paper_results = {
        "mosi": {"source": "Liu et al., ACL 2018, Table 1 (CMU-MOSI, LMF); binary accuracy/F1 are Has0: the "
                           "official evaluation thresholds y >= 0 over all test samples; Acc-7 rounds to 7 classes "
                           "(table numbers unverified against the PDF here)",
                 "mae": 0.912, "corr": 0.668, "acc2_has0": 0.764, "f1_has0": 0.757, "acc7": 0.328},
    }
    fidelity = (
        FidelityRow("forward pass (fixture lmf/), per-rank fused factors included", "MMSA LMF at a94e65d",
                    "LMF with official weights via official_state_dict", "equal", test="tests/test_official_equivalence.py::test_lmf_equals_mmsa"),
        FidelityRow("training step (fixture lmf/)", "MMSA trainer: Adam groups factors (factor_lr) and sub-modules (lr), "
                    "L2 5e-3; rank weights and fusion bias in no group, so never updated; L1",
                    "the same groups (parameter_groups), Optimization from the mosi schedule", "equal",
                    test=MMSA_TRAINING_STEP),
        *SUBNET_FIDELITY,
        FidelityRow("MOSI hyperparameters", "config_regression.json lmf (mosi)", "same values", "equal",
                    test=MMSA_MOSI_SCHEDULE),
        FidelityRow("MOSEI hyperparameters", "config_regression.json lmf (mosei)", "same values", "equal",
                    test=MMSA_MOSEI_SCHEDULE),
        FidelityRow("binary metric of paper_results", "y >= 0 over all samples (Has0)", "acc2_has0 / f1_has0", "equal",
                    test="tests/test_official_equivalence.py::test_lmf_paper_numbers_are_has0_as_the_official_evaluation"),
    )

    def __init__(self, config: LMFConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.text = TextEncoder(spec.text_dim, config.text_encoder)
        self.text_subnet = TextSubNet(self.text.out_dim, config.text_hidden, config.text_out)
        self.audio_subnet = SubNet(spec.audio_dim, config.audio_hidden, config.audio_dropout)
        self.vision_subnet = SubNet(spec.vision_dim, config.vision_hidden, config.vision_dropout)
        dims = {"text": config.text_out, "audio": config.audio_hidden, "vision": config.vision_hidden}
        self.factors = nn.ParameterDict(
            {m: nn.Parameter(nn.init.xavier_normal_(torch.empty(config.rank, d + 1, 1))) for m, d in dims.items()}
        )
        self.rank_weights = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, config.rank)))
        self.fusion_bias = nn.Parameter(torch.zeros(1))
        self.heads = self.task_heads(config.text_out + config.audio_hidden + config.vision_hidden)

    def features(self, batch) -> dict[str, torch.Tensor]:
        """The unimodal vectors (MMSA's ``Feature_t``, ``Feature_a``, ``Feature_v``) and the
        per-rank products of the modality factors, (B, rank) (``Feature_f``)."""
        text = self.text(batch)
        vectors = {"text": self.text_subnet(text.states, text.mask) * text.present.unsqueeze(-1)}
        vectors["audio"] = self.audio_subnet.encode(batch.audio)
        vectors["vision"] = self.vision_subnet.encode(batch.vision)
        fused = None
        for name, vector in vectors.items():
            with_one = F.pad(vector, (1, 0), value=1.0)  # (B, d + 1)
            factor_output = torch.einsum("bd,rdo->rbo", with_one, self.factors[name])
            fused = factor_output if fused is None else fused * factor_output
        return {**vectors, "fusion": fused[..., 0].t()}

    def forward(self, batch) -> ModelOutput:
        features = self.features(batch)
        prediction = torch.einsum("r,br->b", self.rank_weights[0], features["fusion"]) + self.fusion_bias
        vectors = torch.cat([features[m] for m in ("text", "audio", "vision")], dim=-1)
        return self.heads(vectors, ModelOutput(sentiment=prediction))

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """MMSA's groups: the modality factors at ``factor_lr``, the subnetworks (and heads) at
        ``lr`` (the official ``list(model.parameters())[:3]`` and ``[5:]``)."""
        fixed = {id(p) for p in self.untrained_parameters()}
        factors = list(self.factors.parameters())
        others = [p for p in self.parameters() if id(p) not in fixed | {id(f) for f in factors} and p.requires_grad]
        return [
            {"params": factors, "lr": self.config.factor_lr, "weight_decay": weight_decay},
            {"params": others, "lr": lr, "weight_decay": weight_decay},
        ]

    def untrained_parameters(self) -> list[nn.Parameter]:
        """The rank weights and fusion bias: in no official optimizer group, so they keep their
        initial values (``list(model.parameters())[3:5]``)."""
        return [self.rank_weights, self.fusion_bias]



#: MMSA LMF (commit a94e65d) parameter names -> ours ("video" is "vision" here).
_OFFICIAL_RULES = (
    *SUBNET_RULES,
    (r"audio_factor", "factors.audio"),
    (r"video_factor", "factors.vision"),
    (r"text_factor", "factors.text"),
    (r"fusion_weights", "rank_weights"),
    (r"fusion_bias", "fusion_bias"),
)


def official_state_dict(official: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """MMSA's ``LMF`` state dict (regression, output_dim 1) as this module's: renames, and the
    fusion bias (1, 1) -> (1,)."""
    state = rename_official(official, _OFFICIAL_RULES, model="lmf")
    state["fusion_bias"] = state["fusion_bias"].reshape(1)
    return state
