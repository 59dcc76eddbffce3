"""Padded batches, frame masks, presence masks and null labels."""

from __future__ import annotations

import datasets
import numpy as np
import pytest
import torch

from msa_bench import collate, make_dataloader, unified_features
from msa_bench.batching import pad_modality
from msa_bench.loader import TorchDataset
from msa_bench.targets import collate_targets


def _row(key: str, text=None, audio=None, vision=None, sentiment=None, emotions=None, emotion=None) -> dict:
    return {
        "id": key, "video_id": "v", "clip_id": key, "dataset": "test", "text": f"words of {key}",
        "text_features": text, "audio_features": audio, "vision_features": vision,
        "sentiment": sentiment, "polarity": None if sentiment is None else int(np.sign(sentiment)) + 1,
        "intensity": None if sentiment is None else abs(sentiment), "emotions": emotions, "emotion": emotion,
        "source_labels": "{}",
    }


@pytest.fixture()
def rows():
    return [
        _row("a", audio=np.ones((3, 3), np.float32)),
        _row("b", text=np.full((2, 4), 2.0, np.float32), vision=np.arange(10, dtype=np.float32).reshape(5, 2),
             sentiment=-1.2, emotions=[0, 1, 0, 0, 0, 0], emotion=2),
    ]


@pytest.fixture()
def dataset(rows):
    return datasets.Dataset.from_list(rows, features=unified_features(4, 3, 2))


def test_pad_modality_masks_and_presence():
    padded = pad_modality([np.ones((2, 3)), None, np.zeros((4, 3))])
    assert padded.features.shape == (3, 4, 3)
    assert padded.mask.tolist() == [[True, True, False, False], [False] * 4, [True] * 4]
    assert padded.present.tolist() == [True, False, True]
    assert padded.lengths.tolist() == [2, 0, 4]
    assert padded.features[0, 2:].abs().sum() == 0


def test_pad_modality_errors_on_mixed_dims():
    with pytest.raises(ValueError, match="dimensions differ"):
        pad_modality([np.ones((2, 3)), np.ones((2, 4))])


def test_collate_keeps_absent_modalities_and_targets_keep_null_labels(rows):
    batch = collate(rows, dims={"text": 4, "audio": 3, "vision": 2})
    assert batch.ids == ["a", "b"]
    assert batch.text.present.tolist() == [False, True]
    assert batch.audio.present.tolist() == [True, False]
    assert batch.vision.features.shape == (2, 5, 2)
    targets = collate_targets(rows)
    assert targets.ids == batch.ids
    assert torch.isnan(targets.sentiment[0]) and targets.sentiment[1] == pytest.approx(-1.2)
    assert torch.isnan(targets.emotions[0]).all() and targets.emotions[1, 1] == 1
    assert targets.emotion.tolist() == [-1, 2] and targets.polarity.tolist() == [-1, 0]


def test_a_batch_carries_no_label(rows):
    """Models receive a Batch: it has no label field, whatever the rows hold."""
    import dataclasses

    batch = collate(rows)
    assert {f.name for f in dataclasses.fields(batch)} == {"ids", "raw_text", "text", "audio", "vision"}
    for label in ("sentiment", "emotions", "emotion", "polarity"):
        assert not hasattr(batch, label)


def test_absent_in_whole_batch_keeps_the_dimension(rows):
    batch = collate(rows[:1], dims={"text": 4, "audio": 3, "vision": 2})
    assert batch.text.features.shape == (1, 1, 4)
    assert not batch.text.present.any()


def test_torch_format_rows_collate_like_python_rows(dataset, rows):
    dataset.set_format("torch")
    from_torch = collate([dataset[0], dataset[1]], dims={"text": 4, "audio": 3, "vision": 2})
    from_python = collate(rows, dims={"text": 4, "audio": 3, "vision": 2})
    for name, modality in from_torch.modalities():
        expected = from_python.modality(name)
        assert torch.equal(modality.features, expected.features)
        assert torch.equal(modality.present, expected.present)
    assert torch.equal(collate_targets([dataset[0], dataset[1]]).emotion, collate_targets(rows).emotion)


def test_torch_dataset_reads_nulls_from_arrow(dataset):
    rows = TorchDataset(dataset).__getitems__([1, 0])
    assert rows[1]["text_features"] is None and rows[1]["sentiment"] is None
    np.testing.assert_array_equal(rows[0]["vision_features"], np.arange(10).reshape(5, 2))


def test_dataloader_is_seeded_and_covers_every_example(synthetic_small):
    def order(seed):
        return [i for batch, _ in make_dataloader(synthetic_small["train"], 16, shuffle=True, seed=seed) for i in batch.ids]

    first = order(1)
    assert first == order(1) and first != order(2)
    assert sorted(first) == sorted(synthetic_small["train"]["id"])


def test_batch_to_device_and_with_modality(rows):
    batch = collate(rows).to("cpu")
    dropped = batch.with_modality("text", pad_modality([None, None], dim=4))
    assert not dropped.text.present.any() and batch.text.present.any()
    with pytest.raises(KeyError, match="unknown modality"):
        batch.modality("smell")
