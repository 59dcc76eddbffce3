"""py-feat facial features through an adapter from py-feat's output table to frame sequences.

py-feat's detector writes one row per detected face per frame (a ``Fex`` table, also saved as
CSV). :func:`fex_to_sequence` keeps the most confident face of each frame and the columns in
:data:`PYFEAT_COLUMNS` (20 action units, 7 emotions, 3 head-pose angles, 68 2-D landmarks), so
every frame becomes one 166-dim row, NaN where no face was found.

py-feat downloads its detector weights from the Hugging Face hub into its own resource folder.
Where they are missing and the hub cannot be reached, :class:`PyFeatExtractor` says which files
are missing and where to put them, before importing py-feat's heavy stack.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from msa_bench.features.base import CheckpointError, Extractor, ExtractorConfig, Output, config_options, resolve_device

AU_COLUMNS = [f"AU{n:02d}" for n in (1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 14, 15, 17, 20, 23, 24, 25, 26, 28, 43)]
EMOTION_COLUMNS = ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
POSE_COLUMNS = ["Pitch", "Roll", "Yaw"]
LANDMARK_COLUMNS = [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
PYFEAT_COLUMNS = AU_COLUMNS + EMOTION_COLUMNS + POSE_COLUMNS + LANDMARK_COLUMNS

#: Hub files (repo, file name) py-feat's ``Detectorv1`` loads for each model choice.
DETECTOR_WEIGHTS: dict[str, list[tuple[str, str]]] = {
    "img2pose": [("py-feat/img2pose", "config.json"), ("py-feat/img2pose", "model.safetensors")],
    "mobilefacenet": [("py-feat/mobilefacenet", "mobilefacenet_model_best.pth.tar")],
    "xgb": [("py-feat/xgb_au", "xgb_au_classifier_v2.skops")],
    "resmasknet": [
        ("py-feat/resmasknet", "config.json"),
        ("py-feat/resmasknet", "ResMaskNet_Z_resmasking_dropout1_rot30.pth"),
    ],
}


def fex_to_sequence(table: pd.DataFrame, n_frames: int | None = None, source: str = "py-feat table") -> np.ndarray:
    """py-feat's per-face table -> ``(T, 166)`` float32 in :data:`PYFEAT_COLUMNS` order.

    Rows are frames ``0 .. n_frames - 1`` (from the ``frame`` column; row order when it is
    absent); each keeps the face with the highest ``FaceScore``; frames without a face are NaN.
    ``n_frames`` defaults to the last frame seen plus one.
    """
    missing = [c for c in PYFEAT_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"{source}: not a py-feat (Detectorv1) table, columns missing: {missing[:5]}...")
    table = table.reset_index(drop=True)
    frames = table["frame"].astype("int64") if "frame" in table.columns else pd.Series(np.arange(len(table)))
    scores = table["FaceScore"] if "FaceScore" in table.columns else pd.Series(np.zeros(len(table)))
    if n_frames is None:
        n_frames = int(frames.max()) + 1 if len(frames) else 0
    has_face = table[AU_COLUMNS].notna().any(axis=1) & (frames < n_frames)
    best = (
        pd.DataFrame({"frame": frames, "score": scores.fillna(-np.inf)})[has_face]
        .sort_values("score", ascending=False, kind="stable")
        .drop_duplicates("frame")
    )
    out = np.full((n_frames, len(PYFEAT_COLUMNS)), np.nan, np.float32)
    out[best["frame"].to_numpy()] = table.loc[best.index, PYFEAT_COLUMNS].to_numpy(dtype=np.float32)
    return out


def read_pyfeat_csv(path: str | Path) -> np.ndarray:
    """A CSV written by py-feat (``Fex.to_csv`` / ``detect(save=...)``) as a frame sequence."""
    path = Path(path)
    try:
        table = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: cannot read py-feat CSV ({err})") from err
    return fex_to_sequence(table, source=str(path))


@dataclass(frozen=True)
class PyFeatConfig(ExtractorConfig):
    face_model: str = "img2pose"
    landmark_model: str = "mobilefacenet"
    au_model: str = "xgb"
    emotion_model: str = "resmasknet"
    face_detection_threshold: float = 0.5

    def __post_init__(self) -> None:
        for model in (self.face_model, self.landmark_model, self.au_model, self.emotion_model):
            if model not in DETECTOR_WEIGHTS:
                raise ValueError(f"unsupported py-feat model {model!r}; supported: {sorted(DETECTOR_WEIGHTS)}")


def missing_weights(config: PyFeatConfig) -> list[tuple[str, str]]:
    """The (hub repo, file) pairs the detector needs that are not in py-feat's resource folder."""
    from huggingface_hub import try_to_load_from_cache

    resources = pyfeat_resource_dir()
    needed = [w for m in (config.face_model, config.landmark_model, config.au_model, config.emotion_model) for w in DETECTOR_WEIGHTS[m]]
    return [(repo, name) for repo, name in needed if not isinstance(try_to_load_from_cache(repo, name, cache_dir=resources), str)]


def pyfeat_resource_dir() -> Path:
    """py-feat's weight cache (``feat/resources`` inside the installed package), found without
    importing py-feat."""
    from importlib.util import find_spec

    spec = find_spec("feat")
    if spec is None or spec.origin is None:
        raise ImportError("py-feat is not installed: pip install 'msa_bench[vision]'")
    return Path(spec.origin).parent / "resources"


class PyFeatExtractor(Extractor):
    modality = "vision"
    library = "py-feat"

    def __init__(self, config: PyFeatConfig = PyFeatConfig(), device: str = "cpu") -> None:
        self.config = config
        missing = missing_weights(config)
        if missing:
            files = ", ".join(f"{repo}/{name}" for repo, name in missing)
            raise CheckpointError(
                f"py-feat detector weights missing: {files}. py-feat downloads them from the Hugging Face "
                f"hub into {pyfeat_resource_dir()}, which is not reachable here. On a machine with network "
                "run `python -c \"from feat import Detectorv1; Detectorv1(identity_model=None, gaze_model=None)\"` "
                "(or `huggingface-cli download REPO FILE --cache-dir DIR`), then copy the downloaded "
                f"`models--py-feat--*` folders into {pyfeat_resource_dir()}. Alternatively run py-feat "
                "elsewhere and convert its CSVs with msa_bench.features.pyfeat.read_pyfeat_csv."
            )
        self.device = resolve_device(device)
        self._detector = None

    @classmethod
    def from_spec(cls, family: str, checkpoint: str | None, **options) -> PyFeatExtractor:
        if checkpoint is not None:
            raise ValueError(f"pyfeat takes no checkpoint, got {checkpoint!r}")
        return cls(PyFeatConfig(**config_options(PyFeatConfig, options)))

    @property
    def name(self) -> str:
        return "pyfeat"

    @property
    def dim(self) -> int:
        return len(PYFEAT_COLUMNS)

    def to(self, device: str) -> PyFeatExtractor:
        self.device = resolve_device(device)
        self._detector = None
        return self

    def _detector_instance(self):
        if self._detector is None:
            from feat import Detectorv1

            c = self.config
            self._detector = Detectorv1(
                face_model=c.face_model,
                landmark_model=c.landmark_model,
                au_model=c.au_model,
                emotion_model=c.emotion_model,
                identity_model=None,
                gaze_model=None,
                device=self.device,
            )
        return self._detector

    def extract(self, batch: Sequence[np.ndarray]) -> list[Output]:
        """``batch``: per clip, RGB frames ``(T, H, W, 3)`` uint8 -> ``(T, 166)``, NaN rows without a face."""
        import torch

        detector = self._detector_instance()
        outputs: list[Output] = []
        for frames in batch:
            images = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2)
            fex = detector.detect(
                images,
                data_type="tensor",
                face_detection_threshold=self.config.face_detection_threshold,
                progress_bar=False,
            )
            outputs.append(fex_to_sequence(pd.DataFrame(fex), n_frames=len(frames)))
        return outputs
