"""Face crops with OpenCV's Haar cascade, encoded by a transformers image encoder (ViT, CLIP
vision, any ``AutoModel`` image checkpoint): one vector per frame, NaN where no face is found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from msa_bench.features.base import ExtractorConfig, Output, TransformersExtractor, load_pretrained


@dataclass(frozen=True)
class HaarConfig:
    cascade: str = "haarcascade_frontalface_default.xml"
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_size: int = 30
    #: Extra border around the detected box, as a fraction of its size.
    margin: float = 0.2


class HaarFaceDetector:
    """Largest frontal face per frame, cropped with a margin."""

    def __init__(self, config: HaarConfig = HaarConfig()) -> None:
        import cv2

        self.config = config
        self._cascade = cv2.CascadeClassifier(cv2.data.haarcascades + config.cascade)
        if self._cascade.empty():
            raise FileNotFoundError(f"OpenCV Haar cascade {config.cascade!r} not found in {cv2.data.haarcascades}")

    def box(self, frame: np.ndarray) -> tuple[int, int, int, int] | None:
        """``(x, y, w, h)`` of the largest face in an RGB frame, or ``None``."""
        import cv2

        gray = cv2.equalizeHist(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY))
        c = self.config
        faces = self._cascade.detectMultiScale(
            gray, scaleFactor=c.scale_factor, minNeighbors=c.min_neighbors, minSize=(c.min_size, c.min_size)
        )
        if len(faces) == 0:
            return None
        return tuple(int(v) for v in max(faces, key=lambda f: f[2] * f[3]))

    def crop(self, frame: np.ndarray) -> np.ndarray | None:
        box = self.box(frame)
        if box is None:
            return None
        x, y, w, h = box
        dx, dy = int(w * self.config.margin), int(h * self.config.margin)
        return frame[max(0, y - dy) : y + h + dy, max(0, x - dx) : x + w + dx]


@dataclass(frozen=True)
class FaceEncoderConfig(ExtractorConfig):
    checkpoint: str = "google/vit-base-patch16-224-in21k"
    #: Index into ``hidden_states``; the first (CLS) token of that layer is the frame's vector.
    layer: int = -1
    haar: HaarConfig = HaarConfig()


class FaceImageEncoder(TransformersExtractor):
    modality = "vision"
    config_class = FaceEncoderConfig
    name_prefix = "face"

    def __init__(self, config: FaceEncoderConfig) -> None:
        from transformers import AutoImageProcessor, AutoModel

        self.config = config
        self.detector = HaarFaceDetector(config.haar)
        self.processor = load_pretrained(AutoImageProcessor, config.checkpoint)
        model = load_pretrained(AutoModel, config.checkpoint)
        #: CLIP checkpoints load as a two-tower model; only its vision tower is used.
        self._use_model(getattr(model, "vision_model", model))

    def extract(self, batch: Sequence[np.ndarray]) -> list[Output]:
        """``batch``: per clip, RGB frames ``(T, H, W, 3)`` uint8 -> ``(T, D)``, NaN rows without a face.

        Crops of all clips in the batch go through the encoder together.
        """
        import torch

        crops, owners = [], []
        outputs = [np.full((len(frames), self.dim), np.nan, np.float32) for frames in batch]
        for clip, frames in enumerate(batch):
            for index, frame in enumerate(frames):
                crop = self.detector.crop(frame)
                if crop is not None:
                    crops.append(crop)
                    owners.append((clip, index))
        if crops:
            pixels = self.processor(images=crops, return_tensors="pt")["pixel_values"].to(self.device)
            with torch.inference_mode():
                hidden = self.model(pixel_values=pixels, output_hidden_states=True).hidden_states[self.config.layer]
            vectors = hidden[:, 0].float().cpu().numpy()
            for (clip, index), vector in zip(owners, vectors):
                outputs[clip][index] = vector
        return outputs
