"""Small building blocks shared by the baselines (masked sequence encoders), public-API only."""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from msa_bench.batching import ModalityBatch


class LSTMEncoder(nn.Module):
    """An LSTM over the real frames of each sequence (``pack_padded_sequence``).

    ``forward`` returns the per-frame outputs (B, L, H·dirs), zero on padding, and the final
    hidden state of the last layer (B, H·dirs), zero for examples without the modality.
    """

    def __init__(self, in_dim: int, hidden: int, num_layers: int = 1, dropout: float = 0.0, bidirectional: bool = False):
        super().__init__()
        self.lstm = nn.LSTM(
            in_dim,
            hidden,
            num_layers=num_layers,
            dropout=dropout if num_layers > 1 else 0.0,
            bidirectional=bidirectional,
            batch_first=True,
        )
        self.out_dim = hidden * (2 if bidirectional else 1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lengths = mask.sum(dim=1)
        has_frames = lengths > 0
        packed = pack_padded_sequence(features, lengths.clamp_min(1).cpu(), batch_first=True, enforce_sorted=False)
        outputs, (hidden, _) = self.lstm(packed)
        outputs, _ = pad_packed_sequence(outputs, batch_first=True, total_length=features.shape[1])
        directions = 2 if self.lstm.bidirectional else 1
        last = torch.cat([hidden[-directions + i] for i in range(directions)], dim=-1)
        return outputs * mask.unsqueeze(-1), last * has_frames.unsqueeze(-1)


def frame_mask(modality: ModalityBatch) -> torch.Tensor:
    """Frame mask restricted to examples that have the modality."""
    return modality.mask & modality.present.unsqueeze(1)


def attention_padding(mask: torch.Tensor) -> torch.Tensor:
    """``key_padding_mask`` (True = ignore) for ``mask`` (True = real), keeping one key in fully
    padded rows so attention stays finite; callers zero those rows' outputs."""
    padding = ~mask
    empty = padding.all(dim=1)
    if empty.any():
        padding = padding.clone()
        padding[empty, 0] = False
    return padding


def attend(attention: nn.MultiheadAttention, query: torch.Tensor, source: torch.Tensor, source_mask: torch.Tensor):
    """Batch-first attention of ``query`` over the real frames of ``source`` only; zero output for
    examples whose ``source`` has no frame."""
    output, _ = attention(query, source, source, key_padding_mask=attention_padding(source_mask), need_weights=False)
    return output * source_mask.any(dim=1).to(output.dtype)[:, None, None]


def sinusoidal_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) sinusoidal position embeddings (Vaswani et al.)."""
    position = torch.arange(length, device=device, dtype=torch.float32).unsqueeze(1)
    frequency = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


def last_real_step(sequence: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, L, D) → (B, D): the state at each example's last real frame, zero without frames."""
    index = (mask.sum(dim=1) - 1).clamp_min(0)
    last = sequence[torch.arange(len(sequence), device=sequence.device), index]
    return last * mask.any(dim=1).to(last.dtype).unsqueeze(-1)
