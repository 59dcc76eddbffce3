"""MMIM: MultiModal InfoMax, hierarchical mutual-information maximisation.

Han, Chen, Poria. "Improving Multimodal Fusion with Hierarchical Mutual Information
Maximization for Multimodal Sentiment Analysis." EMNLP 2021. Official code:
declare-lab/Multimodal-Infomax (``src/model.py``, ``src/modules/encoders.py``,
``src/solver.py``); ``tests/test_official_equivalence_sota.py`` loads its weights through
:func:`official_state_dict` and reproduces its predictions, ``lld``, ``nce`` and entropy
``H`` with an empty and with a filled memory.

Architecture: text is the [CLS] vector of a fine-tuned BERT (or the masked mean of precomputed
features); audio and vision each go through a one-layer LSTM over their real frames (hidden
16) whose final state is projected to 16 (no dropout: the official ``dropout_a/v`` act only
between stacked LSTM layers). The fusion network (dropout 0.1 → Linear → tanh → Linear → tanh,
width 128) gives the fused vector and Linear → the score. Non-BERT weight matrices start
xavier-normal, as the official solver initialises them.

Two mutual-information terms are maximised. **Input level**: a lower bound on I(text; vision)
and I(text; audio) with a Gaussian q(y|x) (two MLPs for mean and log-variance; ``lld`` is its
log-likelihood) plus an entropy term ``H`` = ¼·(log det Σ₊ + log det Σ₋) of the unimodal
vectors of positive and negative examples, projected to a quarter of their width, with the
covariances estimated from this batch and the previous one (the official memory of one batch,
emptied at each epoch's start; ``H`` enters the loss from the epoch's third batch on).
**Fusion level**: contrastive predictive coding (CPC) between the fused vector and each
unimodal vector (``nce``).

Optimisation, as the official solver (``tests/test_official_training_sota.py`` reproduces one
step of each stage): every epoch runs two passes, each with its own Adam optimiser. First the
``"estimator"`` :class:`~msa_bench.models.TrainingStage`: −lld, stepping only the estimators'
mean and log-variance MLPs (lr 1e-3, weight decay 1e-4; on MOSEI over the first half of the
batches, ``estimator_batch_fraction``); then the main pass on L1 + 0.1·nce − 0.1·lld − 0.1·H,
stepping BERT (5e-5) and the rest (1e-3) but not the estimators. In both, every gradient
(also of parameters the pass does not step) is clipped to a total norm of 1, and a plateau
schedule (factor 0.5, patience 20) scales the main optimiser. As in the official code (whose
optimisers never update it), the entropy projection is not trained: it stays at its
initialisation, though its gradient counts in the clipping norm.

Other deviations from the official code: MI and CPC terms use only examples that have the
modalities involved; ``H`` is skipped while a class has fewer examples than the projection's
width + 1 (its covariance is then singular and the official log det is −inf); the official
code saved the checkpoint whose *test* loss was best among validation improvements; the
harness selects on validation only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msa_bench.models import (
    DataSpec,
    ModelConfig,
    ModelOutput,
    MSAModel,
    TextEncoder,
    TrainingStage,
    register_model,
    task_loss,
)
from msa_bench.models.fidelity import FidelityRow, rename_official
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
    #: Dropout on the LSTM's final state (the official code has none with one LSTM layer).
    audio_dropout: float = 0.0
    vision_dropout: float = 0.0
    fusion_dropout: float = 0.1
    nce_weight: float = 0.1
    lld_weight: float = 0.1
    entropy_weight: float = 0.1
    #: Added to the covariances' diagonal before log det (0 as in the official code).
    covariance_eps: float = 0.0
    #: The estimators' optimiser (the official ``lr_mmilb`` / ``weight_decay_club``) and the
    #: leading share of each epoch's batches its pass sees (the official MOSEI run: 0.5).
    estimator_lr: float = 1e-3
    estimator_weight_decay: float = 1e-4
    estimator_batch_fraction: float = 1.0
    #: The BERT group's weight decay (``weight_decay_bert``); the rest uses the harness's.
    encoder_weight_decay: float = 1e-4


class GaussianMILowerBound(nn.Module):
    """q(y|x) = N(μ(x), diag exp(logvar(x))) and the entropy projection of the official MMILB."""

    def __init__(self, x_dim: int, y_dim: int):
        super().__init__()
        self.mu = nn.Sequential(nn.Linear(x_dim, y_dim), nn.ReLU(), nn.Linear(y_dim, y_dim))
        self.logvar = nn.Sequential(nn.Linear(x_dim, y_dim), nn.ReLU(), nn.Linear(y_dim, y_dim))
        self.entropy_projection = nn.Sequential(nn.Linear(y_dim, max(y_dim // 4, 1)), nn.Tanh())

    def log_likelihood(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Mean over examples of Σ_d −(μ − y)²/(2·exp(logvar)) (the official ``lld``)."""
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


#: The official ``src/config.py`` defaults (README command): Adam, batch 32, 40 epochs, patience
#: 10, clip 1.0, plateau schedule on the validation loss (``when`` 20, factor 0.5).
ESTIMATOR_STAGE = "estimator"
_OFFICIAL_TRAIN = {"lr": 1e-3, "weight_decay": 1e-4, "batch_size": 32, "max_epochs": 40, "patience": 10,
                   "grad_clip": 1.0, "scheduler": "plateau", "plateau_factor": 0.5, "plateau_patience": 20}

#: Official ``MMIM`` state-dict names → msa_bench names.
OFFICIAL_NAMES: tuple[tuple[str, str], ...] = (
    (r"text_enc\.bertmodel\.(.+)", r"text.pretrained.\1"),
    (r"acoustic_enc\.rnn\.(.+)", r"audio.forward_lstm.\1"),
    (r"acoustic_enc\.linear_1\.(.+)", r"audio_out.\1"),
    (r"visual_enc\.rnn\.(.+)", r"vision.forward_lstm.\1"),
    (r"visual_enc\.linear_1\.(.+)", r"vision_out.\1"),
    (r"mi_tv\.mlp_mu\.(.+)", r"mi.vision.mu.\1"),
    (r"mi_tv\.mlp_logvar\.(.+)", r"mi.vision.logvar.\1"),
    (r"mi_tv\.entropy_prj\.(.+)", r"mi.vision.entropy_projection.\1"),
    (r"mi_ta\.mlp_mu\.(.+)", r"mi.audio.mu.\1"),
    (r"mi_ta\.mlp_logvar\.(.+)", r"mi.audio.logvar.\1"),
    (r"mi_ta\.entropy_prj\.(.+)", r"mi.audio.entropy_projection.\1"),
    (r"cpc_zt\.net\.(.+)", r"cpc.text.\1"),
    (r"cpc_za\.net\.(.+)", r"cpc.audio.\1"),
    (r"cpc_zv\.net\.(.+)", r"cpc.vision.\1"),
    (r"fusion_prj\.linear_1\.(.+)", r"fusion.1.\1"),
    (r"fusion_prj\.linear_2\.(.+)", r"fusion.3.\1"),
    (r"fusion_prj\.linear_3\.(.+)", r"head.\1"),
)


def official_state_dict(official: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The official ``MMIM`` state dict under msa_bench names (renames only)."""
    return rename_official(official, OFFICIAL_NAMES, model="mmim")


@register_model("mmim")
class MMIM(MSAModel):
    config_class = MMIMConfig
    default_configs = {
        "mosi": {"model": {"text_encoder": "bert-base-uncased"}, "train": dict(_OFFICIAL_TRAIN)},
        "mosei": {"model": {"text_encoder": "bert-base-uncased", "estimator_batch_fraction": 0.5},
                  "train": dict(_OFFICIAL_TRAIN)},
        "ravdess": {
            "model": {"audio_hidden": 64, "audio_out": 32, "fusion_dim": 64},
            "train": {"lr": 3e-3, "batch_size": 32, "max_epochs": 40, "patience": 8, "grad_clip": 1.0, "select_metric": "emotion_ua"},
        },
        "synthetic": {
            "model": {"fusion_dim": 64},
            "train": {"lr": 3e-3, "batch_size": 32, "max_epochs": 6, "patience": 3, "grad_clip": 1.0},
        },
        "test": {"model": {"audio_hidden": 6, "vision_hidden": 6, "audio_out": 8, "vision_out": 8, "fusion_dim": 16}},
    }
    #: Accuracies and F1 as fractions, like msa_bench.scoring.metrics; Acc-2/F1 non-0 (negative vs positive,
    #: zero labels excluded) and Acc-7 = round(clip(ŷ, ±3)) as the official utils/eval_metrics.py.
    #: The official solver saved the checkpoint with the best *test* loss among validation
    #: improvements (test-split selection).
    paper_results = {
        "mosi": {"source": "Han et al., EMNLP 2021, main results table (MMIM, non-0 accuracies); official code "
                           "selected the checkpoint on the test split", "mae": 0.700,
                 "corr": 0.800, "acc2_non0": 0.8606, "f1_non0": 0.8598, "acc7": 0.4665},
        "mosei": {"source": "Han et al., EMNLP 2021, main results table (MMIM, non-0 accuracies); official code "
                            "selected the checkpoint on the test split", "mae": 0.526,
                  "corr": 0.772, "acc2_non0": 0.8597, "f1_non0": 0.8594, "acc7": 0.5424},
    }
    fidelity = (
        FidelityRow("forward (BERT [CLS], packed LSTMs, fusion SubNet), lld, nce, H with an empty and a filled memory",
                    "MMIM (model.py, encoders.py)", "same layers and terms; official weights load through official_state_dict",
                    "equal", test="tests/test_official_equivalence_sota.py::test_mmim_reproduces_the_official_entropy_with_empty_and_filled_memory"),
        FidelityRow("two-stage epoch (fixture mmim/, stages 0 and 1)", "a -lld pass stepping the estimators "
                    "(optimizer_mmilb), then the main pass on L1 + 0.1 nce - 0.1 lld - 0.1 H (optimizer_main: BERT 5e-5, "
                    "rest 1e-3), each step clipped to norm 1 over every gradient",
                    "the 'estimator' TrainingStage, then the main pass, each with its own Adam; the same clipping",
                    "equal", test="tests/test_official_training_sota.py::test_training_step_equals_the_official_trainer"),
        FidelityRow("entropy memory", "previous batch, emptied each epoch; H in the loss from the 3rd batch",
                    "the same", "equal", test="tests/test_official_training_sota.py::test_training_step_equals_the_official_trainer"),
        FidelityRow("plateau schedule", "main optimiser only (factor 0.5, patience 20)", "the same", "equal",
                    test="tests/test_official_training_sota.py::test_mmim_plateau_schedule_scales_the_main_optimizer_only"),
        FidelityRow("MOSI hyperparameters", "src/config.py defaults (README command)", "the same values", "equal",
                    test="tests/test_official_schedules.py::test_mosi_schedules_are_the_official_configurations"),
        FidelityRow("MOSEI estimator pass", "over the first half of the batches", "estimator_batch_fraction 0.5", "equal",
                    test="tests/test_official_schedules.py::test_schedules_transcribed_from_the_official_code"),
        FidelityRow("singular covariance", "log det −inf", "H skipped while a class has ≤ width examples",
                    "deviation", reason="keeps the loss finite", effect="none once both classes outnumber the projection width"),
        FidelityRow("missing modalities", "not handled", "MI and CPC terms over the examples that have the modalities",
                    "deviation", reason="missing-modality evaluation", effect="none when every modality is present"),
        FidelityRow("checkpoint selection", "best test loss among validation improvements", "validation only",
                    "deviation", reason="test-split selection is not a fair benchmark",
                    effect="reported numbers can be lower than the official ones"),
    )

    def __init__(self, config: MMIMConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        self.text = TextEncoder(spec.text_dim, config.text_encoder)
        text_dim = self.text.out_dim
        self.audio = LSTMEncoder(spec.audio_dim, config.audio_hidden)
        self.vision = LSTMEncoder(spec.vision_dim, config.vision_hidden)
        self.lstm_dropout = nn.ModuleDict({"audio": nn.Dropout(config.audio_dropout), "vision": nn.Dropout(config.vision_dropout)})
        self.audio_out = nn.Linear(config.audio_hidden, config.audio_out)
        self.vision_out = nn.Linear(config.vision_hidden, config.vision_out)
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
        for name, p in self.named_parameters():
            if p.dim() > 1 and not name.startswith("text.pretrained."):
                nn.init.xavier_normal_(p)
        self.memory: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.steps_in_epoch = 0
        self.heads = self.task_heads(self.head.in_features)

    def training_state(self) -> dict:
        return {"memory": {name: list(pair) for name, pair in self.memory.items()}, "steps_in_epoch": self.steps_in_epoch}

    def load_training_state(self, state: dict) -> None:
        self.memory = {name: tuple(pair) for name, pair in state["memory"].items()}
        self.steps_in_epoch = state.get("steps_in_epoch", 0)

    def forward(self, batch) -> ModelOutput:
        text = self.text(batch)
        vectors, present = {"text": text.pooled}, {"text": text.present}
        for name, out in (("audio", self.audio_out), ("vision", self.vision_out)):
            modality = batch.modality(name)
            _, last = getattr(self, name)(modality.features, frame_mask(modality))
            vectors[name] = out(self.lstm_dropout[name](last)) * modality.present.unsqueeze(-1)
            present[name] = modality.present
        fused = self.fusion(torch.cat([vectors["text"], vectors["audio"], vectors["vision"]], dim=-1))
        return self.heads(fused, ModelOutput(
            sentiment=self.head(fused).squeeze(-1), aux={"vectors": vectors, "present": present, "fused": fused}
        ))

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        """The estimator pass: −lld. The main pass: L1 + 0.1·nce − 0.1·lld, minus 0.1·H from the
        epoch's third batch on (``output.aux["losses"]``: ``task``, ``nce``, ``lld``,
        ``entropy``). Examples without a modality stay out of the terms that need it."""
        vectors, present, fused = output.aux["vectors"], output.aux["present"], output.aux["fused"]
        lld = output.sentiment.new_zeros(())
        pairs = {name: present["text"] & present[name] for name in self.mi}
        for name, estimator in self.mi.items():
            if pairs[name].any():
                lld = lld + estimator.log_likelihood(vectors["text"][pairs[name]], vectors[name][pairs[name]])
        if self.stage == ESTIMATOR_STAGE:
            output.aux["losses"] = {"lld": lld}
            return -lld
        loss = task_loss(output, targets, self.own_tasks)
        if not self.training:
            return loss
        c = self.config
        entropy, nce = loss.new_zeros(()), loss.new_zeros(())
        for name, estimator in self.mi.items():
            if pairs[name].any():
                rows = pairs[name]
                entropy = entropy + self.entropy_term(name, estimator, vectors[name][rows], targets.sentiment[rows])
        for name, predictor in self.cpc.items():
            rows = present[name]
            if rows.sum() >= 2:
                nce = nce + cpc(vectors[name][rows], fused[rows], predictor)
        self.steps_in_epoch += 1
        output.aux["losses"] = {"task": loss, "nce": nce, "lld": lld, "entropy": entropy}
        total = loss + c.nce_weight * nce - c.lld_weight * lld
        # The official loss takes H from the epoch's third batch on.
        return total - c.entropy_weight * entropy if self.steps_in_epoch > 2 else total

    def on_epoch_end(self, epoch: int) -> None:
        """The official memory lives for one training pass: each epoch starts empty."""
        self.memory.clear()
        self.steps_in_epoch = 0

    def entropy_term(self, name: str, estimator: GaussianMILowerBound, y: torch.Tensor, labels: torch.Tensor):
        """¼·(log det Σ₊ + log det Σ₋) over this batch and the previous one (then remembered);
        0 without a memory or while a class has too few examples for a regular covariance."""
        projected = estimator.entropy_projection(y)
        positive, negative = projected[labels > 0], projected[labels < 0]
        previous = self.memory.get(name)
        self.memory[name] = (positive.detach(), negative.detach())
        if previous is None:
            return y.new_zeros(())
        positive_all, negative_all = torch.cat([previous[0], positive]), torch.cat([previous[1], negative])
        if min(len(positive_all), len(negative_all)) <= projected.shape[1]:
            return y.new_zeros(())
        eps = self.config.covariance_eps
        return 0.25 * (log_det_covariance(positive_all, eps) + log_det_covariance(negative_all, eps))

    def parameter_groups(self, lr: float, weight_decay: float) -> list[dict]:
        """The official main optimiser: BERT at ``encoder_lr`` and every other parameter except
        the estimators' (``mi``: their pass steps the MLPs; the entropy projections never change)."""
        c = self.config
        encoder = self.text.pretrained_parameters()
        special = {id(p) for p in (*encoder, *self.mi.parameters())}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in special]
        groups = [
            {"params": encoder, "lr": c.encoder_lr, "weight_decay": c.encoder_weight_decay},
            {"params": rest, "lr": lr, "weight_decay": weight_decay},
        ]
        return [g for g in groups if g["params"]]

    def training_stages(self) -> tuple[TrainingStage, ...]:
        """The official estimator pass before the main one (``optimizer_mmilb``: every ``mi``
        parameter; only the mean/log-variance MLPs get a gradient from −lld)."""
        c = self.config
        groups = [{"params": list(self.mi.parameters()), "lr": c.estimator_lr, "weight_decay": c.estimator_weight_decay}]
        return (TrainingStage(ESTIMATOR_STAGE, groups, c.estimator_batch_fraction),)
