"""MMML: multimodal multi-loss fusion of text and audio.

Wu, Gong, Koo, Hirschberg. "Multimodal Multi-loss Fusion Network for Sentiment Analysis."
NAACL 2024. Official code: zehuiwu/MMML.

Architecture: text and audio come from pretrained encoders fine-tuned end to end (RoBERTa and
Data2Vec-audio in the paper; any transformers checkpoints here) and are projected to a common
width. A learned CLS vector is prepended to each sequence, then ``layers`` LXMERT-style
cross-modal encoder layers run: bidirectional cross-attention (text attends to audio and audio
to text with one shared attention module), then self-attention per modality, then a
feed-forward per modality, each with residual + LayerNorm. Fusion (``fusion``):
``"cls_concat"`` concatenates the two CLS outputs; ``"transformer"`` first runs a Transformer
encoder over the concatenated sequences and then takes both CLS positions. A fused head
(dropout → 2d → d → d/2 → 1) predicts the score; a text head on the text [CLS] vector and an
audio head on the mean audio state predict it too, and the training loss is the sum of the
three L1 losses (the "multi-loss"). Vision is not used.

Inputs. ``text_encoder`` fine-tunes a text model on ``batch.raw_text`` (``None``: precomputed
token features). ``audio_encoder`` fine-tunes an audio model (Data2VecAudio, Wav2Vec2, ...) on
the raw 16 kHz waveform, which the dataset then stores as its audio "features": consecutive
frames of D samples (the real frames, flattened, are the waveform), cut to ``max_audio_seconds``
(6 s) and normalised per clip to zero mean and unit variance as the feature extractors do.
``audio_encoder=None`` is the **feature-input variant**: precomputed frame features (e.g.
COVAREP, or Data2Vec states extracted once) are projected by a Linear layer, so the model runs
on any msa_bench dataset.

Deviations from the official code:

- The optimizer is created once (the official code re-creates it every epoch, resetting Adam's
  moments).
- Both sequences are projected to ``dim`` by Linear layers so any pair of encoders fits; the
  text head reads the [CLS] state (the official code reads RoBERTa's pooler output); the audio
  mean is over real frames only, and padding is masked in every attention.
- Unimodal losses use only examples that have the modality; validation-only selection.
- The per-dataset ``train`` values (lr 5e-6, batch 8, 5 cross-modal layers) are the defaults
  the official README (zehuiwu/MMML) states; AdamW is an assumption. ``paper_results`` are that
  README's 3-seed averages for its "CME + context" setting (large pretrained encoders, context
  windows of neighbouring utterances), which this module does not implement (no context
  modelling): they are an upper reference, not the number this configuration should reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from msa_bench.models import DataSpec, ModelConfig, ModelOutput, MSAModel, TextEncoder, register_model
from msa_bench.models.layers import attend, frame_mask

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class MMMLConfig(ModelConfig):
    text_encoder: str | None = None
    audio_encoder: str | None = None
    max_audio_seconds: float = 6.0
    dim: int = 768
    heads: int = 12
    layers: int = 5
    ff_dim: int = 3072
    dropout: float = 0.1
    head_dropout: float = 0.1
    fusion: str = "cls_concat"
    fusion_layers: int = 1
    text_weight: float = 1.0
    audio_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.fusion not in ("cls_concat", "transformer"):
            raise ValueError(f"fusion must be 'cls_concat' or 'transformer', got {self.fusion!r}")


class _Residual(nn.Module):
    """LayerNorm(x + dropout(f(...)))."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, update: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.dropout(update))


class CrossModalLayer(nn.Module):
    """LXMERT layer: shared cross-attention both ways, then self-attention and feed-forward per modality."""

    def __init__(self, config: MMMLConfig):
        super().__init__()
        d = config.dim
        self.cross = nn.MultiheadAttention(d, config.heads, dropout=config.dropout, batch_first=True)
        self.self_attention = nn.ModuleDict(
            {m: nn.MultiheadAttention(d, config.heads, dropout=config.dropout, batch_first=True) for m in ("text", "audio")}
        )
        self.ff = nn.ModuleDict(
            {m: nn.Sequential(nn.Linear(d, config.ff_dim), nn.GELU(), nn.Linear(config.ff_dim, d)) for m in ("text", "audio")}
        )
        self.residuals = nn.ModuleDict(
            {f"{m}_{step}": _Residual(d, config.dropout) for m in ("text", "audio") for step in ("cross", "self", "ff")}
        )

    def forward(self, text, text_mask, audio, audio_mask) -> tuple[torch.Tensor, torch.Tensor]:
        text_cross = self.residuals["text_cross"](text, attend(self.cross, text, audio, audio_mask))
        audio_cross = self.residuals["audio_cross"](audio, attend(self.cross, audio, text, text_mask))
        outputs = []
        for name, x, mask in (("text", text_cross, text_mask), ("audio", audio_cross, audio_mask)):
            x = self.residuals[f"{name}_self"](x, attend(self.self_attention[name], x, x, mask))
            outputs.append(self.residuals[f"{name}_ff"](x, self.ff[name](x)))
        return outputs[0], outputs[1]


class RawAudioEncoder(nn.Module):
    """A transformers audio model over 16 kHz waveforms stored as frames of D samples."""

    def __init__(self, checkpoint: str, max_seconds: float):
        super().__init__()
        from transformers import AutoModel

        try:
            self.model = AutoModel.from_pretrained(checkpoint)
        except OSError as error:
            raise OSError(
                f"cannot load the audio encoder {checkpoint!r}. Without network access pass a local directory "
                f"written by save_pretrained() instead of a hub name. Cause: {error}"
            ) from error
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
        std = (((waveform - mean) * sample_mask).pow(2).sum(1, keepdim=True) / count).sqrt()
        waveform = (waveform - mean) / (std + 1e-7) * sample_mask
        states = self.model(waveform, attention_mask=sample_mask.long()).last_hidden_state
        frames = self.model._get_feat_extract_output_lengths(lengths).clamp(max=states.shape[1])
        frame_mask_ = torch.arange(states.shape[1], device=states.device)[None] < frames[:, None]
        frame_mask_ = frame_mask_ & (lengths > 0)[:, None]
        return states * frame_mask_.unsqueeze(-1), frame_mask_


@register_model("mmml")
class MMML(MSAModel):
    config_class = MMMLConfig
    default_configs = {
        "mosi": {
            "model": {"text_encoder": "roberta-large", "audio_encoder": "facebook/data2vec-audio-base", "layers": 5},
            "train": {"lr": 5e-6, "batch_size": 8, "max_epochs": 100, "patience": 10, "optimizer": "adamw"},
        },
        "mosei": {
            "model": {"text_encoder": "roberta-large", "audio_encoder": "facebook/data2vec-audio-base", "layers": 5},
            "train": {"lr": 5e-6, "batch_size": 8, "max_epochs": 100, "patience": 10, "optimizer": "adamw"},
        },
        "synthetic": {
            "model": {"dim": 32, "heads": 4, "layers": 1, "ff_dim": 64, "dropout": 0.0},
            "train": {"lr": 1e-3, "batch_size": 32, "max_epochs": 4, "patience": 3, "optimizer": "adamw"},
        },
        "test": {"model": {"dim": 16, "heads": 2, "layers": 1, "ff_dim": 32}},
    }
    paper_results = {
        "mosi": {"source": "zehuiwu/MMML README, 'New Training Results (CME+context)', mean of seeds 1/11/111 (uses context; not implemented here)",
                 "mae": 0.5573, "corr": 0.8824, "acc2_has0": 0.8848, "f1_has0": 0.8845, "acc2_non0": 0.9035,
                 "f1_non0": 0.9035, "acc5": 0.6001, "acc7": 0.5272},
        "mosei": {"source": "zehuiwu/MMML README, 'New Training Results (CME+context)', mean of seeds 1/11/111 (uses context; not implemented here)",
                  "mae": 0.5072, "corr": 0.8142, "acc2_has0": 0.8636, "f1_has0": 0.8642, "acc2_non0": 0.8822,
                  "f1_non0": 0.8804, "acc5": 0.5745, "acc7": 0.5477},
    }

    def __init__(self, config: MMMLConfig, spec: DataSpec) -> None:
        super().__init__(config, spec)
        d = config.dim
        self.text = TextEncoder(spec.text_dim, config.text_encoder)
        if config.audio_encoder is None:
            self.raw_audio, audio_dim = None, spec.audio_dim
        else:
            self.raw_audio = RawAudioEncoder(config.audio_encoder, config.max_audio_seconds)
            audio_dim = self.raw_audio.out_dim
        self.projections = nn.ModuleDict({"text": nn.Linear(self.text.out_dim, d), "audio": nn.Linear(audio_dim, d)})
        self.cls = nn.ParameterDict({m: nn.Parameter(torch.randn(1, 1, d) * 0.02) for m in ("text", "audio")})
        self.layers = nn.ModuleList(CrossModalLayer(config) for _ in range(config.layers))
        if config.fusion == "transformer":
            layer = nn.TransformerEncoderLayer(d, config.heads, config.ff_dim, config.dropout, batch_first=True)
            self.fusion_encoder = nn.TransformerEncoder(layer, config.fusion_layers, enable_nested_tensor=False)
        self.unimodal_heads = nn.ModuleDict(
            {m: nn.Sequential(nn.Dropout(config.head_dropout), nn.Linear(d, 1)) for m in ("text", "audio")}
        )
        self.fused_head = nn.Sequential(
            nn.Dropout(config.head_dropout),
            nn.Linear(2 * d, d),
            nn.ReLU(),
            nn.Linear(d, d // 2),
            nn.ReLU(),
            nn.Linear(d // 2, 1),
        )
        self.heads = self.task_heads(self.fused_head[1].in_features)

    def _audio(self, batch) -> tuple[torch.Tensor, torch.Tensor]:
        audio = batch.audio
        mask = frame_mask(audio)
        if self.raw_audio is None:
            return audio.features, mask
        return self.raw_audio(audio.features * mask.unsqueeze(-1), mask)

    def forward(self, batch) -> ModelOutput:
        text = self.text(batch)
        audio_states, audio_mask = self._audio(batch)
        sequences = {
            "text": (self.projections["text"](text.states) * text.mask.unsqueeze(-1), text.mask),
            "audio": (self.projections["audio"](audio_states) * audio_mask.unsqueeze(-1), audio_mask),
        }
        present = {"text": text.present, "audio": batch.audio.present & audio_mask.any(1)}
        unimodal = {
            "text": self.unimodal_heads["text"](self.projections["text"](text.pooled)).squeeze(-1),
            "audio": self.unimodal_heads["audio"](
                (sequences["audio"][0].sum(1) / audio_mask.sum(1, keepdim=True).clamp_min(1))
            ).squeeze(-1),
        }
        with_cls = {}
        for name, (x, mask) in sequences.items():
            with_cls[name] = (
                torch.cat([self.cls[name].expand(len(x), -1, -1), x], dim=1),
                torch.cat([mask.new_ones(len(x), 1), mask], dim=1),
            )
        (text_x, text_mask), (audio_x, audio_mask) = with_cls["text"], with_cls["audio"]
        for layer in self.layers:
            text_x, audio_x = layer(text_x, text_mask, audio_x, audio_mask)
        if self.config.fusion == "transformer":
            joint = self.fusion_encoder(torch.cat([text_x, audio_x], 1), src_key_padding_mask=~torch.cat([text_mask, audio_mask], 1))
            text_x, audio_x = joint[:, : text_x.shape[1]], joint[:, text_x.shape[1] :]
        fused = self.fused_head(torch.cat([text_x[:, 0], audio_x[:, 0]], dim=-1)).squeeze(-1)
        return self.heads(torch.cat([text_x[:, 0], audio_x[:, 0]], dim=-1), ModelOutput(sentiment=fused, aux={"unimodal": unimodal, "present": present}))

    def compute_loss(self, output: ModelOutput, targets) -> torch.Tensor:
        known = ~torch.isnan(targets.sentiment)
        loss = output.sentiment.sum() * 0.0
        if not known.any():
            return loss
        loss = loss + F.l1_loss(output.sentiment[known].float(), targets.sentiment[known])
        weights = {"text": self.config.text_weight, "audio": self.config.audio_weight}
        for name, prediction in output.aux["unimodal"].items():
            rows = known & output.aux["present"][name]
            if rows.any():
                loss = loss + weights[name] * F.l1_loss(prediction[rows].float(), targets.sentiment[rows])
        return loss
