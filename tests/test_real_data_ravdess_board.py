"""The pieces of the real RAVDESS board (``datasets_scripts/ravdess/real_board.py``) that need no
real data: 100 ms pooling of the LLD frames (recorded in the metadata) and which models the board
leaves out because they read none of the dataset's modalities."""

from __future__ import annotations

import dataclasses
import importlib

import datasets
import numpy as np
import pytest

from msa_bench.models import model_names, models_without_input
from msa_bench.data.schema import MSAMetadata, msa_metadata, unified_features



@pytest.fixture(scope="module")
def board_script():
    """The board script, imported as a module."""
    return importlib.import_module("datasets_scripts.ravdess.real_board")


@pytest.fixture
def speech_board() -> datasets.DatasetDict:
    """Two audio-only clips of 23 and 10 frames of 2 features, with msa_bench metadata."""
    metadata = MSAMetadata(text="none", audio="egemaps-lld", vision="none", text_dim=1, audio_dim=2, vision_dim=1)
    frames = [np.arange(46, dtype=np.float32).reshape(23, 2), np.ones((10, 2), dtype=np.float32)]
    features = unified_features(1, 2, 1)
    rows = {name: [None, None] for name in features}
    rows.update(id=["a", "b"], audio_features=[f.tolist() for f in frames], emotion=[1, 2])
    split = datasets.Dataset.from_dict(rows, features=features,
                                       info=datasets.DatasetInfo(description=metadata.to_description(), features=features))
    return datasets.DatasetDict(train=split)


def test_pool_frames_averages_windows_and_keeps_a_short_last_one(board_script):
    frames = np.arange(46, dtype=np.float32).reshape(23, 2)
    pooled = board_script.pool_frames(frames, 10)
    np.testing.assert_allclose(pooled, [frames[:10].mean(0), frames[10:20].mean(0), frames[20:].mean(0)])


def test_pooled_board_pools_audio_and_says_so_in_its_metadata(board_script, speech_board):
    pooled = board_script.pooled(speech_board, 10)
    assert [len(f) for f in pooled["train"]["audio_features"]] == [3, 1]
    assert msa_metadata(pooled["train"]) == dataclasses.replace(
        msa_metadata(speech_board["train"]), audio="egemaps-lld, mean of 10-frame windows")


def test_board_leaves_out_exactly_the_models_without_audio(board_script, speech_board):
    modalities = board_script.dataset_modalities(speech_board["train"])
    assert modalities == ("audio",)
    left_out = models_without_input(model_names(), modalities)
    assert sorted(left_out) == ["text_only", "vision_only", "vtaf"]
    assert left_out["vtaf"] == "reads text, vision; the dataset has only audio"
