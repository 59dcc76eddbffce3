"""The two text paths every model offers: precomputed token features, or a fine-tuned encoder.

``TextEncoder(text_dim, encoder=None)`` consumes ``batch.text`` (token-level features and their
mask). ``TextEncoder(text_dim, encoder="bert-base-uncased")`` (a checkpoint name or a local
directory written by ``save_pretrained``) loads a transformers ``AutoModel`` and
``AutoTokenizer``, tokenizes ``batch.raw_text`` on the batch's device and fine-tunes the encoder
with the rest of the model. Both return a :class:`TextEncoding`.

Presence: on the feature path a row has text where ``batch.text.present`` is True; on the
encoder path, where its transcript is non-empty (a dataset of transcripts without precomputed
features, such as MOSI's ``label.csv``, has text on this path only). Whatever removes text from
an example blanks its transcript too (training-time modality dropout, the announced robustness
protocol). Absent rows come back with zero states, an all-False mask, a zero pooled vector and
``present`` False, so a model sees absent text as absent, never as zeros.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from msa_bench.inputs.batching import Batch


@dataclass(frozen=True)
class TextEncoding:
    """``states`` (B, L, D) token states, ``mask`` (B, L) True on real tokens, ``pooled`` (B, D)
    the [CLS] vector (encoder path) or the masked mean of the features (feature path, where no
    [CLS] token exists), ``present`` (B,) True where the example has text."""

    states: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor
    present: torch.Tensor


def _load_pretrained(encoder: str):
    """``(model, tokenizer)`` for a checkpoint name or local path, with an actionable error."""
    from transformers import AutoModel, AutoTokenizer

    try:
        return AutoModel.from_pretrained(encoder), AutoTokenizer.from_pretrained(encoder)
    except OSError as error:
        raise OSError(
            f"cannot load the text encoder {encoder!r}. Without network access (e.g. HF_HUB_OFFLINE=1) "
            f"pass a local directory written by save_pretrained() instead of a hub name. Cause: {error}"
        ) from error


class TextEncoder(nn.Module):
    """Text representation from precomputed features (``encoder=None``) or a fine-tuned encoder.

    ``out_dim`` adds a linear projection of states and pooled vector; without it the output
    dimension (``self.out_dim``) is ``text_dim`` or the encoder's hidden size.
    ``max_tokens`` truncates tokenized transcripts (50 as in MMSA's BERT inputs).
    """

    def __init__(self, text_dim: int, encoder: str | None = None, out_dim: int | None = None, max_tokens: int = 50):
        super().__init__()
        self.encoder_name = encoder
        self.max_tokens = max_tokens
        if encoder is None:
            self.pretrained, self.tokenizer = None, None
            hidden = text_dim
        else:
            self.pretrained, self.tokenizer = _load_pretrained(encoder)
            hidden = self.pretrained.config.hidden_size
        self.projection = nn.Linear(hidden, out_dim) if out_dim is not None else nn.Identity()
        self.out_dim = out_dim if out_dim is not None else hidden

    def pretrained_parameters(self) -> list[nn.Parameter]:
        """The fine-tuned encoder's parameters (empty on the feature path), for their own lr group."""
        return [] if self.pretrained is None else list(self.pretrained.parameters())

    def forward(self, batch: Batch, keep_padding: bool = False) -> TextEncoding:
        """The encoding of ``batch``'s text; ``keep_padding`` leaves the encoder's states at padded
        tokens as they come out instead of zeroing them (for code that reads padding on purpose,
        such as a model's reproduction of an official implementation that does)."""
        if self.pretrained is None:
            present = batch.text.present
            mask = batch.text.mask & present.unsqueeze(1)
            states = batch.text.features
            pooled = (states * mask.unsqueeze(-1)).sum(1) / mask.sum(1, keepdim=True).clamp_min(1)
        else:
            states, mask, pooled, present = self._encode(batch)
        states = self.projection(states) if keep_padding else self.projection(states) * mask.unsqueeze(-1)
        pooled = self.projection(pooled) * present.unsqueeze(-1)
        return TextEncoding(states=states, mask=mask, pooled=pooled, present=present)

    def _encode(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        device = batch.text.present.device
        present = torch.tensor([bool(text.strip()) for text in batch.raw_text], device=device)
        tokens = self.tokenizer(
            list(batch.raw_text), padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        ).to(device)
        states = self.pretrained(**tokens).last_hidden_state
        mask = tokens["attention_mask"].bool() & present.unsqueeze(1)
        return states, mask, states[:, 0] * present.unsqueeze(-1), present
