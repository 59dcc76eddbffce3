"""SDK computational sequences: lazy reading, segment cuts, word alignment, label sequences, bad files."""

import numpy as np
import pytest
from real_format_files import frame_sequence, word_sequence, write_csd

from msa_bench.sources.common import SourceFileError
from msa_bench.sources.csd import ComputationalSequence, average_over_words, read_label_sequence


@pytest.fixture
def covarep(tmp_path):
    videos = {"vidA": frame_sequence(20, 4, 0.1, seed=1), "vidB": frame_sequence(5, 4, 0.1, seed=2)}
    return write_csd(tmp_path / "covarep.csd", "COVAREP", videos, {"root name": "COVAREP", "dimension names": '["F0","VUV","NAQ","QOQ"]'}), videos


def test_reads_metadata_dims_and_one_video(covarep):
    path, videos = covarep
    with ComputationalSequence(path) as sequence:
        assert sequence.name == "COVAREP"
        assert sequence.dim == 4
        assert sorted(sequence.video_ids()) == ["vidA", "vidB"]
        assert sequence.metadata["dimension names"] == ["F0", "VUV", "NAQ", "QOQ"]
        intervals, features = sequence.video("vidB")
        np.testing.assert_array_equal(features, videos["vidB"][0])
        np.testing.assert_array_equal(intervals, videos["vidB"][1])


def test_segment_keeps_frames_overlapping_the_interval(covarep):
    path, videos = covarep
    with ComputationalSequence(path) as sequence:
        cut = sequence.segment("vidA", 0.25, 0.6)
    # frames are [0.1k, 0.1(k+1)]: those overlapping [0.25, 0.6] are k = 2..5
    np.testing.assert_array_equal(cut, videos["vidA"][0][2:6])


def test_words_drop_silence_and_alignment_averages_frames(tmp_path, covarep):
    path, videos = covarep
    words_path = write_csd(tmp_path / "words.csd", "words", {"vidA": word_sequence(["sp", "good", "movie", "sp"], step=0.5)})
    with ComputationalSequence(words_path) as words, ComputationalSequence(path) as sequence:
        tokens, intervals = words.words("vidA", 0.0, 2.0)
        assert tokens == ["good", "movie"]
        aligned, empty = average_over_words(sequence, "vidA", intervals)
    frames = videos["vidA"][0]
    np.testing.assert_allclose(aligned[0], frames[5:10].mean(axis=0), rtol=1e-6)  # word 0.5-1.0 s
    np.testing.assert_allclose(aligned[1], frames[10:15].mean(axis=0), rtol=1e-6)  # word 1.0-1.5 s
    assert empty == 0


def test_word_without_frames_is_zero_and_counted(tmp_path, covarep):
    path, _ = covarep
    with ComputationalSequence(path) as sequence:
        aligned, empty = average_over_words(sequence, "vidB", np.array([[0.0, 0.2], [5.0, 6.0]]))
    assert empty == 1 and not aligned[1].any() and aligned[0].any()


def test_label_sequences_mosi_and_mosei(tmp_path):
    mosi = write_csd(tmp_path / "mosi.csd", "Opinion Segment Labels", {"v": (np.array([[2.4], [-1.0]]), [[1.0, 3.0], [3.0, 5.5]])})
    mosei_values = np.array([[1.0, 0.5, 0.0, 0.0, 0.3333, 0.0, 1.0]])
    mosei = write_csd(tmp_path / "mosei.csd", "All Labels", {"w": (mosei_values, [[0.0, 2.0]])})
    with ComputationalSequence(mosi) as sequence:
        segments = read_label_sequence(sequence, clip_base=1)
    assert [(s.id, s.sentiment, s.start, s.end, s.emotions) for s in segments] == [
        ("v_1", 2.4, 1.0, 3.0, None),
        ("v_2", -1.0, 3.0, 5.5, None),
    ]
    with ComputationalSequence(mosei) as sequence:
        (segment,) = read_label_sequence(sequence, clip_base=0)
    assert segment.id == "w_0"
    assert segment.emotions == {"happy": 0.5, "sad": 0.0, "anger": 0.0, "surprise": 0.3333, "disgust": 0.0, "fear": 1.0}


def test_label_sequence_with_wrong_width_is_refused(tmp_path):
    path = write_csd(tmp_path / "bad.csd", "labels", {"v": (np.zeros((1, 3)), [[0.0, 1.0]])})
    with ComputationalSequence(path) as sequence, pytest.raises(SourceFileError, match="3 columns"):
        read_label_sequence(sequence, clip_base=0)


def test_truncated_hdf5_names_the_file(tmp_path, covarep):
    path, _ = covarep
    truncated = tmp_path / "truncated.csd"
    truncated.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(SourceFileError, match="truncated.csd.*not a readable HDF5"):
        ComputationalSequence(truncated)


def test_hdf5_without_sdk_groups_is_refused(tmp_path):
    import h5py

    with h5py.File(tmp_path / "plain.h5", "w") as handle:
        handle.create_dataset("x", data=[1, 2])
    with pytest.raises(SourceFileError, match="not a computational sequence"):
        ComputationalSequence(tmp_path / "plain.h5")
