"""The unified schema, its metadata, and the generic registry."""

from __future__ import annotations

import datasets
import pytest

from msa_bench.util.registry import Registry, import_object
from msa_bench.data.schema import MSAMetadata, feature_dims, unified_features


def test_unified_features_columns_and_dims():
    features = unified_features(768, 5, 20)
    assert list(features) == [
        "id", "video_id", "clip_id", "dataset", "text", "text_features", "audio_features",
        "vision_features", "sentiment", "polarity", "intensity", "emotions", "emotion", "source_labels",
    ]
    assert feature_dims(features) == {"text": 768, "audio": 5, "vision": 20}
    assert features["audio_features"] == datasets.List(datasets.List(datasets.Value("float32"), length=5))


def test_null_features_are_none_in_every_access_path():
    """None means absent: plain rows, slices, numpy and torch formats all say None (an Array2D
    column gave NaN for a null row and failed on slices mixing null and present rows)."""
    import numpy as np

    features = unified_features(3, 2, 2)
    rows = {name: [None, None] for name in features}
    rows.update(id=["a", "b"], text=["", "hi"], audio_features=[None, np.ones((4, 2), dtype=np.float32)])
    dataset = datasets.Dataset.from_dict(rows, features=features)
    assert dataset[0]["audio_features"] is None and dataset[0]["sentiment"] is None
    assert dataset[:2]["audio_features"][0] is None and len(dataset[:2]["audio_features"][1]) == 4
    assert dataset.with_format("numpy")[0]["audio_features"] is None
    assert dataset.with_format("numpy")[1]["audio_features"].shape == (4, 2)
    assert dataset.with_format("torch")[0]["audio_features"] is None


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
