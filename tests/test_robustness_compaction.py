"""Recurrent encoders read a sequence with holes exactly like its compacted real frames."""

from __future__ import annotations

import pytest
import torch

from msa_bench.models.layers import LSTMEncoder, compact_frames, last_real_step, restore_frames

LENGTHS = torch.tensor([7, 3, 5, 0])


def _holey() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(features with holes, their mask, the compacted features, the compacted prefix mask)."""
    torch.manual_seed(0)
    compact = torch.randn(4, 7, 5)
    prefix = torch.arange(7)[None] < LENGTHS[:, None]
    compact = compact * prefix[..., None]
    holes = torch.tensor(
        [[1, 1, 1, 1, 1, 1, 1], [0, 1, 0, 1, 0, 0, 1], [1, 0, 1, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0, 0]], dtype=torch.bool
    )
    spread = torch.full((4, 7, 5), 9.0)  # what sits in the holes must never be read
    for row in range(4):
        spread[row, holes[row]] = compact[row, : int(LENGTHS[row])]
    return spread, holes, compact, prefix


def test_compact_frames_moves_real_frames_to_the_front_and_restore_undoes_it():
    spread, holes, compact, prefix = _holey()
    compacted, lengths = compact_frames(spread, holes)
    torch.testing.assert_close(compacted, compact)
    assert lengths.tolist() == LENGTHS.tolist()
    restored = restore_frames(compacted, holes)
    torch.testing.assert_close(restored, spread * holes[..., None])


def test_last_real_step_reads_the_last_real_frame_of_a_mask_with_holes():
    spread, holes, compact, prefix = _holey()
    torch.testing.assert_close(last_real_step(spread, holes), last_real_step(compact, prefix))


@pytest.mark.parametrize("bidirectional", [False, True])
def test_lstm_encoder_with_holes_equals_the_compacted_sequence(bidirectional):
    spread, holes, compact, prefix = _holey()
    encoder = LSTMEncoder(5, 4, bidirectional=bidirectional)
    outputs, last = encoder(spread, holes)
    expected_outputs, expected_last = encoder(compact, prefix)
    torch.testing.assert_close(last, expected_last)
    torch.testing.assert_close(outputs, restore_frames(expected_outputs, holes))
    assert last[3].abs().sum() == 0


def test_masked_bigru_with_holes_equals_the_compacted_sequence():
    from baselines.adafn_ag import MaskedBiGRU

    spread, holes, compact, prefix = _holey()
    gru = MaskedBiGRU(5, 3)
    torch.testing.assert_close(gru(spread, holes), restore_frames(gru(compact, prefix), holes))


def test_sequence_encoder_with_holes_equals_the_compacted_sequence():
    from baselines.unimodal import SequenceEncoder

    spread, holes, compact, prefix = _holey()
    encoder = SequenceEncoder(5, 4, kind="lstm").eval()
    torch.testing.assert_close(encoder(spread, holes), encoder(compact, prefix))
