"""Predictions of a model on labelled batches, and their metrics (validation and robustness).

The model sees inputs only; the labels of the same rows are joined to its predictions here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from msa_bench.inputs.batching import Batch
from msa_bench.inputs.loader import LabelledBatch
from msa_bench.scoring.metrics import NO_CLASS, emotion_class_metrics, emotions_metrics, predictions_frame, sentiment_metrics
from msa_bench.models import ModelOutput, MSAModel
from msa_bench.inputs.normalization import normalize_inputs
from msa_bench.util.runtime import autocast
from msa_bench.data.targets import Targets


def predict(
    model: MSAModel,
    batches: Sequence[LabelledBatch],
    device: torch.device,
    transform: Callable[[Batch], Batch] | None = None,
) -> tuple[list[str], dict[str, np.ndarray]]:
    """Run ``model`` over the inputs of ``batches`` (normalised by the model's feature scaler when
    it has one, then optionally transformed): ids and
    the ``predictions_frame`` columns (labels and predictions) of the tasks the model predicts.

    The model receives the :class:`~msa_bench.inputs.batching.Batch` only; the labels are joined to its
    predictions here, outside the model.
    """
    model.eval()
    ids: list[str] = []
    parts: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for batch, targets in batches:
            batch = normalize_inputs(model, batch)  # the model's training-split scaler, before any corruption
            if transform is not None:
                batch = transform(batch)
            with autocast(device):
                output = model(batch.to(device))
            ids += targets.ids
            for key, value in _task_columns(model.tasks, output, targets).items():
                parts.setdefault(key, []).append(value)
    return ids, {key: np.concatenate(values) for key, values in parts.items()}


def predictions_of(
    model: MSAModel,
    batches: Sequence[LabelledBatch],
    device: torch.device,
    transform: Callable[[Batch], Batch] | None = None,
) -> pd.DataFrame:
    """The predictions table (:func:`msa_bench.scoring.metrics.predictions_frame`) of ``model`` on ``batches``."""
    ids, columns = predict(model, batches, device, transform)
    return predictions_frame(ids, **columns)


def _task_columns(tasks: Sequence[str], output: ModelOutput, targets: Targets) -> dict[str, np.ndarray]:
    def numpy(tensor: torch.Tensor) -> np.ndarray:
        return tensor.detach().float().cpu().numpy()

    missing = [task for task, value in (("sentiment", output.sentiment), ("emotions", output.emotions),
                                        ("emotion", output.emotion_logits)) if task in tasks and value is None]
    if missing:
        raise ValueError(
            f"the model predicted nothing for the task(s) {missing} of this dataset: predict them itself or "
            "through the shared heads (self.heads = self.task_heads(fused_dim); return self.heads(fused, output))"
        )
    columns: dict[str, np.ndarray] = {}
    if "sentiment" in tasks:
        columns["sentiment_true"] = numpy(targets.sentiment)
        columns["sentiment_pred"] = numpy(output.sentiment).reshape(-1)
    if "emotions" in tasks:
        columns["emotions_true"] = numpy(targets.emotions)
        columns["emotions_pred"] = numpy(output.emotions)
    if "emotion" in tasks:
        columns["emotion_true"] = targets.emotion.cpu().numpy()
        columns["emotion_pred"] = output.emotion_logits.detach().float().argmax(dim=-1).cpu().numpy()
    return columns


def metrics_of_columns(columns: dict[str, np.ndarray]) -> dict[str, float]:
    """The same metrics as :func:`msa_bench.scoring.metrics.compute_metrics`, straight from
    :func:`predict` columns (no table; used for the many validation and robustness evaluations)."""
    metrics: dict[str, float] = {}
    if "sentiment_true" in columns and not np.isnan(columns["sentiment_true"]).all():
        metrics.update(sentiment_metrics(columns["sentiment_true"], columns["sentiment_pred"]))
    if "emotions_true" in columns and not np.isnan(columns["emotions_true"]).any(axis=1).all():
        metrics.update(emotions_metrics(columns["emotions_true"], columns["emotions_pred"]))
    if "emotion_true" in columns and (columns["emotion_true"] != NO_CLASS).any():
        metrics.update(emotion_class_metrics(columns["emotion_true"], columns["emotion_pred"]))
    return metrics
