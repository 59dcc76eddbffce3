"""Padded batches, frame masks, presence masks and null labels."""

from __future__ import annotations

import pickle

import datasets
import numpy as np
import pytest
import torch

from msa_bench import collate, make_dataloader, unified_features
from msa_bench.inputs.batching import pad_modality
from msa_bench.inputs.loader import ArrowBatches
from msa_bench.data.targets import collate_targets


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


def test_arrow_batches_read_nulls_and_labels_apart(dataset):
    batch, targets = ArrowBatches(dataset)[[1, 0]]
    assert batch.ids == targets.ids == ["b", "a"]
    assert batch.text.present.tolist() == [True, False] and batch.audio.present.tolist() == [False, True]
    np.testing.assert_array_equal(batch.vision.features[0].numpy(), np.arange(10).reshape(5, 2))
    assert batch.vision.mask[1].tolist() == [False] * 5 and batch.vision.features[1].abs().sum() == 0
    assert targets.sentiment[0] == pytest.approx(-1.2) and torch.isnan(targets.sentiment[1])
    assert targets.emotion.tolist() == [2, -1]


def _random_rows(rng, count: int, start: int) -> list[dict]:
    def sequence(dim):
        return None if rng.random() < 0.2 else rng.standard_normal((int(rng.integers(1, 6)), dim)).astype(np.float32)

    return [_row(f"r{start + k}", text=sequence(4), audio=sequence(3), vision=sequence(2),
                 sentiment=float(rng.uniform(-3, 3))) for k in range(count)]


def test_arrow_batches_equal_collate_over_record_batches_slices_and_shuffles():
    """Batches gathered from Arrow buffers are exactly collate() of the same rows, through
    several record batches, a sliced table and an indices mapping."""
    rng = np.random.default_rng(0)
    features = unified_features(4, 3, 2)
    parts = [datasets.Dataset.from_list(_random_rows(rng, n, 100 * k), features=features) for k, n in enumerate((7, 5, 9))]
    whole = datasets.concatenate_datasets(parts)
    assert len(whole.data.table.to_batches()) == 3
    dims = {"text": 4, "audio": 3, "vision": 2}
    for split in (whole, whole.select(range(3, 18)), whole.shuffle(seed=1), whole.shuffle(seed=2).select([4, 0, 11])):
        batches = ArrowBatches(split)
        order = list(range(len(split)))[::-1]
        batch, targets = batches[order]
        expected = collate([split[i] for i in order], dims)
        assert batch.ids == expected.ids and batch.raw_text == expected.raw_text
        for name, modality in batch.modalities():
            for field in ("features", "mask", "present"):
                assert torch.equal(getattr(modality, field), getattr(expected.modality(name), field)), (name, field)
        assert torch.equal(targets.sentiment, collate_targets([split[i] for i in order]).sentiment)
        again, _ = pickle.loads(pickle.dumps(batches))[order]  # what a spawned worker receives
        assert torch.equal(again.audio.features, batch.audio.features)


def test_arrow_batches_name_a_column_that_is_not_frames(dataset):
    broken = dataset.cast_column("vision_features", datasets.List(datasets.List(datasets.Value("float32"))))
    with pytest.raises(ValueError, match="vision_features.*Arrow type"):
        ArrowBatches(broken)


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
