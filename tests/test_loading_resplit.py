"""Dataset options every dataset takes (``split_file``, ``validation_fraction``), the checks
before training (:func:`msa_bench.loading.check_trainable`) and the data mistakes ``load_dataset``
refuses in one message."""

from __future__ import annotations

from pathlib import Path

import datasets
import pytest
from real_format_files import write_ravdess_audio

from msa_bench.data.schema import msa_metadata
from msa_bench.loading import UntrainableDataError, check_trainable
from msa_bench.loading.load import dataset_options, load_dataset
from msa_bench.loading.resplit import SplitFileError, move_to_validation
from msa_bench.util.errors import ConfigError, MissingFileError, UserError

N_CLIPS = 60


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def synthetic() -> datasets.DatasetDict:
    return load_dataset("synthetic", n_clips=N_CLIPS)


def all_ids(dataset: datasets.DatasetDict) -> list[str]:
    return [id_ for split in ("train", "validation", "test") for id_ in dataset[split]["id"]]


def write_split_file(path: Path, assignment: dict[str, str], header: str = "id,split") -> Path:
    path.write_text(header + "\n" + "".join(f"{id_},{split}\n" for id_, split in assignment.items()), encoding="utf-8")
    return path


def test_split_file_assigns_every_example(synthetic, tmp_path):
    ids = sorted(all_ids(synthetic))
    names = ("train", "dev", "test")  # "dev" and "valid" are read as validation, as in the sources
    assignment = {id_: names[k % 3] for k, id_ in enumerate(ids)}
    split = load_dataset("synthetic", n_clips=N_CLIPS, split_file=str(write_split_file(tmp_path / "ids.csv", assignment)))
    assert sorted(split["train"]["id"]) == [i for i, s in assignment.items() if s == "train"]
    assert sorted(split["validation"]["id"]) == [i for i, s in assignment.items() if s == "dev"]
    assert sorted(split["test"]["id"]) == [i for i, s in assignment.items() if s == "test"]
    report = msa_metadata(split["test"]).report
    assert report["resplit"]["split_file"] == str(tmp_path / "ids.csv") and report["resplit"]["from"] == "by video, as generated"
    assert report["split_scheme"] == f"split_file=ids.csv sha256:{report['resplit']['sha256']}"  # what records name
    assert report["examples"] == {"train": 20, "validation": 20, "test": 20}
    # the features travel with their rows
    row = split["validation"][0]
    original = next(r for s in synthetic.values() for r in s if r["id"] == row["id"])
    assert row["audio_features"] == original["audio_features"] and row["sentiment"] == original["sentiment"]


@pytest.mark.parametrize(
    "mistake, expected",
    [
        ("unknown split", ["line 2: {first},training", "a split other than train"]),
        ("unknown id", ["line 62: nobody_0,train", "not in the dataset"]),
        ("repeated id", ["line 62: {first},test", "repeat an id"]),
        ("missing ids", ["2 example(s) of the dataset are not listed", "{first}"]),
        ("no header", ["a header line with the columns id,split"]),
    ],
)
def test_split_file_mistakes_name_the_file_and_the_lines(synthetic, tmp_path, mistake, expected):
    ids = sorted(all_ids(synthetic))
    assignment = {id_: "train" for id_ in ids}
    path = tmp_path / "ids.csv"
    if mistake == "unknown split":
        assignment[ids[0]] = "training"
    if mistake == "missing ids":
        del assignment[ids[0]], assignment[ids[1]]
    write_split_file(path, assignment, header="video,part" if mistake == "no header" else "id,split")
    if mistake in ("unknown id", "repeated id"):
        with path.open("a") as handle:
            handle.write("nobody_0,train\n" if mistake == "unknown id" else f"{ids[0]},test\n")
    with pytest.raises(SplitFileError) as caught:
        load_dataset("synthetic", n_clips=N_CLIPS, split_file=str(path))
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    for part in expected:
        assert part.format(first=ids[0]) in message, message


def test_a_split_file_that_does_not_exist(tmp_path):
    with pytest.raises(MissingFileError, match="absent.csv: split file not found"):
        load_dataset("synthetic", n_clips=N_CLIPS, split_file=str(tmp_path / "absent.csv"))


def test_validation_fraction_moves_whole_videos_deterministically(synthetic):
    moved = load_dataset("synthetic", n_clips=N_CLIPS, validation_fraction=0.3)
    again = load_dataset("synthetic", n_clips=N_CLIPS, validation_fraction=0.3)
    assert moved["validation"]["id"] == again["validation"]["id"]
    assert moved["train"]._fingerprint == again["train"]._fingerprint != synthetic["train"]._fingerprint
    assert moved["test"]["id"] == synthetic["test"]["id"]
    assert sorted(all_ids(moved)) == sorted(all_ids(synthetic))
    train_videos, validation_videos = set(moved["train"]["video_id"]), set(moved["validation"]["video_id"])
    assert not train_videos & validation_videos
    new = [v for v in validation_videos if v not in set(synthetic["validation"]["video_id"])]
    assert msa_metadata(moved).report["split_scheme"] == "default+validation_fraction=0.3"
    report = msa_metadata(moved).report["resplit"]
    assert sorted(new) == report["moved_to_validation"] and new
    sizes = {v: list(synthetic["train"]["video_id"]).count(v) for v in set(synthetic["train"]["video_id"])}
    assert abs(report["examples_moved"] - 0.3 * len(synthetic["train"])) <= max(sizes.values())
    assert len(moved["train"]) + report["examples_moved"] == len(synthetic["train"])


@pytest.mark.parametrize("fraction", [0, 1, 1.5, -0.2, "half", True])
def test_validation_fraction_out_of_range(fraction):
    with pytest.raises(ConfigError, match="validation_fraction must be a number between 0 and 1"):
        load_dataset("synthetic", n_clips=N_CLIPS, validation_fraction=fraction)


def test_validation_fraction_needs_two_groups_in_train(synthetic, tmp_path):
    one_video = synthetic["train"][0]["video_id"]
    assignment = {id_: "train" if id_.startswith(one_video + "_") else "test" for id_ in all_ids(synthetic)}
    split = load_dataset("synthetic", n_clips=N_CLIPS, split_file=str(write_split_file(tmp_path / "ids.csv", assignment)))
    with pytest.raises(UserError, match=f"one group \\({one_video}\\).*split_file"):
        move_to_validation(split, 0.5)


def test_split_file_and_validation_fraction_are_not_combined(tmp_path):
    with pytest.raises(ConfigError, match="cannot be combined"):
        load_dataset("synthetic", n_clips=N_CLIPS, split_file=str(tmp_path / "ids.csv"), validation_fraction=0.2)


def test_every_dataset_takes_the_split_options():
    for name in ("synthetic", "mosi", "mosei", "ravdess"):
        assert {"split_file", "validation_fraction"} <= set(dataset_options(name))


def test_check_trainable_refuses_an_empty_validation_split_naming_the_scheme(synthetic, tmp_path):
    assignment = {id_: "test" if id_ in set(synthetic["test"]["id"]) else "train" for id_ in all_ids(synthetic)}
    path = write_split_file(tmp_path / "ids.csv", assignment)
    split = load_dataset("synthetic", n_clips=N_CLIPS, split_file=str(path))
    with pytest.raises(UntrainableDataError) as caught:
        check_trainable(split, "synthetic", {"split_file": str(path)})
    message = str(caught.value)
    for part in ("validation split is empty", f"split scheme: split_file={path}", "validation_fraction=", "split_file=ids.csv"):
        assert part in message, message
    check_trainable(load_dataset("synthetic", n_clips=N_CLIPS), "synthetic")  # the default splits train


def test_check_trainable_allows_an_empty_test_split(synthetic, tmp_path):
    assignment = {id_: "train" if id_ in set(synthetic["train"]["id"]) else "validation" for id_ in all_ids(synthetic)}
    split = load_dataset("synthetic", n_clips=N_CLIPS, split_file=str(write_split_file(tmp_path / "ids.csv", assignment)))
    assert len(split["test"]) == 0
    check_trainable(split, "synthetic")


def test_check_trainable_refuses_an_empty_training_split(synthetic, tmp_path):
    assignment = {id_: "test" for id_ in all_ids(synthetic)}
    split = load_dataset("synthetic", n_clips=N_CLIPS, split_file=str(write_split_file(tmp_path / "ids.csv", assignment)))
    with pytest.raises(UntrainableDataError, match="training split is empty .*split_file=ids.csv"):
        check_trainable(split, "synthetic")


def ravdess_recordings(root: Path, actors: tuple[int, ...]) -> Path:
    for actor in actors:
        for emotion in (1, 5):
            for statement in (1, 2):
                write_ravdess_audio(root / f"Actor_{actor:02d}" / f"03-01-{emotion:02d}-01-{statement:02d}-01-{actor:02d}.wav")
    return root


def test_check_trainable_refuses_labels_without_features(tmp_path):
    labels_only = load_dataset("ravdess", data_dir=ravdess_recordings(tmp_path / "ravdess", (1, 17)))
    with pytest.raises(UntrainableDataError) as caught:
        check_trainable(labels_only, "ravdess")
    message = str(caught.value)
    for part in ("labels but no features", "msa-bench extract ravdess", "Getting features"):
        assert part in message, message


def test_two_actors_validation_fraction_on_built_ravdess(tmp_path):
    root = ravdess_recordings(tmp_path / "ravdess", (1, 2))
    built = load_dataset("ravdess", data_dir=root, split_scheme="speech20")
    assert [len(built[s]) for s in ("train", "validation", "test")] == [8, 0, 0]
    split = load_dataset("ravdess", data_dir=root, split_scheme="speech20", validation_fraction=0.5)
    assert {len(set(split[s]["video_id"])) for s in ("train", "validation")} == {1}
    assert set(split["train"]["video_id"]) | set(split["validation"]["video_id"]) == {"Actor_01", "Actor_02"}


def test_a_misspelt_option_names_the_valid_ones():
    with pytest.raises(ConfigError) as caught:
        load_dataset("synthetic", n_clip=100)
    message = str(caught.value)
    for part in ("'n_clip' (did you mean 'n_clips'?)", "n_clips, seed", "split_file, validation_fraction"):
        assert part in message, message


def test_data_dir_mistakes(tmp_path):
    with pytest.raises(MissingFileError, match="absent: no such folder"):
        load_dataset("mosi", data_dir=tmp_path / "absent")
    with pytest.raises(ConfigError, match="generated in code and reads no files"):
        load_dataset("synthetic", data_dir=tmp_path)
    with pytest.raises(UserError, match="moud has no builder.*msa-bench extract moud"):
        load_dataset("moud")


def test_a_folder_of_another_dataset_says_which(tmp_path):
    ravdess = ravdess_recordings(tmp_path / "ravdess", (1,))
    with pytest.raises(UserError, match="looks like a ravdess folder, not mosi"):
        load_dataset("mosi", data_dir=ravdess)
    mosi = tmp_path / "mosi"
    mosi.mkdir()
    (mosi / "label.csv").write_text("id,text,label,mode\n03bSnISJMiM_1,words,1.0,train\n03bSnISJMiM_2,more,-1.0,test\n")
    (mosi / "OpinionLevelSentiment.csv").write_text("0.0,1.0,03bSnISJMiM,1,1.0\n1.0,2.0,03bSnISJMiM,2,-1.0\n")
    with pytest.raises(UserError) as caught:  # MOSI's videos are in no MOSEI fold: no example anywhere
        load_dataset("mosei", data_dir=mosi)
    message = str(caught.value)
    for part in ("no example of mosei was found in any split", "excluded in no split: 2", "looks like a mosi folder"):
        assert part in message, message
