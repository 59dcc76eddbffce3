"""Seeded corruptions of a model's inputs: missing frames/tokens and noise, under two protocols.

Every corruption is a ``Batch -> Batch`` transform (inputs only; labels never pass through here).
Text is corrupted on both of its paths at once, so every model is reached whichever it reads:
token feature rows (``batch.text``) and the transcript words (``batch.raw_text``) that
encoder-path models tokenize themselves.

Missingness follows one of two protocols (:data:`PROTOCOLS`):

- ``"unannounced"`` (the literature's: LNLN, Zhang et al. 2024; EMT-DLFR, Sun et al. 2023): a
  dropped audio/vision frame and a dropped text feature row are zero-filled with the mask left
  True; a dropped transcript word becomes the tokenizer's unknown token (``[UNK]`` for BERT).
  Removing a modality is dropping all of its frames: ``present`` stays True. The model is not
  told what is missing.
- ``"announced"``: dropped frames and rows get mask False (features 0), dropped words are
  deleted, and a modality left without any frame (or removed) is marked absent (``present``
  False). Masked pooling then turns frame dropping into subsampling.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

import torch

from msa_bench.data.schema import MODALITIES
from msa_bench.inputs.batching import Batch, ModalityBatch, absent_where

PROTOCOLS: tuple[str, ...] = ("unannounced", "announced")
#: The protocol comparable with published missing-rate curves.
DEFAULT_PROTOCOL = "unannounced"
#: Stand-in for a dropped word when the model has no tokenizer (feature-path models never read it).
FALLBACK_UNK = "[UNK]"

Transform = Callable[[Batch], Batch]


def check_protocol(protocol: str) -> None:
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def unk_token(model: torch.nn.Module) -> str:
    """The unknown-token string of the first fine-tuned text encoder's tokenizer in ``model``
    (what a dropped word becomes under ``"unannounced"``), else :data:`FALLBACK_UNK`."""
    for module in model.modules():
        tokenizer = getattr(module, "tokenizer", None)
        if tokenizer is not None and getattr(tokenizer, "unk_token", None):
            return str(tokenizer.unk_token)
    return FALLBACK_UNK


def _per_example(rate: float | torch.Tensor, n: int) -> torch.Tensor:
    """(n, 1) drop probabilities from one rate or one rate per example."""
    return torch.as_tensor(rate, dtype=torch.float32).expand(n).reshape(n, 1)


def _drop_frames(modality: ModalityBatch, rate: torch.Tensor, generator: torch.Generator, protocol: str) -> ModalityBatch:
    dropped = (torch.rand(modality.mask.shape, generator=generator) < rate.to(modality.mask.device)) & modality.mask
    features = modality.features * (~dropped).unsqueeze(-1).to(modality.features.dtype)
    if protocol == "unannounced":
        return ModalityBatch(features, modality.mask, modality.present)
    mask = modality.mask & ~dropped
    return ModalityBatch(features, mask, modality.present & mask.any(dim=1))


def _words(raw_text: Sequence[str]) -> tuple[list[list[str]], int]:
    words = [text.split() for text in raw_text]
    return words, max([len(w) for w in words] + [1])


def _drop_words(raw_text: Sequence[str], rate: torch.Tensor, generator: torch.Generator, protocol: str, unk: str) -> list[str]:
    words, longest = _words(raw_text)
    dropped = torch.rand((len(words), longest), generator=generator) < rate
    texts = []
    for row, sentence in enumerate(words):
        if protocol == "unannounced":
            kept = [unk if dropped[row, k] else word for k, word in enumerate(sentence)]
        else:
            kept = [word for k, word in enumerate(sentence) if not dropped[row, k]]
        texts.append(" ".join(kept))
    return texts


def missing(
    names: Sequence[str],
    rate: float | torch.Tensor,
    generator: torch.Generator,
    protocol: str = DEFAULT_PROTOCOL,
    unk: str = FALLBACK_UNK,
) -> Transform:
    """Drop each real frame/token (and transcript word) of ``names`` with probability ``rate``
    (one number, or one per example), under ``protocol``. Rate 1 removes the modalities."""
    check_protocol(protocol)

    def transform(batch: Batch) -> Batch:
        rates = _per_example(rate, len(batch))
        for name in names:
            batch = batch.with_modality(name, _drop_frames(batch.modality(name), rates, generator, protocol))
        if "text" in names:
            batch = replace(batch, raw_text=_drop_words(batch.raw_text, rates, generator, protocol, unk))
        return batch

    return transform


def gaussian_noise(name: str, level: float, std: torch.Tensor, generator: torch.Generator) -> Transform:
    """Add N(0, (level x std)^2) to the real frames of one modality (``std`` per feature)."""

    def transform(batch: Batch) -> Batch:
        modality = batch.modality(name)
        noise = torch.randn(modality.features.shape, generator=generator) * (level * std)
        noise = noise * modality.mask.unsqueeze(-1).to(noise.dtype)
        return batch.with_modality(name, ModalityBatch(modality.features + noise, modality.mask, modality.present))

    return transform


def text_noise(level: float, rows: torch.Tensor, vocabulary: Sequence[str], generator: torch.Generator) -> Transform:
    """Replace each real text token, with probability ``level``, by a random one: feature rows by
    rows drawn from ``rows`` (N, D), transcript words by words drawn from ``vocabulary``. An
    empty pool leaves its path untouched (the sweep reports the condition as not applicable)."""

    def transform(batch: Batch) -> Batch:
        text = batch.text
        replaced = (torch.rand(text.mask.shape, generator=generator) < level) & text.mask
        if len(rows) and replaced.any():
            features = text.features.clone()
            features[replaced] = rows[torch.randint(len(rows), (int(replaced.sum()),), generator=generator)]
            batch = batch.with_modality("text", ModalityBatch(features, text.mask, text.present))
        if vocabulary:
            words, longest = _words(batch.raw_text)
            swap = torch.rand((len(words), longest), generator=generator) < level
            picks = torch.randint(len(vocabulary), (len(words), longest), generator=generator)
            texts = [
                " ".join(vocabulary[picks[row, k]] if swap[row, k] else word for k, word in enumerate(sentence))
                for row, sentence in enumerate(words)
            ]
            batch = replace(batch, raw_text=texts)
        return batch

    return transform


def drop_modalities(batch: Batch, max_rate: float, generator: torch.Generator) -> Batch:
    """Training-time augmentation: mark whole modalities absent (see :class:`TrainConfig`); removed
    text also loses its transcript, so encoder-path models see it absent too."""
    n = len(batch)
    rates = torch.rand(n, generator=generator) * max_rate
    present = torch.stack([batch.modality(m).present for m in MODALITIES], dim=1)
    draws = (torch.rand(n, len(MODALITIES), generator=generator) < rates.unsqueeze(1)).to(present.device)
    keep = present & ~draws
    keep = torch.where(keep.any(dim=1, keepdim=True), keep, present)
    for k, name in enumerate(MODALITIES):
        batch = batch.with_modality(name, absent_where(batch.modality(name), ~keep[:, k]))
    text_kept = keep[:, MODALITIES.index("text")].tolist()
    return replace(batch, raw_text=[text if kept else "" for text, kept in zip(batch.raw_text, text_kept)])
