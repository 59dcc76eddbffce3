"""Masked sequence building blocks for models: padding never reaches an output.

The baselines are built from these; a submitted model may use them too."""

from __future__ import annotations

import math

import torch
from torch import nn

from msa_bench.inputs.batching import ModalityBatch


class LSTMEncoder(nn.Module):
    """An LSTM that reads only the real frames of each sequence, in order.

    Real frames are first moved to the front (:func:`compact_frames`) when the mask has holes
    (frames dropped mid-sequence), so holes are skipped exactly like end padding; a mask that
    already is a prefix is read as it is, since frames after the last real one cannot reach its
    state. It then runs on the padded batch up to the longest sequence's last real frame (one
    fused kernel; about 3x faster on CPU than packed sequences) and reads each example's state at
    its last real frame. The backward direction
    reads each example's real frames reversed in place, so padding never enters it either.
    ``forward`` returns per-frame outputs (B, L, H·dirs) at the real frames' own positions, zero
    elsewhere, and the final state (B, H·dirs), zero for examples without frames;
    :meth:`final_state` returns the final state alone, without the per-frame work.
    """

    def __init__(self, in_dim: int, hidden: int, bidirectional: bool = False):
        super().__init__()
        self.forward_lstm = nn.LSTM(in_dim, hidden, batch_first=True)
        self.backward_lstm = nn.LSTM(in_dim, hidden, batch_first=True) if bidirectional else None
        self.out_dim = hidden * (2 if bidirectional else 1)

    def forward(self, features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        compacted, prefix, holes = _front_frames(features, mask)
        outputs, last = self._run(compacted, prefix)
        outputs = nn.functional.pad(outputs, (0, 0, 0, mask.shape[1] - outputs.shape[1]))
        if holes:
            return restore_frames(outputs, mask), last
        return outputs * mask.unsqueeze(-1).to(outputs.dtype), last

    def final_state(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, H·dirs): the final state of :meth:`forward` without its per-frame outputs."""
        compacted, prefix, _ = _front_frames(features, mask)
        return self._run(compacted, prefix)[1]

    def _run(self, compacted: torch.Tensor, prefix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-frame outputs up to the longest sequence's last real frame (later frames are all
        padding and are not read) and the final states, on frames moved to the front."""
        longest = max(int(prefix.sum(dim=1).max()) if len(prefix) else 0, 1)
        compacted, prefix = compacted[:, :longest], prefix[:, :longest]
        outputs = run_lstm(self.forward_lstm, compacted)
        last = last_real_step(outputs, prefix)
        if self.backward_lstm is not None:
            backward = self._backward(compacted, prefix)
            outputs = torch.cat([outputs, backward], dim=-1)
            last = torch.cat([last, backward[:, 0] * prefix[:, 0].unsqueeze(-1).to(backward.dtype)], dim=-1)
        return outputs, last

    def _backward(self, compacted: torch.Tensor, prefix: torch.Tensor) -> torch.Tensor:
        """The backward direction's per-frame outputs at the compacted frames' positions."""
        reverse = reversed_real_frames(prefix)
        return gather_frames(run_lstm(self.backward_lstm, gather_frames(compacted, reverse)), reverse)


def run_lstm(lstm: nn.LSTM, x: torch.Tensor) -> torch.Tensor:
    """``lstm(x)``'s per-step outputs, on the kernel that is faster for this call on CPU.

    oneDNN's LSTM backward always computes the gradient of its input, B·L·in·4H multiply-adds;
    torch's own kernel computes it only when the input needs one, at a cost per time step. So an
    input that needs no gradient (precomputed features) and is wider than the gates (``in > 4H``,
    e.g. 768-wide BERT features into 128 units) runs on torch's kernel: one forward and backward
    at (32, 50, 768) into 128 units took 80 ms there against 108 ms on oneDNN; narrow inputs
    over long sequences stay on oneDNN (5-wide audio, 375 steps, 16 units: 18 ms against 130 ms).
    """
    if x.device.type == "cpu" and not x.requires_grad and lstm.input_size > 4 * lstm.hidden_size:
        with torch.backends.mkldnn.flags(enabled=False, deterministic=None, allow_tf32=None, fp32_precision=None):
            return lstm(x)[0]
    return lstm(x)[0]


def _front_frames(features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Features with each example's real frames first, their prefix mask, and whether the mask
    had holes (only then are frames moved; padding after a prefix is left unread, not zeroed)."""
    prefix = prefix_mask(mask.sum(dim=1), mask.shape[1])
    if torch.equal(prefix, mask):
        return features, prefix, False
    compacted, _ = compact_frames(features, mask)
    return compacted, prefix, True


def compact_frames(features: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each example's real frames moved to the front in their order, zeros after them, and
    the number of real frames (B,): what a recurrent encoder that packs by length must read
    when frames were dropped mid-sequence (a mask with holes)."""
    order = torch.argsort((~mask).to(torch.int8), dim=1, stable=True)
    lengths = mask.sum(dim=1)
    compacted = gather_frames(features, order)
    return compacted * prefix_mask(lengths, mask.shape[1]).unsqueeze(-1).to(features.dtype), lengths


def restore_frames(compacted: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`compact_frames` for per-frame outputs: the k-th compacted frame goes
    back to the position of the k-th real frame; other positions are zero."""
    rank = (mask.long().cumsum(dim=1) - 1).clamp_min(0)
    return gather_frames(compacted, rank) * mask.unsqueeze(-1).to(compacted.dtype)


def prefix_mask(lengths: torch.Tensor, length: int) -> torch.Tensor:
    """(B, length) mask of the first ``lengths`` frames of each example."""
    return torch.arange(length, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def reversed_real_frames(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) frame indices reversing each example's real frames and keeping padding in place."""
    steps = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
    lengths = mask.sum(dim=1, keepdim=True)
    return torch.where(steps < lengths, lengths - 1 - steps, steps)


def gather_frames(sequence: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """(B, L, D) frames reordered per example by (B, L) ``index``."""
    return sequence.gather(1, index.unsqueeze(-1).expand(-1, -1, sequence.shape[-1]))


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
    """(B, L, D) → (B, D): the state at each example's last real frame (holes allowed), zero
    without frames."""
    steps = torch.arange(mask.shape[1], device=mask.device).unsqueeze(0)
    index = (steps * mask).argmax(dim=1)
    last = sequence[torch.arange(len(sequence), device=sequence.device), index]
    return last * mask.any(dim=1).to(last.dtype).unsqueeze(-1)
