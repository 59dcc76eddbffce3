"""The py-feat adapter on py-feat's own real output files, and the missing-weights error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from feature_media import pyfeat_test_data

from msa_bench.features import CheckpointError, build_extractor
from msa_bench.features.pyfeat import (
    AU_COLUMNS,
    EMOTION_COLUMNS,
    LANDMARK_COLUMNS,
    POSE_COLUMNS,
    PYFEAT_COLUMNS,
    PyFeatConfig,
    fex_to_sequence,
    missing_weights,
    read_pyfeat_csv,
)


@pytest.fixture(scope="module")
def video_table() -> pd.DataFrame:
    return pd.read_csv(pyfeat_test_data() / "001.csv")


def test_real_video_output_becomes_one_row_per_frame(video_table):
    sequence = read_pyfeat_csv(pyfeat_test_data() / "001.csv")
    assert sequence.shape == (40, 166) == (len(video_table), len(PYFEAT_COLUMNS))
    assert sequence.dtype == np.float32
    frame = video_table.set_index("frame").loc[7]
    np.testing.assert_allclose(sequence[7, : len(AU_COLUMNS)], frame[AU_COLUMNS].to_numpy(float), rtol=1e-6)
    emotions = sequence[:, len(AU_COLUMNS) : len(AU_COLUMNS) + len(EMOTION_COLUMNS)]
    np.testing.assert_allclose(emotions.sum(axis=1), 1.0, atol=1e-3)  # py-feat's emotions are a softmax
    pose = sequence[:, len(AU_COLUMNS) + len(EMOTION_COLUMNS) : -len(LANDMARK_COLUMNS)]
    np.testing.assert_allclose(pose, video_table[POSE_COLUMNS].to_numpy(float), rtol=1e-6)


def test_image_output_without_frame_order(tmp_path):
    sequence = read_pyfeat_csv(pyfeat_test_data() / "Feat_Test.csv")
    assert sequence.shape == (1, 166) and np.isfinite(sequence).all()


def test_most_confident_face_wins_and_faceless_frames_are_nan(video_table):
    table = video_table.iloc[:3].copy()
    second_face = table.iloc[[1]].copy()
    second_face["FaceScore"] = 0.1
    second_face[AU_COLUMNS] = 0.0
    no_face = table.iloc[[2]].copy()
    no_face[PYFEAT_COLUMNS] = np.nan
    combined = pd.concat([table.iloc[[0, 1]], second_face, no_face], ignore_index=True)
    sequence = fex_to_sequence(combined, n_frames=4)
    assert sequence.shape == (4, 166)
    np.testing.assert_allclose(sequence[1, : len(AU_COLUMNS)], table.iloc[1][AU_COLUMNS].to_numpy(float), rtol=1e-6)
    assert np.isnan(sequence[2]).all() and np.isnan(sequence[3]).all()


def test_a_table_that_is_not_pyfeat_output_is_refused():
    with pytest.raises(ValueError, match="OpenFace_Test.csv: not a py-feat"):
        read_pyfeat_csv(pyfeat_test_data() / "OpenFace_Test.csv")


def test_detector_without_weights_names_them_and_how_to_provide_them():
    if not missing_weights(PyFeatConfig()):
        pytest.skip("py-feat's detector weights are installed here")
    with pytest.raises(CheckpointError) as raised:
        build_extractor("vision", "pyfeat")
    message = str(raised.value)
    assert "py-feat/img2pose/model.safetensors" in message and "py-feat/resmasknet" in message
    assert "resources" in message and "read_pyfeat_csv" in message
