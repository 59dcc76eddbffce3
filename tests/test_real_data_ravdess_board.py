"""The pieces of the real RAVDESS board (``datasets_scripts/ravdess/real_board.py``) that need no
real data: its two feature sets, the Whisper reference's clip summary, and which models the board
leaves out because they read none of the dataset's modalities. (Its data path, the CLI's exactly,
is tested on real recordings in ``test_ravdess_pooling.py``.)"""

from __future__ import annotations

import importlib

import datasets
import numpy as np
import pytest

from msa_bench.models import model_names, models_without_input
from msa_bench.data.schema import MSAMetadata, unified_features


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


def test_whisper_reference_summarises_a_clip_by_mean_and_std_over_time(board_script):
    frames = np.array([[1.0, 10.0], [3.0, 10.0]])
    np.testing.assert_allclose(board_script.mean_and_std(frames), [2.0, 10.0, 1.0, 0.0])


def test_both_feature_sets_pool_their_frames_and_name_their_entries_apart(board_script):
    egemaps, whisper = board_script.FEATURE_SETS["egemaps"], board_script.FEATURE_SETS["whisper"]
    assert (egemaps.audio, egemaps.pool_ms, egemaps.variant) == ("egemaps-lld", 100, None)
    assert (whisper.audio, whisper.variant) == ("whisper-base", "whisper-base") and whisper.pool_ms
    assert egemaps.reference != whisper.reference


def test_board_leaves_out_exactly_the_models_without_audio(board_script, speech_board):
    modalities = board_script.dataset_modalities(speech_board["train"])
    assert modalities == ("audio",)
    left_out = models_without_input(model_names(), modalities)
    assert sorted(left_out) == ["text_only", "vision_only", "vtaf"]
    assert left_out["vtaf"] == "reads text, vision; the dataset has only audio"
