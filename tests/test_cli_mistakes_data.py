"""Every data mistake through every command that reads data: exit 2, one paragraph on stderr
(no traceback) that names the file or the option. One row per (mistake, command)."""

from __future__ import annotations

from pathlib import Path

import pytest
from real_format_files import write_ravdess_audio
from typer.testing import CliRunner

from msa_bench.cli import app
from msa_bench.loading.load import load_dataset


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))


def folders(root: Path) -> dict[str, Path]:
    """The folders and files the mistakes name, written under ``root``."""
    empty = root / "empty"
    empty.mkdir()
    mosi = root / "mosi"  # a MOSI label table: labels, no features; its video is in MOSI's train fold
    mosi.mkdir()
    (mosi / "label.csv").write_text("id,text,label,mode\n03bSnISJMiM_1,words,1.0,train\n03bSnISJMiM_2,more,-1.0,train\n")
    (mosi / "OpinionLevelSentiment.csv").write_text("0.0,1.0,03bSnISJMiM,1,1.0\n1.0,2.0,03bSnISJMiM,2,-1.0\n")
    ravdess = root / "ravdess"  # RAVDESS recordings: labels, no features
    for actor in (1, 17):
        write_ravdess_audio(ravdess / f"Actor_{actor:02d}" / f"03-01-05-01-01-01-{actor:02d}.wav")
    bad_split = root / "bad_split.csv"
    bad_split.write_text("id,split\nnobody_0,train\n")
    synthetic = load_dataset("synthetic", n_clips=60)
    no_validation = root / "no_validation.csv"  # the synthetic validation videos go to train
    no_validation.write_text("id,split\n" + "".join(f"{i},{'test' if s == 'test' else 'train'}\n" for s in synthetic for i in synthetic[s]["id"]))
    return {
        "ABSENT": root / "absent", "EMPTY": empty, "MOSI": mosi, "RAVDESS": ravdess, "BAD_SPLIT": bad_split,
        "NO_VALIDATION": no_validation, "OUT": root / "out",
    }


EXTRACT = ["--out", "{OUT}", "--audio", "egemaps-functionals"]
TRAIN = ["train", "lf_dnn", "--seed", "1", "--no-robustness", "--workspace", "{OUT}"]

#: (mistake, command line, parts of the message); ``{NAME}`` is a path of :func:`folders`.
MISTAKES = [
    ("misspelt dataset option", ["info", "synthetic", "--dataset-option", "n_clip=100"], ["'n_clip' (did you mean 'n_clips'?)", "split_file"]),
    ("misspelt dataset option", ["export", "synthetic", "{OUT}", "--dataset-option", "n_clip=100"], ["'n_clip' (did you mean 'n_clips'?)"]),
    ("misspelt dataset option", [*TRAIN, "--dataset", "synthetic", "--dataset-option", "n_clip=100"], ["'n_clip' (did you mean 'n_clips'?)"]),
    ("misspelt dataset option", ["info", "ravdess", "--data-dir", "{RAVDESS}", "--dataset-option", "split_schem=speech20"], ["did you mean 'split_scheme'?"]),
    ("data dir that does not exist", ["info", "mosi", "--data-dir", "{ABSENT}"], ["{ABSENT}: no such folder"]),
    ("data dir that does not exist", ["export", "mosi", "{OUT}", "--data-dir", "{ABSENT}"], ["{ABSENT}: no such folder"]),
    ("data dir that does not exist", [*TRAIN, "--dataset", "mosi", "--data-dir", "{ABSENT}"], ["{ABSENT}: no such folder"]),
    ("data dir that does not exist", ["extract", "mosi", "--data-dir", "{ABSENT}", *EXTRACT], ["{ABSENT}: data folder not found"]),
    ("empty data dir", ["info", "mosi", "--data-dir", "{EMPTY}"], ["no CMU-MOSI files found in {EMPTY}"]),
    ("empty data dir", ["export", "ravdess", "{OUT}", "--data-dir", "{EMPTY}"], ["no RAVDESS recordings", "{EMPTY}"]),
    ("empty data dir", [*TRAIN, "--dataset", "mosi", "--data-dir", "{EMPTY}"], ["no CMU-MOSI files found in {EMPTY}"]),
    ("empty data dir", ["extract", "mosi", "--data-dir", "{EMPTY}", *EXTRACT], ["{EMPTY}: no label table"]),
    ("folder of another dataset", ["info", "ravdess", "--data-dir", "{MOSI}"], ["{MOSI} looks like a mosi folder, not ravdess"]),
    ("folder of another dataset", ["info", "mosei", "--data-dir", "{MOSI}"], ["no example of mosei", "{MOSI} looks like a mosi folder"]),
    ("folder of another dataset", ["export", "mosi", "{OUT}", "--data-dir", "{RAVDESS}"], ["{RAVDESS} looks like a ravdess folder, not mosi"]),
    ("folder of another dataset", [*TRAIN, "--dataset", "ravdess", "--data-dir", "{MOSI}"], ["{MOSI} looks like a mosi folder"]),
    ("folder of another dataset", ["extract", "ravdess", "--data-dir", "{MOSI}", *EXTRACT], ["{MOSI}: no clips found", "Actor_XX/", "Feature extraction page"]),
    ("folder of another dataset", ["extract", "mosi", "--data-dir", "{RAVDESS}", *EXTRACT], ["{RAVDESS}: no label table", "did you mean `msa-bench extract ravdess`?"]),
    ("unknown dataset name", ["info", "mosy"], ["unknown dataset 'mosy'", "did you mean 'mosi'"]),
    ("unknown dataset name", ["export", "ravdes", "{OUT}"], ["unknown dataset 'ravdes'", "did you mean 'ravdess'"]),
    ("unknown dataset name", [*TRAIN, "--dataset", "mosy"], ["unknown dataset 'mosy'", "did you mean 'mosi'"]),
    ("data dir for the generated dataset", ["info", "synthetic", "--data-dir", "{EMPTY}"], ["{EMPTY}: the synthetic dataset is generated"]),
    ("bad split file", ["info", "synthetic", "--dataset-option", "split_file={BAD_SPLIT}"], ["{BAD_SPLIT}:", "line 2: nobody_0,train"]),
    ("bad split file", ["export", "synthetic", "{OUT}", "--dataset-option", "split_file={BAD_SPLIT}"], ["{BAD_SPLIT}:", "line 2"]),
    ("bad split file", [*TRAIN, "--dataset", "synthetic", "--dataset-option", "split_file={BAD_SPLIT}"], ["{BAD_SPLIT}:", "line 2"]),
    ("bad validation fraction", ["info", "synthetic", "--dataset-option", "validation_fraction=2"], ["validation_fraction must be a number between 0 and 1"]),
    ("empty validation split", [*TRAIN, "--dataset", "synthetic", "--dataset-option", "n_clips=60", "--dataset-option", "split_file={NO_VALIDATION}"],
     ["validation split is empty", "split scheme: split_file={NO_VALIDATION}", "validation_fraction=0.2", "split_file=ids.csv"]),
    ("labels without features", [*TRAIN, "--dataset", "mosi", "--data-dir", "{MOSI}"], ["labels but no features", "msa-bench extract mosi", "aligned_50.pkl"]),
    ("labels without features", [*TRAIN, "--dataset", "ravdess", "--data-dir", "{RAVDESS}"], ["labels but no features", "msa-bench extract ravdess"]),
]


def fails_in_one_paragraph(args: list[str], expected: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert "WorkerFailed" not in result.output, (
        "the run reached a worker: the harness must call msa_bench.loading.check_trainable before any training\n" + result.output
    )
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output, result.output
    assert "error: " in result.stderr, result.output
    message = result.stderr[result.stderr.index("error: ") :].strip()  # after any progress bars
    assert message and "\n\n" not in message, message
    for part in expected:
        assert part in message, message
    return message


@pytest.mark.parametrize("mistake, args, expected", MISTAKES, ids=[f"{m}: {a[0]}" for m, a, _ in MISTAKES])
def test_each_data_mistake_is_one_paragraph(tmp_path, mistake, args, expected):
    paths = folders(tmp_path)
    args = [arg.format(**paths) for arg in args]
    expected = [part.format(**paths) for part in expected]
    fails_in_one_paragraph(args, expected)


def test_every_row_of_the_table_is_a_mistake_for_a_data_command():
    commands = {(mistake, args[0]) for mistake, args, _ in MISTAKES}
    for mistake in {m for m, _, _ in MISTAKES} - {"empty validation split", "labels without features", "bad validation fraction", "data dir for the generated dataset"}:
        assert {(mistake, command) for command in ("info", "export", "train")} <= commands, mistake
