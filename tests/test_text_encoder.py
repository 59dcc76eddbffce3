"""TextEncoder: the feature path, the fine-tuned encoder path (tiny local BERT) and presence."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msa_bench.inputs.batching import collate
from msa_bench.models import TextEncoder

DIMS = {"text": 8, "audio": 4, "vision": 3}


def _batch(texts, text_lengths):
    rng = np.random.default_rng(0)
    rows = [
        {
            "id": f"v_{i}",
            "text": text,
            "text_features": None if length is None else rng.standard_normal((length, DIMS["text"])),
            "audio_features": rng.standard_normal((5, DIMS["audio"])),
            "vision_features": rng.standard_normal((5, DIMS["vision"])),
            "sentiment": 0.5,
        }
        for i, (text, length) in enumerate(zip(texts, text_lengths))
    ]
    return collate(rows, DIMS)


def test_feature_path_pools_real_tokens_only_and_zeroes_absent_rows():
    batch = _batch(["a", "b", "c"], [2, 5, None])
    encoding = TextEncoder(DIMS["text"])(batch)
    assert encoding.states.shape == (3, 5, DIMS["text"])
    torch.testing.assert_close(encoding.pooled[0], batch.text.features[0, :2].mean(0))
    assert encoding.present.tolist() == [True, True, False]
    assert not encoding.mask[2].any() and encoding.pooled[2].abs().sum() == 0


def test_projection_sets_out_dim_and_keeps_padding_zero():
    encoder = TextEncoder(DIMS["text"], out_dim=6)
    encoding = encoder(_batch(["a", "b"], [2, 4]))
    assert encoder.out_dim == 6 and encoding.states.shape == (2, 4, 6)
    assert encoding.states[0, 2:].abs().sum() == 0


def test_encoder_path_tokenizes_raw_text_and_fine_tunes(tiny_bert):
    encoder = TextEncoder(DIMS["text"], encoder=tiny_bert, out_dim=16)
    assert encoder.out_dim == 16 and len(encoder.pretrained_parameters()) > 0
    batch = _batch(["i loved the movie", "boring", "great film", ""], [3, 3, None, 3])
    encoding = encoder(batch)
    # [CLS] i loved the movie [SEP] = 6 tokens. The encoder reads transcripts: a row without token
    # features (row 2, like MOSI's label.csv) has text; only an empty transcript (row 3) is absent.
    assert encoding.mask.sum(1).tolist() == [6, 3, 4, 0]
    assert encoding.present.tolist() == [True, True, True, False]
    assert torch.isfinite(encoding.states).all() and encoding.pooled[3].abs().sum() == 0
    encoding.pooled.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in encoder.pretrained_parameters())


def test_encoder_path_truncates_to_max_tokens(tiny_bert):
    encoder = TextEncoder(DIMS["text"], encoder=tiny_bert, max_tokens=4)
    encoding = encoder(_batch(["i loved the movie so much"], [3]))
    assert encoding.states.shape[1] == 4


def test_missing_checkpoint_offline_names_it_and_suggests_a_local_path():
    with pytest.raises(OSError, match=r"no-such-org/no-such-bert.*local directory"):
        TextEncoder(DIMS["text"], encoder="no-such-org/no-such-bert")
