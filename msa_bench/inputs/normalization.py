"""Per-feature standardisation of every modality, fitted on the training split only.

Real feature sets mix scales (eGeMAPS formant frequencies around 1,000-2,600 Hz next to
descriptors near 0.01): unscaled, most models do not train at all. :class:`FeatureScaler` holds
each modality's per-feature mean and standard deviation over the *real frames* of the training
split (streamed sums, never the split in memory). It lives on the model as the submodule
:data:`SCALER_ATTRIBUTE`, so its statistics are saved in every checkpoint, and the harness applies
it to every batch before anything else sees it: training batches before augmentation, and the
validation, test and robustness inputs before any corruption (so missing frames are zero and
noise is scaled in the normalised space, as the literature measures robustness).
"""

from __future__ import annotations

import datasets
import torch
from torch import nn

from msa_bench.inputs.batching import Batch, ModalityBatch
from msa_bench.data.schema import MODALITIES, feature_dims

#: ``TrainConfig.normalize`` values: "auto" is "standard" on every dataset but those below.
MODES: tuple[str, ...] = ("auto", "standard", "none")
#: Datasets whose features are already on one scale (generated standardised).
UNSCALED_DATASETS: tuple[str, ...] = ("synthetic",)
#: Name of the scaler submodule on a model.
SCALER_ATTRIBUTE = "feature_scaler"
#: A feature whose training standard deviation is below this is only centred (constant features).
MIN_STD = 1e-6


def resolve_mode(mode: str, dataset_name: str) -> str:
    """``"standard"`` or ``"none"`` for ``mode`` on ``dataset_name``."""
    if mode not in MODES:
        raise ValueError(f"normalize must be one of {MODES}, got {mode!r}")
    if mode == "auto":
        return "none" if dataset_name in UNSCALED_DATASETS else "standard"
    return mode


class FeatureScaler(nn.Module):
    """``(x - mean) / std`` per feature on the real frames of each modality; padding stays 0."""

    def __init__(self, dims: dict[str, int]) -> None:
        super().__init__()
        for name in MODALITIES:
            dim = dims.get(name, 1)
            self.register_buffer(f"{name}_mean", torch.zeros(dim))
            self.register_buffer(f"{name}_std", torch.ones(dim))
            self.register_buffer(f"{name}_frames", torch.zeros((), dtype=torch.long))

    @classmethod
    def fit(cls, train: datasets.Dataset, batch_size: int = 256) -> FeatureScaler:
        """Statistics of ``train``'s real frames, accumulated batch by batch in float64."""
        from msa_bench.inputs.loader import make_dataloader

        dims = feature_dims(train.features)
        scaler = cls(dims)
        count = {m: 0 for m in MODALITIES}
        total = {m: torch.zeros(d, dtype=torch.float64) for m, d in dims.items()}
        squares = {m: torch.zeros(d, dtype=torch.float64) for m, d in dims.items()}
        for batch, _ in make_dataloader(train, batch_size):
            for name, modality in batch.modalities():
                frames = modality.features[modality.mask & modality.present.unsqueeze(1)].double()
                count[name] += len(frames)
                total[name] += frames.sum(dim=0)
                squares[name] += (frames * frames).sum(dim=0)
        for name in MODALITIES:
            if count[name] == 0:
                continue  # the modality is absent from the training split: identity
            mean = total[name] / count[name]
            variance = (squares[name] / count[name] - mean * mean).clamp(min=0.0)
            std = variance.sqrt()
            getattr(scaler, f"{name}_mean").copy_(mean.float())
            getattr(scaler, f"{name}_std").copy_(torch.where(std < MIN_STD, torch.ones_like(std), std).float())
            getattr(scaler, f"{name}_frames").fill_(count[name])
        return scaler

    def _scale(self, name: str, modality: ModalityBatch) -> ModalityBatch:
        features = modality.features
        mean = getattr(self, f"{name}_mean").to(features.device, features.dtype)
        std = getattr(self, f"{name}_std").to(features.device, features.dtype)
        keep = modality.mask.unsqueeze(-1).to(features.dtype)
        return ModalityBatch((features - mean) / std * keep, modality.mask, modality.present)

    def forward(self, batch: Batch) -> Batch:
        for name, modality in batch.modalities():
            if int(getattr(self, f"{name}_frames")) > 0:
                batch = batch.with_modality(name, self._scale(name, modality))
        return batch

    def statistics(self) -> dict:
        """What a result record stores: per modality the frames counted, mean and std per feature."""
        return {
            "method": "standard",
            "fitted_on": "train",
            **{
                name: {
                    "frames": int(getattr(self, f"{name}_frames")),
                    "mean": [round(float(v), 6) for v in getattr(self, f"{name}_mean")],
                    "std": [round(float(v), 6) for v in getattr(self, f"{name}_std")],
                }
                for name in MODALITIES
                if int(getattr(self, f"{name}_frames")) > 0
            },
        }


def attach_scaler(model: nn.Module, train: datasets.Dataset, mode: str) -> dict:
    """Fit a scaler on ``train`` and attach it to ``model`` when ``mode`` is "standard"; return
    the statistics for the record (``{"method": "none"}`` otherwise)."""
    if mode == "none":
        return {"method": "none"}
    scaler = FeatureScaler.fit(train)
    model.add_module(SCALER_ATTRIBUTE, scaler)
    return scaler.statistics()


def attach_unfitted_scaler(model: nn.Module, dims) -> None:
    """Attach a scaler with placeholder statistics (``dims``: anything with ``text_dim``,
    ``audio_dim``, ``vision_dim``), to load a trained model's saved statistics into."""
    model.add_module(SCALER_ATTRIBUTE, FeatureScaler({m: getattr(dims, f"{m}_dim") for m in MODALITIES}))


def normalize_inputs(model: nn.Module, batch: Batch) -> Batch:
    """``batch`` through the model's scaler, or unchanged when it has none."""
    scaler = getattr(model, SCALER_ATTRIBUTE, None)
    return batch if scaler is None else scaler(batch)
