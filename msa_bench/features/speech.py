"""Transformers speech encoders (Wav2Vec2, HuBERT, WavLM, Data2VecAudio, ...): frame-level
hidden states of a chosen layer, batched with padding and trimmed back to each clip's length.

Features never depend on what else is in the batch: clips are batched with an attention mask
only where padding provably changes nothing (the checkpoint's feature extractor asks for a mask,
as for models trained with masks). Otherwise (e.g. wav2vec2-base, whose group-norm front end
sees the zero padding, and Data2VecAudio, whose stacked positional convolutions do) each clip
runs on its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from msa_bench.features.base import ExtractorConfig, Failure, Output, TransformersExtractor, load_pretrained
from msa_bench.data.media import SAMPLE_RATE


@dataclass(frozen=True)
class SpeechEncoderConfig(ExtractorConfig):
    checkpoint: str = "facebook/wav2vec2-base"
    #: Index into ``hidden_states`` (0 = CNN feature projection, -1 = last transformer layer).
    layer: int = -1


class SpeechEncoder(TransformersExtractor):
    modality = "audio"
    config_class = SpeechEncoderConfig
    name_prefix = "speech"

    def __init__(self, config: SpeechEncoderConfig) -> None:
        from transformers import AutoFeatureExtractor, AutoModel

        self.config = config
        self.feature_extractor = load_pretrained(AutoFeatureExtractor, config.checkpoint)
        model = load_pretrained(AutoModel, config.checkpoint)
        if not hasattr(model, "_get_feat_extract_output_lengths"):
            raise ValueError(f"{config.checkpoint!r} is not a speech encoder (got {type(model).__name__})")
        self._use_model(model)

    @property
    def frame_hop_s(self) -> float:
        return math.prod(self.model.config.conv_stride) / SAMPLE_RATE

    @property
    def receptive_field(self) -> int:
        """Samples the convolutional front end needs for one output frame."""
        field = 1
        for kernel, stride in reversed(list(zip(self.model.config.conv_kernel, self.model.config.conv_stride))):
            field = (field - 1) * stride + kernel
        return field

    @property
    def padding_safe(self) -> bool:
        """Whether padded batching gives exactly the features of one-by-one runs."""
        masked = bool(getattr(self.feature_extractor, "return_attention_mask", False))
        return masked and self.model.config.model_type != "data2vec-audio"

    def extract(self, batch: Sequence[np.ndarray]) -> list[Output]:
        """``batch``: 16 kHz mono float32 waveforms."""
        if not self.padding_safe and len(batch) > 1:
            return [out for waveform in batch for out in self._extract([waveform])]
        return self._extract(batch)

    def _extract(self, batch: Sequence[np.ndarray]) -> list[Output]:
        import torch

        usable = [i for i, w in enumerate(batch) if w.size >= self.receptive_field]
        outputs: list[Output] = [Failure(f"audio too short for {self.config.checkpoint} ({w.size} samples)") for w in batch]
        if not usable:
            return outputs
        inputs = self.feature_extractor(
            [batch[i] for i in usable],
            sampling_rate=SAMPLE_RATE,
            padding=True,
            return_attention_mask=bool(getattr(self.feature_extractor, "return_attention_mask", False)),
            return_tensors="pt",
        ).to(self.device)
        lengths = self.model._get_feat_extract_output_lengths(torch.tensor([batch[i].size for i in usable]))
        with torch.inference_mode():
            hidden = self.model(**inputs, output_hidden_states=True).hidden_states[self.config.layer]
        hidden = hidden.float().cpu().numpy()
        for row, (index, length) in enumerate(zip(usable, lengths.tolist())):
            outputs[index] = np.ascontiguousarray(hidden[row, :length])
        return outputs
