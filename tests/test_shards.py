"""What a worker's data shards hold: inputs, labels only where allowed, nothing naming a source."""

from __future__ import annotations

import datasets

from msa_bench.harness.shards import LABEL_COLUMNS, SOURCE_COLUMNS, content_order, write_shard


def _ravdess_like(split: datasets.Dataset) -> datasets.Dataset:
    """Rows whose ids and source columns spell the label, as RAVDESS file names do."""
    return split.map(lambda row, k: {
        "id": f"Actor_01_03-01-0{k % 8 + 1}-01-01-01-01", "clip_id": f"03-01-0{k % 8 + 1}-01-01-01-01",
        "video_id": "Actor_01", "source_labels": f"emotion={k % 8}",
    }, with_indices=True)


def test_a_test_shard_holds_inputs_only_under_opaque_ids(synthetic_small, tmp_path):
    split = _ravdess_like(synthetic_small["test"])
    order = content_order(split)
    ids = write_shard(split, tmp_path, "test", labels=False, order=order)
    shard = datasets.load_from_disk(str(tmp_path / "test"))
    assert ids == [split["id"][k] for k in order]  # the harness keeps the map back to dataset ids
    assert shard["id"] == [f"t{k:06d}" for k in range(len(split))]
    for column in (*SOURCE_COLUMNS, *LABEL_COLUMNS):
        assert set(shard[column]) == {None}, column
    assert shard["text"] == [split["text"][k] for k in order]
    assert shard["audio_features"][0] == split["audio_features"][order[0]]
    assert shard.info.description in ("", None)  # no dataset metadata (source files, report)


def test_training_shards_keep_labels_and_order_but_no_source(synthetic_small, tmp_path):
    split = _ravdess_like(synthetic_small["train"])
    ids = write_shard(split, tmp_path, "train", labels=True)
    shard = datasets.load_from_disk(str(tmp_path / "train"))
    assert ids == split["id"] and shard["id"][:2] == ["r000000", "r000001"]
    assert shard["sentiment"] == split["sentiment"] and shard["emotion"] == split["emotion"]
    assert set(shard["clip_id"]) == {None} and set(shard["source_labels"]) == {None}


def test_the_test_order_depends_on_the_inputs_only(synthetic_small):
    test = synthetic_small["test"]
    shuffled = test.shuffle(seed=3)
    by_id = lambda split, order: [split["id"][k] for k in order]  # noqa: E731
    assert by_id(test, content_order(test)) == by_id(shuffled, content_order(shuffled))
    assert content_order(test) != list(range(len(test)))
