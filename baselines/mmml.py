"""MMML: multimodal multi-loss fusion of text and audio.

Wu, Gong, Koo, Hirschberg. "Multimodal Multi-loss Fusion Network for Sentiment Analysis."
NAACL 2024. Official code: zehuiwu/MMML (``utils/en_model.py``, ``utils/cross_attn_encoder.py``,
``utils/en_train.py``), its no-context setting, which this module follows;
``tests/test_official_equivalence_sota.py`` loads the official weights of every variant through
:func:`official_state_dict` and reproduces the text, audio and fused outputs.

Architecture. Text and audio come from pretrained encoders fine-tuned end to end (defaults
``roberta-base`` and ``facebook/data2vec-audio-base``, as the official no-context model; the
data2vec CNN feature encoder is frozen, text is cut to 96 tokens, audio to 6 s). The text
vector is the encoder's pooler output, the audio vector the mean of the audio states over real
frames; each has its head (dropout 0.3 → Linear → 1). ``variant`` picks the fusion:

- ``"cc"``: concatenate the two vectors → dropout → 2d → d → d → 512 → 1 (ReLU between).
- ``"cme_v1"`` (the official default): a learned CLS vector is prepended to each state sequence,
  then ``layers`` (5) cross-modal encoder layers run, each with separate text→audio and
  audio→text cross-attention, then self-attention and a ReLU feed-forward per modality, each
  sublayer LayerNorm(x + dropout(f(x))) with dropout 0.3 (BERT-style, LayerNorm eps 1e-12);
  the two CLS outputs are concatenated → dropout → 2d → d → 512 → 1.
- ``"cme_v2"``: each CLS output is concatenated with its modality's vector and mixed
  (dropout → 2d → d, ReLU) before the same head.
- ``"cme_v3"``: each modality's states are concatenated with its CME outputs (width 2d), a
  second CLS vector is prepended and a 3-layer Transformer encoder (12 heads, feed-forward
  2048, dropout 0.1, post-norm) runs per modality; the CLS outputs (4d) → dropout → d → 512 → 1.

The training loss is the sum of the three L1 losses (the "multi-loss"); AdamW (weight decay
0.01, torch's default as in the official trainer) at 5e-6, batch 8, early stopping after 8
epochs without a better validation loss. Vision is not used.

Inputs. ``text_encoder`` fine-tunes a text model on ``batch.raw_text`` (``None``: precomputed
token features). ``audio_encoder`` fine-tunes an audio model (Data2VecAudio, Wav2Vec2, ...) on
the raw 16 kHz waveform, which the dataset then stores as its audio "features": consecutive
frames of D samples (the real frames, flattened, are the waveform), cut to ``max_audio_seconds``
and normalised per clip to zero mean and unit variance as the official feature extractor does.
``audio_encoder=None`` is the **feature-input variant**: precomputed frame features (e.g.
COVAREP, or Data2Vec states extracted once) are used as the audio states, so the model runs on
any msa_bench dataset. Inputs whose width is not ``dim`` are projected to it by a Linear layer
(an msa_bench addition; the official encoders are as wide as the fusion).

Deviations from the official code (``fidelity``):

- The optimizer is created once (the official code re-creates it every epoch, resetting
  AdamW's moments).
- The text head reads the [CLS] state when the encoder has no pooler (feature path).
- Padding is masked in every attention, and an absent modality's attention output is zero.
- Unimodal losses use only examples that have the modality; validation-only selection (the
  official trainer also selects on validation: one checkpoint by loss, one by Has0 Acc-2).
- ``paper_results`` are the official README's 3-seed averages for its "CME + context" setting
  (large encoders, context windows of neighbouring utterances), which this module does not
  implement: an upper reference, not the number this configuration should reproduce.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, TextEncoder, masked_mean, register_model
from msa_bench.models.fidelity import FidelityRow, rename_official
from msa_bench.models.layers import frame_mask

SAMPLE_RATE = 16_000
VARIANTS = ("cc", "cme_v1", "cme_v2", "cme_v3")
MODALITIES = ("text", "audio")


@dataclass(frozen=True)
class MMMLConfig(ModelConfig):
    """Defaults: the official no-context model (``run.py`` defaults and the hard-coded widths of
    ``en_model.py``) on the feature path, at fusion width 128 (``dim``, ``ff_dim``, heads and head
    scaled down); ``default_configs`` give MOSI/MOSEI the official encoders and the official
    sizes (:data:`OFFICIAL_SIZES`), which are the encoders' width.

    The official sizes cost what they cost: 5 cross-modal layers of width 768 over 51 text and up
    to 376 audio tokens are about 3.9 TFLOP per training step at batch 32 (MOSI's unaligned
    shapes), almost all of it matrix products, so a CPU core needs a minute or more per step.
    Width 128 with 4 heads keeps the architecture; its step is then mostly the attention maps'
    softmax and dropout over the audio frames (``tests/benchmarks/test_bench_models.py``)."""

    text_encoder: str | None = None
    audio_encoder: str | None = None
    text_max_tokens: int = 96
    max_audio_seconds: float = 6.0
    freeze_audio_feature_encoder: bool = True
    variant: str = "cme_v1"
    dim: int = 128
    heads: int = 4
    layers: int = 5
    ff_dim: int = 512
    dropout: float = 0.3
    head_dropout: float = 0.3
    head_hidden: int = 128
    fusion_heads: int = 8
    fusion_ff_dim: int = 512
    fusion_layers: int = 3
    fusion_dropout: float = 0.1
    text_weight: float = 1.0
    audio_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {self.variant!r}")


class AttentionSublayer(nn.Module):
    """BERT-style attention of ``x`` over ``context`` (its real frames only) and output:
    LayerNorm(x + dropout(dense(attention)))."""

    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value, self.dense = (nn.Linear(dim, dim) for _ in range(4))
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)
        self.attention_dropout = dropout

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        has_context = context_mask.any(dim=1)
        allowed = (context_mask | ~has_context[:, None])[:, None, None, :]
        attended = F.scaled_dot_product_attention(
            self._split(self.query(x)), self._split(self.key(context)), self._split(self.value(context)),
            attn_mask=allowed, dropout_p=self.attention_dropout if self.training else 0.0,
        )
        attended = attended.transpose(1, 2).flatten(2) * has_context.to(x.dtype)[:, None, None]
        return self.norm(x + self.dropout(self.dense(attended)))


class FeedForwardSublayer(nn.Module):
    """LayerNorm(x + dropout(out(relu(inter(x)))))."""

    def __init__(self, dim: int, ff_dim: int, dropout: float):
        super().__init__()
        self.inter = nn.Linear(dim, ff_dim)
        self.out = nn.Linear(ff_dim, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.dropout(self.out(F.relu(self.inter(x)))))


class CrossModalLayer(nn.Module):
    """The official ``CMELayer``: text→audio and audio→text cross-attention (separate modules),
    then self-attention and a feed-forward per modality."""

    def __init__(self, config: MMMLConfig):
        super().__init__()
        d, h, p = config.dim, config.heads, config.dropout
        self.text_cross, self.audio_cross, self.text_self, self.audio_self = (AttentionSublayer(d, h, p) for _ in range(4))
        self.text_ff, self.audio_ff = (FeedForwardSublayer(d, config.ff_dim, p) for _ in range(2))

    def forward(self, text, text_mask, audio, audio_mask) -> tuple[torch.Tensor, torch.Tensor]:
        text_x = self.text_cross(text, audio, audio_mask)
        audio_x = self.audio_cross(audio, text, text_mask)
        text_x = self.text_self(text_x, text_x, text_mask)
        audio_x = self.audio_self(audio_x, audio_x, audio_mask)
        return self.text_ff(text_x), self.audio_ff(audio_x)


class RawAudioEncoder(nn.Module):
    """A transformers audio model over 16 kHz waveforms stored as frames of D samples; its CNN
    feature encoder is frozen when ``freeze_feature_encoder`` (as the official trainer does)."""

    def __init__(self, checkpoint: str, max_seconds: float, freeze_feature_encoder: bool = True):
        super().__init__()
        from transformers import AutoModel

        try:
            self.model = AutoModel.from_pretrained(checkpoint)
        except OSError as error:
            raise OSError(
                f"cannot load the audio encoder {checkpoint!r}. Without network access pass a local directory "
                f"written by save_pretrained() instead of a hub name. Cause: {error}"
            ) from error
        if freeze_feature_encoder:
            self.model.freeze_feature_encoder()
        self.max_samples = int(max_seconds * SAMPLE_RATE)
        self.out_dim = self.model.config.hidden_size

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = (mask.sum(1) * features.shape[-1]).clamp(max=self.max_samples)
        waveform = features.flatten(1)[:, : self.max_samples]
        width = max(int(lengths.max()), 1)
        waveform = waveform[:, :width]
        sample_mask = torch.arange(width, device=waveform.device)[None] < lengths[:, None]
        count = sample_mask.sum(1, keepdim=True).clamp_min(1)
        mean = (waveform * sample_mask).sum(1, keepdim=True) / count
        variance = ((waveform - mean) * sample_mask).pow(2).sum(1, keepdim=True) / count
        waveform = (waveform - mean) / torch.sqrt(variance + 1e-7) * sample_mask  # Wav2Vec2FeatureExtractor's norm
        states = self.model(waveform, attention_mask=sample_mask.long()).last_hidden_state
        frames = self.model._get_feat_extract_output_lengths(lengths).clamp(max=states.shape[1])
        frame_mask_ = torch.arange(states.shape[1], device=states.device)[None] < frames[:, None]
        frame_mask_ = frame_mask_ & (lengths > 0)[:, None]
        return states * frame_mask_.unsqueeze(-1), frame_mask_


def _fused_head(in_dim: int, widths: tuple[int, ...], dropout: float) -> nn.Sequential:
    """dropout → Linear → ReLU → … → Linear(…, 1), through ``widths``."""
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    for width in widths:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        in_dim = width
    return nn.Sequential(*layers, nn.Linear(in_dim, 1))


def _sublayer_rules(official: str, ours: str) -> list[tuple[str, str]]:
    """One official ``BertCrossattLayer``/``BertSelfattLayer`` of ``CME_layers.N``."""
    return [
        (rf"CME_layers\.(\d+)\.{official}\.(?:att|self)\.(query|key|value)\.(.+)", rf"layers.\1.{ours}.\2.\3"),
        (rf"CME_layers\.(\d+)\.{official}\.output\.dense\.(.+)", rf"layers.\1.{ours}.dense.\2"),
        (rf"CME_layers\.(\d+)\.{official}\.output\.LayerNorm\.(.+)", rf"layers.\1.{ours}.norm.\2"),
    ]


def official_names(variant: str) -> tuple[tuple[str, str], ...]:
    """Official ``rob_d2v_cc`` / ``rob_d2v_cme`` names → msa_bench names for ``variant``; the
    modules the official ``rob_d2v_cme`` builds for every version but ``variant`` never runs
    (mixed layers, v3 encoders and CLS vectors) are dropped."""
    uses = {"mixed": variant == "cme_v2", "v3": variant == "cme_v3"}
    rules: list[tuple[str, str]] = [
        (r"roberta_model\.(.+)", r"text.pretrained.\1"),
        (r"data2vec_model\.(.+)", r"raw_audio.model.\1"),
        (r"T_output_layers\.(.+)", r"unimodal_heads.text.\1"),
        (r"A_output_layers\.(.+)", r"unimodal_heads.audio.\1"),
        (r"fused_output_layers\.(.+)", r"fused_head.\1"),
        (r"(text|audio)_cls_emb\.weight", r"cls.\1"),
        (r"(text|audio)_mixed_cls_emb\.weight", r"mixed_cls.\1" if uses["v3"] else ""),
        (r"(text|audio)_mixed_layer\.(.+)", r"mixed.\1.\2" if uses["mixed"] else ""),
        (r"(text|audio)_encoder\.(.+)", r"mixed_encoders.\1.\2" if uses["v3"] else ""),
    ]
    for official, ours in (("lang", "text"), ("audio", "audio")):
        rules += _sublayer_rules(f"{official}_attention", f"{ours}_cross") + _sublayer_rules(f"{official}_self_att", f"{ours}_self")
        rules += [
            (rf"CME_layers\.(\d+)\.{official}_inter\.dense\.(.+)", rf"layers.\1.{ours}_ff.inter.\2"),
            (rf"CME_layers\.(\d+)\.{official}_output\.dense\.(.+)", rf"layers.\1.{ours}_ff.out.\2"),
            (rf"CME_layers\.(\d+)\.{official}_output\.LayerNorm\.(.+)", rf"layers.\1.{ours}_ff.norm.\2"),
        ]
    return tuple(rules)


def official_state_dict(official: Mapping[str, torch.Tensor], variant: str) -> dict[str, torch.Tensor]:
    """The official model's state dict under msa_bench names for ``variant`` (renames only; see
    :func:`official_names`)."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    return rename_official(official, official_names(variant), model=f"mmml ({variant})")


#: The official sizes (``cross_attn_encoder.BertConfig``, ``en_model.py``): BERT-base's width, the encoders'.
OFFICIAL_SIZES = {"dim": 768, "heads": 12, "layers": 5, "ff_dim": 3072, "head_hidden": 512, "fusion_heads": 12,
                  "fusion_ff_dim": 2048}
_OFFICIAL_MODEL = {"text_encoder": "roberta-base", "audio_encoder": "facebook/data2vec-audio-base", **OFFICIAL_SIZES}
_OFFICIAL_TRAIN = {"lr": 5e-6, "weight_decay": 0.01, "batch_size": 8, "max_epochs": 100, "patience": 8,
                   "optimizer": "adamw"}


@register_model("mmml")
class MMML(MSAModel):
    config_class = MMMLConfig
    input_modalities = ("text", "audio")
    default_configs = {
        "mosi": {"model": dict(_OFFICIAL_MODEL), "train": dict(_OFFICIAL_TRAIN)},
        "mosei": {"model": dict(_OFFICIAL_MODEL), "train": dict(_OFFICIAL_TRAIN)},
        "ravdess": {
            "model": {"dim": 32, "heads": 4, "layers": 1, "ff_dim": 64, "dropout": 0.1, "head_dropout": 0.1, "head_hidden": 32,
                      "fusion_heads": 2, "fusion_ff_dim": 64, "fusion_layers": 1},
            "train": {"lr": 1e-3, "batch_size": 32, "max_epochs": 40, "patience": 8, "optimizer": "adamw", "select_metric": "emotion_ua"},
        },
        "synthetic": {
            "model": {"dim": 32, "heads": 4, "layers": 1, "ff_dim": 64, "dropout": 0.0, "head_dropout": 0.0,
                      "head_hidden": 32},
            "train": {"lr": 1e-3, "batch_size": 32, "max_epochs": 4, "patience": 3, "optimizer": "adamw"},
        },
        "test": {"model": {"dim": 16, "heads": 2, "layers": 1, "ff_dim": 32, "head_hidden": 16, "fusion_heads": 2,
                           "fusion_ff_dim": 32, "fusion_layers": 1}},
    }
    paper_results = {
        "mosi": {"source": "zehuiwu/MMML README, 'New Training Results (CME+context)', mean of seeds 1/11/111 (uses context; not implemented here)",
                 "mae": 0.5573, "corr": 0.8824, "acc2_has0": 0.8848, "f1_has0": 0.8845, "acc2_non0": 0.9035,
                 "f1_non0": 0.9035, "acc5": 0.6001, "acc7": 0.5272},
        "mosei": {"source": "zehuiwu/MMML README, 'New Training Results (CME+context)', mean of seeds 1/11/111 (uses context; not implemented here)",
                  "mae": 0.5072, "corr": 0.8142, "acc2_has0": 0.8636, "f1_has0": 0.8642, "acc2_non0": 0.8822,
                  "f1_non0": 0.8804, "acc5": 0.5745, "acc7": 0.5477},
    }
    fidelity = (
        FidelityRow("variants cc, CME v1/v2/v3 (heads, CLS vectors, CME layers, mixing, v3 encoders) and the backbones' "
                    "taps", "rob_d2v_cc / rob_d2v_cme (en_model.py, cross_attn_encoder.py)",
                    "variant option; official weights load through official_state_dict", "equal",
                    test="tests/test_official_equivalence_sota.py::test_mmml_reproduces_the_official_outputs"),
        FidelityRow("training step (fixtures mmml/, mmml_cme_v1/, mmml_cme_v2/)", "AdamW 5e-6 (weight decay 0.01) over "
                    "every parameter, L1 of M + T + A, data2vec CNN frozen", "Optimization from the mosi schedule", "equal",
                    test="tests/test_official_training_sota.py::test_training_step_equals_the_official_trainer"),
        FidelityRow("frozen audio CNN", "EnRun freezes data2vec's feature extractor", "freeze_audio_feature_encoder=True",
                    "equal", test="tests/test_official_equivalence_sota.py::test_mmml_freezes_the_audio_feature_encoder_as_the_official_trainer"),
        FidelityRow("MOSI hyperparameters (dropout 0.3, 5 CME layers, batch 8, early stopping 8)", "EnConfig / run.py",
                    "the same values", "equal", test="tests/test_official_schedules.py::test_mosi_schedules_are_the_official_configurations"),
        FidelityRow("inputs and encoders", "roberta-base + data2vec-audio-base, text cut to 96 tokens, audio to 6 s, CME v1",
                    "the same defaults for MOSI/MOSEI", "equal", test="tests/test_official_schedules.py::test_schedules_transcribed_from_the_official_code"),
        FidelityRow("optimizer lifetime", "re-created every epoch", "created once", "deviation",
                    reason="resetting AdamW's moments each epoch is an artefact, not part of the method",
                    effect="none in the first epoch (the training test); later epochs keep AdamW's moments"),
        FidelityRow("context", "README's best numbers use neighbouring utterances (context_model.py)", "not implemented",
                    "deviation", reason="paper_results are that setting's: an upper reference",
                    effect="the no-context model is expected below the README's numbers"),
        FidelityRow("padding and absent modalities", "padded audio frames masked; no absent modalities",
                    "masked; an absent modality's attention output is zero", "deviation",
                    reason="msa_bench datasets may lack a modality", effect="none when every modality is present"),
        FidelityRow("feature path", "encoders only", "precomputed features, projected when not dim wide (audio_encoder=None, "
                    "text_encoder=None)", "deviation", reason="runs on feature-only datasets",
                    effect="none with the encoders (the MOSI/MOSEI schedules)"),
    )

    def __init__(self, config: MMMLConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        c, d = config, config.dim
        self.text = TextEncoder(spec.text_dim, c.text_encoder, max_tokens=c.text_max_tokens)
        if c.audio_encoder is None:
            self.raw_audio, audio_dim = None, spec.audio_dim
        else:
            self.raw_audio = RawAudioEncoder(c.audio_encoder, c.max_audio_seconds, c.freeze_audio_feature_encoder)
            audio_dim = self.raw_audio.out_dim
        widths = {"text": self.text.out_dim, "audio": audio_dim}
        self.projections = nn.ModuleDict({m: nn.Identity() if widths[m] == d else nn.Linear(widths[m], d) for m in MODALITIES})
        self.unimodal_heads = nn.ModuleDict({m: nn.Sequential(nn.Dropout(c.head_dropout), nn.Linear(d, 1)) for m in MODALITIES})
        if c.variant == "cc":
            self.fused_head = _fused_head(2 * d, (d, d, c.head_hidden), c.head_dropout)
        else:
            self.cls = nn.ParameterDict({m: nn.Parameter(torch.randn(1, d)) for m in MODALITIES})
            self.layers = nn.ModuleList(CrossModalLayer(c) for _ in range(c.layers))
            fused_dim = 4 * d if c.variant == "cme_v3" else 2 * d
            self.fused_head = _fused_head(fused_dim, (d, c.head_hidden), c.head_dropout)
        if c.variant == "cme_v2":
            self.mixed = nn.ModuleDict(
                {m: nn.Sequential(nn.Dropout(c.head_dropout), nn.Linear(2 * d, d), nn.ReLU()) for m in MODALITIES}
            )
        if c.variant == "cme_v3":
            self.mixed_cls = nn.ParameterDict({m: nn.Parameter(torch.randn(1, 2 * d)) for m in MODALITIES})
            self.mixed_encoders = nn.ModuleDict({m: self._v3_encoder(c) for m in MODALITIES})
        self.heads = self.task_heads(self.fused_head[1].in_features)

    @staticmethod
    def _v3_encoder(c: MMMLConfig) -> nn.TransformerEncoder:
        layer = nn.TransformerEncoderLayer(2 * c.dim, c.fusion_heads, c.fusion_ff_dim, c.fusion_dropout, batch_first=True)
        return nn.TransformerEncoder(layer, c.fusion_layers, enable_nested_tensor=False)

    def _audio(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        audio = batch.audio
        mask = frame_mask(audio)
        if self.raw_audio is None:
            return audio.features, mask
        return self.raw_audio(audio.features * mask.unsqueeze(-1), mask)

    def _text_vector(self, text) -> torch.Tensor:
        """The encoder's pooler output (RoBERTa/BERT), else the pooled vector of the text path."""
        pooler = getattr(self.text.pretrained, "pooler", None)
        if pooler is None:
            return self.projections["text"](text.pooled)
        return self.projections["text"](pooler(text.states)) * text.present.unsqueeze(-1)

    def forward(self, batch) -> ModelOutput:
        text = self.text(batch)
        audio_states, audio_mask = self._audio(batch)
        states = {"text": self.projections["text"](text.states), "audio": self.projections["audio"](audio_states)}
        masks = {"text": text.mask, "audio": audio_mask}
        vectors = {"text": self._text_vector(text), "audio": masked_mean(states["audio"], audio_mask)}
        present = {"text": text.present, "audio": batch.audio.present & audio_mask.any(1)}
        unimodal = {m: self.unimodal_heads[m](vectors[m]).squeeze(-1) for m in MODALITIES}
        fused_input = self._fuse(states, masks, vectors)
        output = ModelOutput(sentiment=self.fused_head(fused_input).squeeze(-1), aux={"unimodal": unimodal, "present": present})
        return self.heads(fused_input, output)

    def _fuse(self, states: dict, masks: dict, vectors: dict) -> torch.Tensor:
        """The fused head's input for the configured variant (see the module docstring)."""
        variant = self.config.variant
        if variant == "cc":
            return torch.cat([vectors["text"], vectors["audio"]], dim=-1)
        x, mask = {}, {}
        for m in MODALITIES:
            x[m], mask[m] = _prepend(self.cls[m], states[m], masks[m])
        for layer in self.layers:
            x["text"], x["audio"] = layer(x["text"], mask["text"], x["audio"], mask["audio"])
        if variant == "cme_v1":
            return torch.cat([x["text"][:, 0], x["audio"][:, 0]], dim=-1)
        if variant == "cme_v2":
            mixed = [self.mixed[m](torch.cat([vectors[m], x[m][:, 0]], dim=-1)) for m in MODALITIES]
            return torch.cat(mixed, dim=-1)
        cls_outputs = []
        for m in MODALITIES:
            joint, joint_mask = _prepend(self.mixed_cls[m], torch.cat([states[m], x[m][:, 1:]], dim=-1), masks[m])
            encoded = self.mixed_encoders[m](joint, src_key_padding_mask=~joint_mask)
            cls_outputs.append(encoded[:, 0])
        return torch.cat(cls_outputs, dim=-1)

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        """The multi-loss: L1 of the fused, text and audio predictions, the unimodal ones weighted
        (``output.aux["losses"]``: ``fusion``, ``text``, ``audio``; each over the annotated
        examples that have the modality)."""
        known = ~torch.isnan(targets.sentiment)
        loss = output.sentiment.sum() * 0.0
        if not known.any():
            return loss
        losses = {"fusion": F.l1_loss(output.sentiment[known].float(), targets.sentiment[known])}
        loss = loss + losses["fusion"]
        weights = {"text": self.config.text_weight, "audio": self.config.audio_weight}
        for name, prediction in output.aux["unimodal"].items():
            rows = known & output.aux["present"][name]
            if rows.any():
                losses[name] = F.l1_loss(prediction[rows].float(), targets.sentiment[rows])
                loss = loss + weights[name] * losses[name]
        output.aux["losses"] = losses
        return loss


def _prepend(cls: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A learned (1, D) CLS vector before each sequence (B, L, D), and its always-real mask entry."""
    return torch.cat([cls.expand(len(x), 1, -1), x], dim=1), torch.cat([mask.new_ones(len(x), 1), mask], dim=1)
