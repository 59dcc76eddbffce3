"""MMIM: MultiModal InfoMax, hierarchical mutual-information maximisation.

Han, Chen, Poria. "Improving Multimodal Fusion with Hierarchical Mutual Information
Maximization for Multimodal Sentiment Analysis." EMNLP 2021. Official code:
declare-lab/Multimodal-Infomax.

Architecture: text is the [CLS] vector of a fine-tuned BERT (or the masked mean of precomputed
features); audio and vision each go through a one-layer LSTM over their real frames (hidden
16) whose final state is projected to 16. The fusion network (dropout → Linear → tanh → Linear
→ tanh, width 128) gives the fused vector and Linear → the score.

Two mutual-information terms are maximised. **Input level**: a lower bound on I(text; vision)
and I(text; audio) with a Gaussian q(y|x) (two MLPs for mean and log-variance; ``lld`` is its
log-likelihood) plus an entropy term ``H`` = ¼·(log det Σ₊ + log det Σ₋) of the unimodal
vectors of positive and negative examples, projected to a quarter of their width, with the
covariances estimated from this batch and a one-batch memory. **Fusion level**: contrastive
predictive coding (CPC) between the fused vector and each unimodal vector (``nce``).

Optimisation. The official code runs two passes per epoch: first only the estimators' mean and
log-variance MLPs on −lld (lr 1e-3), then everything else on L1 + 0.1·nce − 0.1·lld − 0.1·H.
Here both updates happen in one step, on the same batch, from one loss whose parts reach
disjoint parameters: −lld computed on detached inputs trains only the estimators, and
0.1·(nce − lld − H) computed through detached estimator parameters trains only the encoders and
fusion. As in the official code (whose optimisers never include it), the entropy projection is
not trained: it is kept frozen at its random initialisation.

Other deviations from the official code: the covariances get 1e-4·I added (log det stays
finite with few positive or negative examples); MI and CPC terms use only examples that have
the modalities involved; validation-only checkpoint selection by the harness.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from msa_bench.models import (
    DataSpec,
    ModelConfig,
    ModelOutput,
    MSAModel,
    TextEncoder,
    learning_rate_groups,
    register_model,
    task_loss,
)
from msa_bench.models.layers import LSTMEncoder, frame_mask


@dataclass(frozen=True)
class MMIMConfig(ModelConfig):
    text_encoder: str | None = None
    encoder_lr: float = 5e-5
    audio_hidden: int = 16
    vision_hidden: int = 16
    audio_out: int = 16
    vision_out: int = 16
    fusion_dim: int = 128
    audio_dropout: float = 0.1
    vision_dropout: float = 0.1
    fusion_dropout: float = 0.1
    nce_weight: float = 0.1
    lld_weight: float = 0.1
    entropy_weight: float = 0.1
    covariance_eps: float = 1e-4


class GaussianMILowerBound(nn.Module):
    """q(y|x) = N(μ(x), diag exp(logvar(x))) and the entropy projection of the official MMILB."""

    def __init__(self, x_dim: int, y_dim: int):
        super().__init__()
        self.mu = nn.Sequential(nn.Linear(x_dim, y_dim), nn.ReLU(), nn.Linear(y_dim, y_dim))
        self.logvar = nn.Sequential(nn.Linear(x_dim, y_dim), nn.ReLU(), nn.Linear(y_dim, y_dim))
        self.entropy_projection = nn.Sequential(nn.Linear(y_dim, max(y_dim // 4, 1)), nn.Tanh())
        self.entropy_projection.requires_grad_(False)

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor, detach_parameters: bool = False) -> torch.Tensor:
        """Mean over examples of Σ_d −(μ − y)²/(2·exp(logvar)) (the official ``lld``)."""
        if detach_parameters:
            mu = functional_call(self.mu, {k: v.detach() for k, v in self.mu.named_parameters()}, (x,))
            logvar = functional_call(self.logvar, {k: v.detach() for k, v in self.logvar.named_parameters()}, (x,))
        else:
            mu, logvar = self.mu(x), self.logvar(x)
        return (-(mu - y).pow(2) / 2.0 / logvar.exp()).sum(-1).mean()


def cpc(x: torch.Tensor, fused: torch.Tensor, predictor: nn.Module) -> torch.Tensor:
    """InfoNCE of predicting each unimodal vector ``x`` from its fused vector among the batch."""
    prediction = F.normalize(predictor(fused), dim=1)
    x = F.normalize(x, dim=1)
    positive = (x * prediction).sum(-1)
    negative = torch.logsumexp(x @ prediction.t(), dim=-1)
    return -(positive - negative).mean()


def log_det_covariance(samples: torch.Tensor, eps: float) -> torch.Tensor:
    """log det of the sample covariance + eps·I, in float32 (also under bf16 autocast)."""
    samples = samples.float()
    centred = samples - samples.mean(0)
    covariance = centred.t() @ centred / len(samples)
    return torch.logdet(covariance + eps * torch.eye(len(covariance), device=samples.device))


@register_model("mmim")
class MMIM(MSAModel):
    config_class = MMIMConfig
    default_configs = {
        "mosi": {
            "model": {"text_encoder": "bert-base-uncased"},
            "train": {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 32, "max_epochs": 40, "patience": 10,
                      "grad_clip": 1.0},
        },
        "mosei": {
            "model": {"text_encoder": "bert-base-uncased"},
            "train": {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 32, "max_epochs": 40, "patience": 10,
                      "grad_clip": 1.0},
        },
        "synthetic": {
            "model": {"fusion_dim": 64},
            "train": {"lr": 3e-3, "batch_size": 32, "max_epochs": 6, "patience": 3, "grad_clip": 1.0},
        },
        "test": {"model": {"audio_hidden": 6, "vision_hidden": 6, "audio_out": 8, "vision_out": 8, "fusion_dim": 16}},
    }
    #: Accuracies and F1 as fractions, like msa_bench.metrics.
    paper_results = {
        "mosi": {"source": "Han et al., EMNLP 2021, main results table (MMIM, non-0 accuracies)", "mae": 0.700,
                 "corr": 0.800, "acc2_non0": 0.8606, "f1_non0": 0.8598, "acc7": 0.4665},
        "mosei": {"source": "Han et al., EMNLP 2021, main results table (MMIM, non-0 accuracies)", "mae": 0.526,
                  "corr": 0.772, "acc2_non0": 0.8597, "f1_non0": 0.8594, "acc7": 0.5424},
    }

    def __init__(self, config: MMIMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.text = TextEncoder(spec.text_dim, config.text_encoder)
        text_dim = self.text.out_dim
        self.audio = LSTMEncoder(spec.audio_dim, config.audio_hidden)
        self.vision = LSTMEncoder(spec.vision_dim, config.vision_hidden)
        self.audio_out = nn.Sequential(nn.Dropout(config.audio_dropout), nn.Linear(config.audio_hidden, config.audio_out))
        self.vision_out = nn.Sequential(nn.Dropout(config.vision_dropout), nn.Linear(config.vision_hidden, config.vision_out))
        self.mi = nn.ModuleDict(
            {"vision": GaussianMILowerBound(text_dim, config.vision_out), "audio": GaussianMILowerBound(text_dim, config.audio_out)}
        )
        width = text_dim + config.audio_out + config.vision_out
        self.fusion = nn.Sequential(
            nn.Dropout(config.fusion_dropout),
            nn.Linear(width, config.fusion_dim),
            nn.Tanh(),
            nn.Linear(config.fusion_dim, config.fusion_dim),
            nn.Tanh(),
        )
        self.head = nn.Linear(config.fusion_dim, 1)
        dims = {"text": text_dim, "audio": config.audio_out, "vision": config.vision_out}
        self.cpc = nn.ModuleDict({m: nn.Linear(config.fusion_dim, d) for m, d in dims.items()})
        self.memory: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.heads = self.task_heads(self.head.in_features)

    def forward(self, batch) -> ModelOutput:
        text = self.text(batch)
        vectors, present = {"text": text.pooled}, {"text": text.present}
        for name, out in (("audio", self.audio_out), ("vision", self.vision_out)):
            modality = batch.modality(name)
            _, last = getattr(self, name)(modality.features, frame_mask(modality))
            vectors[name] = out(last) * modality.present.unsqueeze(-1)
            present[name] = modality.present
        fused = self.fusion(torch.cat([vectors["text"], vectors["audio"], vectors["vision"]], dim=-1))
        return self.heads(fused, ModelOutput(
            sentiment=self.head(fused).squeeze(-1), aux={"vectors": vectors, "present": present, "fused": fused}
        ))

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        loss = task_loss(output, targets, self.own_tasks)
        if not self.training:
            return loss
        c = self.config
        vectors, present, fused = output.aux["vectors"], output.aux["present"], output.aux["fused"]
        estimator_loss, lld, entropy, nce = (loss.new_zeros(()) for _ in range(4))
        for name, estimator in self.mi.items():
            rows = present["text"] & present[name]
            if rows.any():
                x, y = vectors["text"][rows], vectors[name][rows]
                estimator_loss = estimator_loss - estimator.log_likelihood(x.detach(), y.detach())
                lld = lld + estimator.log_likelihood(x, y, detach_parameters=True)
                entropy = entropy + self._entropy(name, estimator, y, targets.sentiment[rows])
        for name, predictor in self.cpc.items():
            rows = present[name]
            if rows.sum() >= 2:
                nce = nce + cpc(vectors[name][rows], fused[rows], predictor)
        return loss + estimator_loss + c.nce_weight * nce - c.lld_weight * lld - c.entropy_weight * entropy

    def _entropy(self, name: str, estimator: GaussianMILowerBound, y: torch.Tensor, labels: torch.Tensor):
        """¼·(log det Σ₊ + log det Σ₋) over this batch and the previous one; 0 without a memory."""
        projected = estimator.entropy_projection(y)
        positive, negative = projected[labels > 0], projected[labels < 0]
        previous = self.memory.get(name)
        self.memory[name] = (positive.detach(), negative.detach())
        if previous is None:
            return y.new_zeros(())
        positive_all, negative_all = torch.cat([previous[0], positive]), torch.cat([previous[1], negative])
        if len(positive_all) < 2 or len(negative_all) < 2:
            return y.new_zeros(())
        eps = self.config.covariance_eps
        return 0.25 * (log_det_covariance(positive_all, eps) + log_det_covariance(negative_all, eps))

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        return learning_rate_groups(self, lr, weight_decay, [(self.text.pretrained_parameters(), self.config.encoder_lr)])
