"""MMSA pickles: restricted loading (a malicious pickle is refused), splits, ids, trimming."""

import os
import pickle

import numpy as np
import pytest
from real_format_files import mmsa_split, write_pickle

from msa_bench.sources.common import SourceFileError
from msa_bench.sources.mmsa_pickle import MMSAPickle, restricted_load


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_malicious_pickle_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "pwned"
    path = write_pickle(tmp_path / "aligned_50.pkl", {"train": {"id": _RunsCode(str(marker))}})
    with pytest.raises(SourceFileError, match=r"aligned_50.pkl: refusing to load posix.mkdir|refusing to load os.mkdir"):
        restricted_load(path)
    assert not marker.exists()
    pickle.load(open(path, "rb"))  # the same file with the plain unpickler runs the code
    assert marker.exists()


def test_arrays_scalars_and_containers_load(tmp_path):
    data = {"a": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.array(["x", "y"], dtype=object), "f": np.float32(1.5), "l": [1, (2, 3)]}
    for protocol in (2, 4, 5):
        path = tmp_path / f"p{protocol}.pkl"
        path.write_bytes(pickle.dumps(data, protocol=protocol))
        loaded = restricted_load(path)
        np.testing.assert_array_equal(loaded["a"], data["a"])
        assert list(loaded["s"]) == ["x", "y"] and loaded["f"] == np.float32(1.5) and loaded["l"] == [1, (2, 3)]


def test_truncated_pickle_is_a_clear_error(tmp_path):
    path = write_pickle(tmp_path / "unaligned_50.pkl", {"train": {"id": np.arange(1000)}})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SourceFileError, match="unaligned_50.pkl: not a readable pickle"):
        restricted_load(path)


def test_missing_split_is_named(tmp_path):
    part = mmsa_split(["v$_$1"], aligned=True, seed=0)
    path = write_pickle(tmp_path / "aligned_50.pkl", {"train": part, "test": part})
    with pytest.raises(SourceFileError, match=r"aligned_50.pkl: missing split\(s\) \['valid'\]"):
        MMSAPickle(path)


def test_unaligned_examples_are_trimmed_to_their_lengths(tmp_path):
    parts = {k: mmsa_split([f"vid{k}$_$1", f"vid{k}$_$2"], aligned=False, seed=s) for s, k in enumerate(("train", "valid", "test"))}
    source = MMSAPickle(write_pickle(tmp_path / "unaligned_50.pkl", parts))
    assert not source.aligned and source.dims() == {"text": 768, "audio": 5, "vision": 20}
    (segment, features), _ = list(source.examples("validation"))
    part = parts["valid"]
    assert (segment.video_id, segment.clip_id, segment.split, segment.text) == ("vidvalid", "1", "validation", "utterance 0")
    assert segment.sentiment == pytest.approx(float(part["regression_labels"][0]))
    assert segment.source_labels["regression_labels_T"] == pytest.approx(float(part["regression_labels_T"][0]))
    text_length = int(part["text_bert"][0][1].sum())
    np.testing.assert_array_equal(features["text"], part["text"][0][:text_length])
    np.testing.assert_array_equal(features["audio"], part["audio"][0][: part["audio_lengths"][0]])
    np.testing.assert_array_equal(features["vision"], part["vision"][0][: part["vision_lengths"][0]])


def test_aligned_audio_and_vision_follow_the_text_length(tmp_path):
    part = mmsa_split(["v$_$3"], aligned=True, seed=4)
    source = MMSAPickle(write_pickle(tmp_path / "aligned_50.pkl", {"train": part, "valid": part, "test": part}))
    ((_, features),) = list(source.examples("train"))
    length = int(part["text_bert"][0][1].sum())
    assert source.aligned
    assert {m: len(f) for m, f in features.items()} == {"text": length, "audio": length, "vision": length}
