"""The unified schema, its metadata, and the generic registry."""

from __future__ import annotations

import datasets
import pytest

from msa_bench.registry import Registry, import_object
from msa_bench.schema import MSAMetadata, feature_dims, unified_features


def test_unified_features_columns_and_dims():
    features = unified_features(768, 5, 20)
    assert list(features) == [
        "id", "video_id", "clip_id", "dataset", "text", "text_features", "audio_features",
        "vision_features", "sentiment", "polarity", "intensity", "emotions", "emotion", "source_labels",
    ]
    assert feature_dims(features) == {"text": 768, "audio": 5, "vision": 20}
    assert isinstance(features["audio_features"], datasets.Array2D)
    assert features["audio_features"].shape == (None, 5)


@pytest.mark.parametrize("bad", [0, -3, 2.5])
def test_unified_features_rejects_bad_dims(bad):
    with pytest.raises(ValueError, match="audio_dim"):
        unified_features(10, bad, 10)


def test_metadata_round_trips_through_dataset_info():
    metadata = MSAMetadata("glove", "covarep", "facet", 300, 74, 35, provenance={"x": 1}, report={"excluded": 2})
    info = datasets.DatasetInfo(description=metadata.to_description())
    assert MSAMetadata.from_info(info) == metadata
    with pytest.raises(ValueError, match="no msa_bench"):
        MSAMetadata.from_info(datasets.DatasetInfo(description="plain"))


def test_registry_lazy_entries_and_did_you_mean():
    registry = Registry("thing")
    registry.register("ordered", "collections:OrderedDict")

    @registry.register("mine")
    class Mine:
        pass

    from collections import OrderedDict

    assert registry.get("ordered") is OrderedDict
    assert registry.get("mine") is Mine
    assert registry.get("collections:Counter").__name__ == "Counter"
    with pytest.raises(KeyError, match="did you mean 'mine'"):
        registry.get("mien")
    with pytest.raises(ValueError, match="already registered"):
        registry.register("mine", object())


def test_import_object_from_a_file(tmp_path):
    path = tmp_path / "user_model.py"
    path.write_text("class Thing:\n    value = 7\n")
    assert import_object(f"{path}:Thing").value == 7
    with pytest.raises(FileNotFoundError, match="no such file"):
        import_object(f"{tmp_path / 'absent.py'}:Thing")
    with pytest.raises(AttributeError, match="no attribute 'Other'"):
        import_object(f"{path}:Other")
