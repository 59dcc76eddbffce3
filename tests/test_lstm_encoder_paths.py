"""LSTMEncoder's shortcuts (prefix masks read in place, trailing padding not read, the CPU kernel
choice of ``run_lstm``) give the outputs of the plain computation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from msa_bench.models.layers import LSTMEncoder, run_lstm

LENGTHS = torch.tensor([5, 2, 0, 3])


def _padded(fill: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (4, 9, 6) whose frames after each example's length hold ``fill``, and the mask."""
    torch.manual_seed(0)
    mask = torch.arange(9)[None] < LENGTHS[:, None]
    features = torch.where(mask[..., None], torch.randn(4, 9, 6), torch.full((4, 9, 6), fill))
    return features, mask


def _reference(encoder: LSTMEncoder, features: torch.Tensor, mask: torch.Tensor):
    """Each example alone, its real frames only, through the plain LSTMs."""
    outputs, last = torch.zeros(*mask.shape, encoder.out_dim), torch.zeros(len(mask), encoder.out_dim)
    for row, length in enumerate(LENGTHS.tolist()):
        if length == 0:
            continue
        x = features[row : row + 1, :length]
        parts = [encoder.forward_lstm(x)[0]]
        if encoder.backward_lstm is not None:
            parts.append(encoder.backward_lstm(x.flip(1))[0].flip(1))
        outputs[row, :length] = torch.cat(parts, dim=-1)[0]
        last[row] = torch.cat([parts[0][0, -1], *(p[0, 0] for p in parts[1:])])
    return outputs, last


@pytest.mark.parametrize("bidirectional", [False, True])
def test_prefix_mask_with_garbage_padding_equals_each_example_alone(bidirectional):
    encoder = LSTMEncoder(6, 4, bidirectional=bidirectional)
    features, mask = _padded(fill=1e3)  # padding after the real frames must never be read
    expected_outputs, expected_last = _reference(encoder, features, mask)
    outputs, last = encoder(features, mask)
    torch.testing.assert_close(outputs, expected_outputs)
    torch.testing.assert_close(last, expected_last)
    torch.testing.assert_close(encoder.final_state(features, mask), expected_last)


def test_final_state_with_holes_equals_forward():
    encoder = LSTMEncoder(6, 4, bidirectional=True)
    features, mask = _padded(fill=0.0)
    holes = mask.clone()
    holes[0, 1] = holes[3, 0] = False
    torch.testing.assert_close(encoder.final_state(features, holes), encoder(features, holes)[1])


@pytest.mark.parametrize("width", [6, 40])  # 40 > 4 * 8: torch's own kernel when no input gradient
def test_run_lstm_gives_the_lstm_outputs_and_gradients(width):
    torch.manual_seed(0)
    lstm = nn.LSTM(width, 8, batch_first=True)
    x = torch.randn(3, 7, width)
    enabled = torch.backends.mkldnn.enabled
    outputs = run_lstm(lstm, x)
    assert torch.backends.mkldnn.enabled == enabled  # the kernel choice does not leak out
    outputs.square().sum().backward()
    grads = [p.grad.clone() for p in lstm.parameters()]
    lstm.zero_grad()
    expected = lstm(x)[0]
    expected.square().sum().backward()
    torch.testing.assert_close(outputs, expected)
    for grad, parameter in zip(grads, lstm.parameters()):
        torch.testing.assert_close(grad, parameter.grad)
