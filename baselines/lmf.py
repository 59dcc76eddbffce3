"""LMF: low-rank multimodal fusion.

Liu, Shen, Lakshminarasimhan, Liang, Zadeh, Morency. "Efficient Low-rank Multimodal Fusion with
Modality-Specific Factors." ACL 2018. Official code: Justin1904/Low-rank-Multimodal-Fusion.

Architecture: audio and vision are averaged over their real frames and encoded by a subnet
(BatchNorm → dropout → three Linear+ReLU layers); text goes through an LSTM whose final state
is projected (dropout → Linear). Each unimodal vector gets a constant 1 appended and is mapped
by ``rank`` modality-specific factors to the output (the score); the prediction is the
element-wise product of the three modalities' factor outputs, summed over the rank with
learned weights plus a bias (the tensor fusion of TFN without building the outer product).

Deviations from the official code:

- Averages are over real frames only and absent modalities are zero vectors (the official
  code averages padded, aligned sequences).
- Per-group learning rates follow the paper (a separate learning rate for the factors,
  ``factor_lr``); the defaults are in the range of MMSA's LMF configuration (not verified
  against its files here).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, TextEncoder, masked_mean, register_model
from msa_bench.models.layers import LSTMEncoder, frame_mask


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
    text_dropout: float = 0.2
    factor_lr: float = 5e-4


class _SubNet(nn.Module):
    """BatchNorm → dropout → Linear → ReLU ×3 on an utterance vector."""

    def __init__(self, in_dim: int, hidden: int, dropout: float):
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


@register_model("lmf")
class LMF(MSAModel):
    config_class = LMFConfig
    default_configs = {
        "mosi": {
            "model": {"audio_hidden": 16, "vision_hidden": 16, "text_hidden": 128, "rank": 4},
            "train": {"lr": 2e-3, "weight_decay": 5e-4, "batch_size": 32, "max_epochs": 100, "patience": 8},
        },
        "mosei": {
            "model": {"audio_hidden": 32, "vision_hidden": 32, "text_hidden": 128, "rank": 4},
            "train": {"lr": 2e-3, "weight_decay": 1e-3, "batch_size": 128, "max_epochs": 100, "patience": 8},
        },
        "synthetic": {
            "model": {"factor_lr": 3e-3, "text_hidden": 32, "text_out": 32},
            "train": {"lr": 3e-3, "weight_decay": 0.0, "batch_size": 32, "max_epochs": 8, "patience": 3},
        },
        "test": {"model": {"audio_hidden": 6, "vision_hidden": 6, "text_hidden": 8, "text_out": 8, "rank": 2}},
    }
    #: Accuracies and F1 as fractions, like msa_bench.metrics.
    paper_results = {
        "mosi": {"source": "Liu et al., ACL 2018, CMU-MOSI results table (LMF)", "mae": 0.912, "corr": 0.668,
                 "acc2_non0": 0.764, "f1_non0": 0.757, "acc7": 0.328},
    }

    def __init__(self, config: LMFConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.text = TextEncoder(spec.text_dim, config.text_encoder)
        self.text_lstm = LSTMEncoder(self.text.out_dim, config.text_hidden)
        self.text_out = nn.Sequential(nn.Dropout(config.text_dropout), nn.Linear(config.text_hidden, config.text_out))
        self.audio = _SubNet(spec.audio_dim, config.audio_hidden, config.audio_dropout)
        self.vision = _SubNet(spec.vision_dim, config.vision_hidden, config.vision_dropout)
        dims = {"text": config.text_out, "audio": config.audio_hidden, "vision": config.vision_hidden}
        self.factors = nn.ParameterDict(
            {m: nn.Parameter(nn.init.xavier_normal_(torch.empty(config.rank, d + 1, 1))) for m, d in dims.items()}
        )
        self.rank_weights = nn.Parameter(nn.init.xavier_normal_(torch.empty(1, config.rank)))
        self.fusion_bias = nn.Parameter(torch.zeros(1))

    def forward(self, batch) -> ModelOutput:
        text = self.text(batch)
        _, text_last = self.text_lstm(text.states, text.mask)
        vectors = {"text": self.text_out(text_last) * text.present.unsqueeze(-1)}
        for name in ("audio", "vision"):
            modality = batch.modality(name)
            pooled = masked_mean(modality.features, frame_mask(modality))
            vectors[name] = getattr(self, name)(pooled) * modality.present.unsqueeze(-1)
        fused = None
        for name, vector in vectors.items():
            with_one = F.pad(vector, (1, 0), value=1.0)  # (B, d + 1)
            factor_output = torch.einsum("bd,rdo->rbo", with_one, self.factors[name])
            fused = factor_output if fused is None else fused * factor_output
        prediction = torch.einsum("r,rbo->b", self.rank_weights[0], fused) + self.fusion_bias
        return ModelOutput(sentiment=prediction)

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        factor_ids = {id(p) for p in self.factors.parameters()} | {id(self.rank_weights), id(self.fusion_bias)}
        factors = [p for p in self.parameters() if id(p) in factor_ids]
        others = [p for p in self.parameters() if id(p) not in factor_ids and p.requires_grad]
        return [
            {"params": factors, "lr": self.config.factor_lr, "weight_decay": weight_decay},
            {"params": others, "lr": lr, "weight_decay": weight_decay},
        ]
