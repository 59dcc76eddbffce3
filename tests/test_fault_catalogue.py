"""The fault catalogue of issue 27, one row per case, each run through the command line.

Every row makes small real-format files in ``tmp_path``, damages them the way the catalogue did,
runs one ``msa-bench`` command and asserts what the issue asks: the exit status; for a failure,
one paragraph on stderr naming the file and the problem and no traceback; and nothing lost or
silently wrong, by comparing the data with a clean run. Interruptions (SIGKILL, Ctrl-C) run the
command in a subprocess (:data:`INTERRUPTIONS`). A full disk or a read-only file system is
simulated by a write that fails with ``ENOSPC`` / ``EROFS`` after writing part of its file, as a
real one does.

To add a case: write a function ``(tmp_path, monkeypatch) -> Case`` that prepares the files and
returns the command and its checks, and add a :class:`Fault` row to :data:`FAULTS`.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import h5py
import numpy as np
import pandas as pd
import pytest
import soundfile
from real_format_files import mmsa_split, write_csd, write_pickle, write_ravdess_audio
from typer.testing import CliRunner

import msa_bench
from msa_bench.cli import app
from msa_bench.features import extract, load_extracted
from msa_bench.sources.cmu import standard_folds

MMSA_HEADER = "video_id,clip_id,text,label,label_T,label_A,label_V,annotation,mode\n"


# ---- running a case -------------------------------------------------------------------------
@dataclass
class Case:
    """One command and what must hold after it."""

    #: ``msa-bench`` arguments.
    args: list
    #: Expected exit status: 0 (handled), 2 (a user error), 1 (``extract`` with nothing extracted).
    exit_code: int = 2
    #: Parts of the one error paragraph: the file and the problem (when ``exit_code`` is not 0).
    names: tuple[str, ...] = ()
    #: Nothing lost and nothing silently wrong: compares the data with a clean run.
    check: Callable[[object], None] = field(default=lambda result: None)


@dataclass(frozen=True)
class Fault:
    """A row of the catalogue: its name, the issue's words for it, and how to make the case."""

    name: str
    issue: str
    make: Callable[[Path, pytest.MonkeyPatch], Case]


def msa_bench_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def error_paragraph(result) -> str:
    """The message after ``error: `` on stderr, checked to be one paragraph."""
    assert "error: " in result.stderr, result.output
    message = result.stderr[result.stderr.index("error: ") :].strip()  # after any progress bars
    assert "\n\n" not in message, message
    return message


def replace_keeping_size_and_time(path: Path, content: bytes) -> None:
    """Put other bytes of the same size at ``path`` and give it back its modification time."""
    stat = path.stat()
    assert len(content) == stat.st_size
    path.write_bytes(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def fail_half_way(monkeypatch, owner: object, method: str, code: int) -> None:
    """``owner.method(path, ...)`` writes part of its file (or of a shard in its folder), then
    fails with OS error ``code`` naming no file, as ``write()`` on a full disk does."""

    def half_written(self, path, *args, **kwargs):
        target = Path(path)
        if target.is_dir():  # save_to_disk writes into a folder
            target = target / "data-00000-of-00001.arrow"
        target.write_bytes(b"half a file")
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(owner, method, half_written)


# ---- small real-format sources ----------------------------------------------------------------
def tone(path: Path, frequency: float, seconds: float = 0.6) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * 16000)) / 16000
    soundfile.write(path, (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32), 16000)
    return path


def clip_folder(root: Path, n: int = 3) -> Path:
    """An MMSA-FET clip folder: ``label.csv`` and one WAV per clip in ``Raw/v/``."""
    for k in range(n):
        tone(root / "Raw" / "v" / f"{k}.wav", 220 + 55 * k)
    rows = "".join(f"v,{k},words {k},{k - 1}.0,1,1,1,Positive,{('train', 'valid', 'test')[k % 3]}\n" for k in range(n))
    (root / "label.csv").write_text(MMSA_HEADER + rows)
    return root


def mmsa_pickle_folder(root: Path, test_nan: bool = False) -> Path:
    """An MMSA ``aligned_50.pkl`` of three splits (a NaN test label with ``test_nan``)."""
    root.mkdir(parents=True)
    parts = {split: mmsa_split([f"{split}{k}$_${k}" for k in range(4)], aligned=True, seed=s, dims=(4, 3, 2)) for s, split in enumerate(("train", "valid", "test"))}
    if test_nan:
        parts["test"]["regression_labels"][0] = np.nan
    write_pickle(root / "aligned_50.pkl", parts)
    return root


def mosi_sdk_folder(root: Path, features_last: bool = True, videos_per_split: int = 4) -> Path:
    """CMU-MOSI SDK files: labels (two segments per video) and COVAREP, with its feature arrays
    last in the file (``features_last``: the file's tail holds the last videos' frames) or each
    beside its video's entry (a damaged tail reaches the file's structure)."""
    root.mkdir(parents=True)
    videos = [v for split in ("train", "validation", "test") for v in standard_folds("mosi")[split][:videos_per_split]]
    write_csd(root / "CMU_MOSI_Opinion_Labels.csd", "Opinion Segment Labels", {v: (np.array([[1.5], [-0.5]]), [[0.0, 1.0], [1.0, 2.0]]) for v in videos})
    rng = np.random.default_rng(0)
    if not features_last:
        frames = {v: (rng.standard_normal((200, 20)).astype("f4"), [[k * 0.01, (k + 1) * 0.01] for k in range(200)]) for v in videos}
        write_csd(root / "CMU_MOSI_COVAREP.csd", "COVAREP", frames)
        return root
    with h5py.File(root / "CMU_MOSI_COVAREP.csd", "w") as handle:
        group = handle.create_group("COVAREP")
        data = group.create_group("data")
        for video in videos:
            data.create_group(video).create_dataset("intervals", data=np.array([[k * 0.01, (k + 1) * 0.01] for k in range(200)]))
            data[video].create_dataset("features", shape=(200, 20), dtype="f4")  # storage allocated at the write below
        group.create_group("metadata").create_dataset("root name", (1,), dtype=h5py.special_dtype(vlen=str))[0] = "COVAREP"
        for video in videos:
            data[video]["features"][...] = rng.standard_normal((200, 20)).astype("f4")
    return root


def zero_tail(path: Path, fraction: float) -> None:
    data = bytearray(path.read_bytes())
    start = int(len(data) * (1 - fraction))
    data[start:] = bytes(len(data) - start)
    path.write_bytes(bytes(data))


def faststart_mp4(path: Path, seconds: float = 7.5) -> Path:
    """A 160x120 H.264 + AAC clip with its index first ("faststart"), made by the ffmpeg binary."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (apt-get install -y ffmpeg)")
    path.parent.mkdir(parents=True, exist_ok=True)
    command = ["ffmpeg", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25"]
    command += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", str(seconds)]
    command += ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-movflags", "+faststart", str(path)]
    subprocess.run(command, check=True)
    return path


def features_of(dataset, modality: str = "audio") -> dict[str, np.ndarray | None]:
    """Features per row id across every split (``None`` for a missing modality)."""
    return {
        row["id"]: None if row[f"{modality}_features"] is None else np.asarray(row[f"{modality}_features"], dtype=np.float32)
        for split in dataset.values()
        for row in split
    }


def assert_same_features(got, expected, modality: str = "audio") -> None:
    got, expected = features_of(got, modality), features_of(expected, modality)
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        if value is None:
            assert got[key] is None, key
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=key)


def extract_args(data: Path, out: Path, *more) -> list:
    return ["extract", "mosi", "--data-dir", data, "--out", out, "--audio", "egemaps-lld", "--workers", "0", *more]


# ---- silently wrong -------------------------------------------------------------------------
def pickle_replaced_same_size_and_time(tmp_path, monkeypatch) -> Case:
    data = mmsa_pickle_folder(tmp_path / "mosi")
    assert msa_bench_cli("info", "mosi", "--data-dir", data).exit_code == 0  # builds the cache
    before = msa_bench.load_dataset("mosi", data_dir=data)["test"]["sentiment"]
    with open(data / "aligned_50.pkl", "rb") as handle:
        parts = pickle.load(handle)  # written by this test
    parts["test"]["regression_labels"] = -parts["test"]["regression_labels"]
    write_pickle(tmp_path / "negated.pkl", parts)
    replace_keeping_size_and_time(data / "aligned_50.pkl", (tmp_path / "negated.pkl").read_bytes())

    def check(result):
        served = msa_bench.load_dataset("mosi", data_dir=data)["test"]["sentiment"]  # the cache the command used
        clean = msa_bench.load_dataset("mosi", data_dir=data, cache_dir=tmp_path / "clean")["test"]["sentiment"]
        assert served == clean == pytest.approx([-s for s in before])

    return Case(["info", "mosi", "--data-dir", data], exit_code=0, check=check)


def media_replaced_for_extract(tmp_path, monkeypatch) -> Case:
    data = tmp_path / "clips"
    (data / "Raw" / "v").mkdir(parents=True)
    t = np.arange(20 * 16000) / 16000
    stereo = np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], axis=1).astype(np.float32) * 0.3
    long = data / "Raw" / "v" / "0.wav"
    soundfile.write(long, stereo, 16000, subtype="FLOAT")  # 2.56 MB: more than its first and last MiB
    (data / "label.csv").write_text(MMSA_HEADER + "v,0,words,1.0,1,1,1,Positive,train\n")
    assert msa_bench_cli(*extract_args(data, tmp_path / "out")).exit_code == 0
    content = bytearray(long.read_bytes())
    start = len(content) - stereo.nbytes  # the samples end the file; its header stays as it is
    assert content[start - 8 : start - 4] == b"data"
    stereo[9 * 16000 : 10 * 16000] /= 4  # quieter in the middle only (bytes 1.15-1.28 MB)
    content[start:] = stereo.astype("<f4").tobytes()
    replace_keeping_size_and_time(long, bytes(content))

    def check(result):
        assert "1 recomputed because their media file changed" in result.stdout
        assert msa_bench_cli(*extract_args(data, tmp_path / "clean")).exit_code == 0
        assert_same_features(load_extracted(tmp_path / "out"), load_extracted(tmp_path / "clean"))

    return Case(extract_args(data, tmp_path / "out"), exit_code=0, check=check)


def media_replaced_for_on_the_fly_extraction(tmp_path, monkeypatch) -> Case:
    data = clip_folder(tmp_path / "clips")
    args = ["info", "mosi", "--data-dir", data, "--dataset-option", "audio=egemaps-lld"]
    assert msa_bench_cli(*args).exit_code == 0
    tone(tmp_path / "other.wav", 880)
    replace_keeping_size_and_time(data / "Raw" / "v" / "1.wav", (tmp_path / "other.wav").read_bytes())

    def check(result):
        served = msa_bench.load_dataset("mosi", data_dir=data, audio="egemaps-lld")
        clean = msa_bench.load_dataset("mosi", data_dir=data, audio="egemaps-lld", cache_dir=tmp_path / "clean")
        assert_same_features(served, clean)

    return Case(args, exit_code=0, check=check)


def csd_tail_zeroed(tmp_path, monkeypatch) -> Case:
    data = mosi_sdk_folder(tmp_path / "mosi")
    clean = features_of(msa_bench.load_dataset("mosi", data_dir=data, cache_dir=tmp_path / "clean"))
    assert all(np.any(value) for value in clean.values())
    zero_tail(data / "CMU_MOSI_COVAREP.csd", 0.10)

    def check(result):
        summary = json.loads(result.stdout)
        built = msa_bench.load_dataset("mosi", data_dir=data)
        zeroed = {split: sum(not np.any(f) for f in rows["audio_features"]) for split, rows in built.items()}
        assert zeroed["test"] > 0  # the file's tail held the last test videos' frames
        assert {split: counts["audio"] for split, counts in summary["report"]["zero_feature_segments"].items()} == zeroed
        damaged = {k for k, v in features_of(built).items() if not np.array_equal(v, clean[k])}
        assert {k for k, v in features_of(built).items() if not np.any(v)} <= damaged
        assert any("zero feature segments" in line for line in summary["warnings"])

    return Case(["info", "mosi", "--data-dir", data, "--json"], exit_code=0, check=check)


def nan_label(tmp_path, monkeypatch) -> Case:
    data = mmsa_pickle_folder(tmp_path / "mosi", test_nan=True)

    def check(result):
        assert json.loads(result.stdout)["report"]["nan_labels"] == {"train": 0, "validation": 0, "test": 1}

    return Case(["info", "mosi", "--data-dir", data, "--json"], exit_code=0, check=check)


def truncated_faststart_mp4(tmp_path, monkeypatch) -> Case:
    data = tmp_path / "clips"
    whole = faststart_mp4(data / "Raw" / "v" / "0.mp4")
    with av.open(str(whole)) as container:  # cut where the packets from 91 % of the 7.5 s on begin
        starts = [(float(packet.pts * packet.time_base), packet.pos) for packet in container.demux() if packet.pts is not None]
    cut = min(position for time, position in starts if time >= 0.91 * 7.5 and position >= 0)
    (data / "Raw" / "v" / "1.mp4").write_bytes(whole.read_bytes()[:cut])  # its index still declares 7.5 s
    (data / "label.csv").write_text(MMSA_HEADER + "v,0,a,1.0,1,1,1,Positive,train\nv,1,b,-1.0,-1,-1,-1,Negative,train\n")

    def check(result):
        errors = pd.read_csv(tmp_path / "out" / "errors.csv").set_index("id")
        assert "1.mp4: truncated: " in errors.loc["v_1", "reason"]
        assert features_of(load_extracted(tmp_path / "out"))["v_1"] is None
        assert "v_0" not in errors.index

    return Case(extract_args(data, tmp_path / "out"), exit_code=0, check=check)


def dangling_symlink(tmp_path, monkeypatch) -> Case:
    data = tmp_path / "ravdess"
    for emotion in (1, 5):
        write_ravdess_audio(data / "Actor_01" / f"03-01-{emotion:02d}-01-01-01-01.wav", seconds=0.5)
    os.symlink(tmp_path / "unmounted" / "03-01-03-01-01-01-01.wav", data / "Actor_01" / "03-01-03-01-01-01-01.wav")
    args = ["extract", "ravdess", "--data-dir", data, "--out", tmp_path / "out", "--audio", "egemaps-lld", "--workers", "0"]

    def check(result):
        errors = pd.read_csv(tmp_path / "out" / "errors.csv").set_index("id")
        assert "does not exist" in errors.loc["Actor_01/03-01-03-01-01-01-01.wav", "reason"]
        assert "dangling_links: 1" in result.stdout
        built = msa_bench.msa_metadata(msa_bench.load_dataset("ravdess", data_dir=data))
        assert built.report["dangling_links"]["examples"] == ["Actor_01/03-01-03-01-01-01-01.wav"]

    return Case(args, exit_code=0, check=check)


# ---- one paragraph instead of a traceback ---------------------------------------------------
def csd_second_half_zeroed(tmp_path, monkeypatch) -> Case:
    data = mosi_sdk_folder(tmp_path / "mosi", features_last=False)
    zero_tail(data / "CMU_MOSI_COVAREP.csd", 0.5)
    return Case(["info", "mosi", "--data-dir", data], names=("CMU_MOSI_COVAREP.csd", "the file is corrupt or truncated"))


def truncated_pickle(tmp_path, monkeypatch) -> Case:
    data = mmsa_pickle_folder(tmp_path / "mosi")
    content = (data / "aligned_50.pkl").read_bytes()
    (data / "aligned_50.pkl").write_bytes(content[: len(content) // 3])
    return Case(["info", "mosi", "--data-dir", data], names=("aligned_50.pkl", "not a readable pickle"))


class ObjectArrayShorterThanItsShape:
    """Pickles as an object array whose shape says 89 elements and whose list holds 3: what a
    flipped byte in a pickled ``id`` array's shape gives (numpy itself reads past the list)."""

    def __reduce__(self):
        return np._core.multiarray._reconstruct, (np.ndarray, (0,), b"b"), (1, (89,), np.dtype(object), False, ["a$_$1", "a$_$2", "b$_$1"])


def pickle_with_a_lying_array(tmp_path, monkeypatch) -> Case:
    data = mmsa_pickle_folder(tmp_path / "mosi")
    with open(data / "aligned_50.pkl", "rb") as handle:
        parts = pickle.load(handle)  # written by this test
    parts["test"]["id"] = ObjectArrayShorterThanItsShape()
    write_pickle(data / "aligned_50.pkl", parts)
    return Case(["info", "mosi", "--data-dir", data], names=("aligned_50.pkl", "an object array of shape (89,) holds 3 elements"))


def damaged_cache_entry(cut: Callable[[bytes], bytes]) -> Callable[[Path, pytest.MonkeyPatch], Case]:
    def make(tmp_path, monkeypatch) -> Case:
        data = clip_folder(tmp_path / "clips")
        out = tmp_path / "out"
        assert msa_bench_cli(*extract_args(data, out)).exit_code == 0
        first = load_extracted(out)
        entry = min((out / "cache").rglob("*.npz"))
        entry.write_bytes(cut(entry.read_bytes()))

        def check(result):
            assert_same_features(load_extracted(out), first)
            with np.load(entry) as recomputed:  # written again, whole
                assert recomputed["values"].size

        return Case(extract_args(data, out), exit_code=0, check=check)

    return make


def damaged_build_cache(tmp_path, monkeypatch) -> Case:
    data = mmsa_pickle_folder(tmp_path / "mosi")
    assert msa_bench_cli("info", "mosi", "--data-dir", data).exit_code == 0
    (arrow,) = (tmp_path / "cache").rglob("*-train.arrow")
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])

    def check(result):
        served = msa_bench.load_dataset("mosi", data_dir=data)
        clean = msa_bench.load_dataset("mosi", data_dir=data, cache_dir=tmp_path / "clean")
        assert_same_features(served, clean)

    return Case(["info", "mosi", "--data-dir", data], exit_code=0, check=check)


def damaged_on_the_fly_extraction(tmp_path, monkeypatch) -> Case:
    data = clip_folder(tmp_path / "clips")
    args = ["info", "mosi", "--data-dir", data, "--dataset-option", "audio=egemaps-lld"]
    assert msa_bench_cli(*args).exit_code == 0
    (arrow,) = (tmp_path / "cache" / "msa_bench_extractions").rglob("dataset/train/*.arrow")
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])

    def check(result):
        served = msa_bench.load_dataset("mosi", data_dir=data, audio="egemaps-lld")
        clean = msa_bench.load_dataset("mosi", data_dir=data, audio="egemaps-lld", cache_dir=tmp_path / "clean")
        assert_same_features(served, clean)

    return Case(args, exit_code=0, check=check)


def misspelt_dataset_option(tmp_path, monkeypatch) -> Case:
    return Case(["info", "synthetic", "--dataset-option", "n_clip=50"], names=("'n_clip'", "did you mean 'n_clips'"))


def extract_disk_full(tmp_path, monkeypatch) -> Case:
    import datasets

    data = clip_folder(tmp_path / "clips")
    out = tmp_path / "out"
    assert msa_bench_cli(*extract_args(data, out)).exit_code == 0
    first = load_extracted(out)
    fail_half_way(monkeypatch, datasets.DatasetDict, "save_to_disk", errno.ENOSPC)

    def check(result):
        assert_same_features(load_extracted(out), first)  # the earlier dataset is whole
        assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no half-written folder

    return Case(extract_args(data, out), names=(f"{out / 'dataset'}: no space left on the device",), check=check)


def build_on_a_full_cache_disk(tmp_path, monkeypatch) -> Case:
    from datasets.arrow_writer import ArrowWriter

    write = ArrowWriter.write_examples_on_file

    def disk_full(self, *args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ArrowWriter, "write_examples_on_file", disk_full)

    def check(result):
        assert not list((tmp_path / "cache").rglob("*.arrow"))  # no half-written build to be served
        monkeypatch.setattr(ArrowWriter, "write_examples_on_file", write)
        assert msa_bench_cli("info", "synthetic", "--dataset-option", "n_clips=60").exit_code == 0

    names = (f"{tmp_path / 'cache' / 'synthetic'}", "no space left on the device")
    return Case(["info", "synthetic", "--dataset-option", "n_clips=60"], names=names, check=check)


def extract_read_only(tmp_path, monkeypatch) -> Case:
    data = clip_folder(tmp_path / "clips")
    out = tmp_path / "out"
    fail_half_way(monkeypatch, pd.DataFrame, "to_csv", errno.EROFS)

    def check(result):
        assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]

    return Case(extract_args(data, out), names=(f"{out / 'errors.csv'}: the file system is read-only",), check=check)


def extract_bad_data_dir(tmp_path, monkeypatch) -> Case:
    def check(result):
        assert not (tmp_path / "out").exists()

    return Case(extract_args(tmp_path / "typo", tmp_path / "out"), names=("typo: data folder not found",), check=check)


def extract_nothing_succeeds(tmp_path, monkeypatch) -> Case:
    data = clip_folder(tmp_path / "clips", n=2)
    for k in range(2):
        (data / "Raw" / "v" / f"{k}.wav").write_bytes(b"not audio at all")
    out = tmp_path / "out"

    def check(result):
        assert "0/2 clips succeeded (2 failed)" in result.stdout
        assert len(pd.read_csv(out / "errors.csv")) == 2
        assert not (out / "dataset").exists() and not (out / "msa_bench_extraction.json").exists()

    return Case(extract_args(data, out), exit_code=1, names=("none of the 2 clips got any feature", str(out / "errors.csv")), check=check)


# ---- the harness's cases: run folders, checkpoints, records ----------------------------------
TRAIN = ["train", "lf_dnn", "--dataset", "synthetic", "--seed", "1", "--no-robustness", "--train-option", "max_epochs=1"]


#: tmpfs mounts of the running test, unmounted after it (:func:`unmount_after_each_test`).
MOUNTS: list[Path] = []


def mount(folder: Path, options: str) -> Path:
    """A tmpfs at ``folder`` (``ro``, or a tiny ``size=``): a read-only or full disk for real."""
    folder.mkdir(parents=True, exist_ok=True)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True).returncode:
        pytest.skip("mounting a tmpfs is not permitted here (the test needs root)")
    MOUNTS.append(folder)
    return folder


def resumed_on_other_data(tmp_path, monkeypatch) -> Case:
    space = tmp_path / "space"
    assert msa_bench_cli(*TRAIN, "--workspace", space, "--dataset-option", "n_clips=300").exit_code == 0

    def check(result):
        assert "resumed" not in result.output  # a run on 400 clips never continues the 300-clip run
        assert len({p.parents[1] for p in (space / "runs").rglob("checkpoint.pt")}) == 2

    return Case([*TRAIN, "--workspace", space, "--dataset-option", "n_clips=400"], exit_code=0, check=check)


def checkpoint_of_another_run(tmp_path, monkeypatch) -> Case:
    """A checkpoint moved into the run folder of other data (or other feature dimensions)."""
    space = tmp_path / "space"
    for clips in (300, 400):
        assert msa_bench_cli(*TRAIN, "--workspace", space, "--dataset-option", f"n_clips={clips}").exit_code == 0
    first, second = sorted((space / "runs").rglob("checkpoint.pt"), key=lambda p: p.stat().st_mtime)
    shutil.copy(first, second)
    return Case([*TRAIN, "--workspace", space, "--dataset-option", "n_clips=400"],
                names=(str(second), "differs in: dataset_fingerprint", "Delete the file to start this run fresh"))


def truncated_checkpoint(tmp_path, monkeypatch) -> Case:
    space = tmp_path / "space"
    assert msa_bench_cli(*TRAIN, "--workspace", space).exit_code == 0
    [checkpoint] = (space / "runs").rglob("checkpoint.pt")
    checkpoint.write_bytes(checkpoint.read_bytes()[:200])
    return Case([*TRAIN, "--workspace", space], names=(str(checkpoint), "unreadable checkpoint", "Delete it to start this run fresh"))


def checkpoint_on_a_full_disk(tmp_path, monkeypatch) -> Case:
    space = tmp_path / "space"
    mount(space / "runs", "size=48k")

    def check(result):
        assert not list((space / "records").rglob("seed*.json"))  # nothing committed

    return Case([*TRAIN, "--workspace", space], names=("checkpoint.pt", "no space left on the device"), check=check)


def read_only_records(tmp_path, monkeypatch) -> Case:
    space = tmp_path / "space"
    mount(space / "records", "ro")

    def check(result):
        assert "epoch 1" not in result.output  # refused before any training

    return Case([*TRAIN, "--workspace", space], names=(str(space / "records"), "the file system is read-only"), check=check)


#: Every case of issue 27: sources, caches, extraction, atomic writes, run folders, checkpoints, records.
FAULTS = [
    Fault("pickle-replaced-same-size-and-time", "a pickle with negated test labels kept the old labels", pickle_replaced_same_size_and_time),
    Fault("media-replaced-for-extract", "a file replaced by another of the same size and mtime serves stale features", media_replaced_for_extract),
    Fault("media-replaced-for-on-the-fly-extraction", "the on-the-fly extraction cache keys on size + mtime", media_replaced_for_on_the_fly_extraction),
    Fault("csd-last-10-percent-zeroed", "16 of 49 test rows get all-zero audio, reported nowhere", csd_tail_zeroed),
    Fault("nan-label", "a NaN label becomes 'not annotated' uncounted", nan_label),
    Fault("truncated-faststart-mp4", "a truncated faststart MP4 is accepted 9 % short", truncated_faststart_mp4),
    Fault("dangling-symlink", "a dangling symlink is skipped without an errors.csv row", dangling_symlink),
    Fault("csd-second-half-zeroed", "141-155 lines, no file named", csd_second_half_zeroed),
    Fault("truncated-pickle", "a pickle cut short", truncated_pickle),
    Fault("pickle-object-array-shorter-than-its-shape", "a corrupt pickle crashed the process (numpy reads past the list)", pickle_with_a_lying_array),
    Fault("cache-npz-truncated", "a truncated cache .npz: BadZipFile, 113 lines", damaged_cache_entry(lambda b: b[: len(b) // 2])),
    Fault("cache-npz-empty", "an empty cache .npz: a bare 'Aborted.'", damaged_cache_entry(lambda b: b"")),
    Fault("build-cache-arrow-truncated", "corrupt or unreadable cache entries are recomputed", damaged_build_cache),
    Fault("extraction-cache-arrow-truncated", "corrupt or unreadable cache entries are recomputed", damaged_on_the_fly_extraction),
    Fault("misspelt-dataset-option", "TypeError ... unexpected keyword, 39-103 lines", misspelt_dataset_option),
    Fault("extract-disk-full", "every full-disk message says (path unknown)", extract_disk_full),
    Fault("extract-read-only", "read-only errors name no path", extract_read_only),
    Fault("build-on-a-full-cache-disk", "every full-disk message says (path unknown)", build_on_a_full_cache_disk),
    Fault("extract-bad-data-dir", "extract with a bad --data-dir leaves an empty --out folder", extract_bad_data_dir),
    Fault("extract-nothing-succeeds", "extract exits 0 when 0 of N clips succeed", extract_nothing_succeeds),
    Fault("resume-on-other-data", "training on 400 clips after 300 with the same --run-dir resumed and trained nothing", resumed_on_other_data),
    Fault("checkpoint-of-another-run", "a checkpoint with other feature dimensions: size mismatch, 94 lines", checkpoint_of_another_run),
    Fault("truncated-checkpoint", "a truncated checkpoint.pt (no path)", truncated_checkpoint),
    Fault("checkpoint-on-a-full-disk", "a checkpoint write on a full disk (160 lines)", checkpoint_on_a_full_disk),
    Fault("read-only-records-folder", "a read-only records folder is refused only after the whole training", read_only_records),
]


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def unmount_after_each_test():
    yield
    while MOUNTS:
        subprocess.run(["umount", "-l", str(MOUNTS.pop())], check=False)


@pytest.mark.parametrize("fault", FAULTS, ids=lambda fault: fault.name)
def test_fault(fault: Fault, tmp_path, monkeypatch):
    case = fault.make(tmp_path, monkeypatch)
    result = msa_bench_cli(*case.args)
    assert result.exit_code == case.exit_code, result.output
    assert "Traceback" not in result.output, result.output
    if case.exit_code:
        assert isinstance(result.exception, SystemExit), result.exception
        message = error_paragraph(result)
        for part in case.names:
            assert part in message, message
    case.check(result)


# ---- interruptions, in a subprocess -----------------------------------------------------------
def ravdess_folder(root: Path, n: int = 24, seconds: float = 1.5) -> Path:
    """``n`` RAVDESS-named recordings of actor 01: long enough for an extraction of a few seconds."""
    codes = [(e, i, s, r) for e in range(2, 9) for i in (1, 2) for s in (1, 2) for r in (1, 2)]
    for k, (emotion, intensity, statement, repetition) in enumerate(codes[:n]):
        write_ravdess_audio(root / "Actor_01" / f"03-01-{emotion:02d}-{intensity:02d}-{statement:02d}-{repetition:02d}-01.wav", seconds=seconds, seed=k)
    return root


def start_extract(data: Path, out: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "msa_bench", "extract", "ravdess", "--data-dir", str(data), "--out", str(out)]
    command += ["--audio", "egemaps-lld", "--workers", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


def wait_for(condition: Callable[[], object], process: subprocess.Popen, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def killed_outright(tmp_path) -> None:
    """SIGKILL of extract: its worker processes die with it (they were still running 50 s later)."""
    process = start_extract(ravdess_folder(tmp_path / "ravdess"), tmp_path / "out")
    workers = wait_for(lambda: len(children(process.pid)) >= 2 and children(process.pid), process)
    process.kill()
    process.communicate(timeout=60)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [w for w in workers if Path(f"/proc/{w}").exists()], "worker processes outlived extract"


def ctrl_c(tmp_path) -> None:
    """Ctrl-C of extract: one line (what is saved, how to resume), no worker traceback; the same
    command again finishes the job, with the features of an uninterrupted run."""
    # 48 clips of 3 s: several seconds of work remain after the first one is cached, so a test
    # process starved of CPU (the suite on two cores) still signals extract before it finishes
    n = 48
    data = ravdess_folder(tmp_path / "ravdess", n=n, seconds=3.0)
    out = tmp_path / "out"
    process = start_extract(data, out)
    wait_for(lambda: list((out / "cache").rglob("*.npz")), process)
    os.killpg(process.pid, signal.SIGINT)  # a terminal's Ctrl-C signals the whole process group
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip() and "egemaps-lld:" not in line]
    assert len(lines) == 1 and lines[0].startswith("interrupted: "), stderr
    assert str(out / "cache") in lines[0] and "run the same command again" in lines[0]
    saved = len(list((out / "cache").rglob("*.npz")))
    assert 0 < saved < n

    again = start_extract(data, out)
    stdout, stderr = again.communicate(timeout=300)
    assert again.returncode == 0, stderr
    assert f"{n}/{n} clips succeeded" in stdout
    clean = extract("ravdess", data, tmp_path / "clean", audio="egemaps-lld", workers=0, progress=False)
    assert_same_features(load_extracted(out), clean.dataset)


@dataclass(frozen=True)
class Interruption:
    """A row of the interruptions: a command signalled in its own process, and its checks."""

    name: str
    issue: str
    run: Callable[[Path], None]


INTERRUPTIONS = [
    Interruption("extract-sigkill", "SIGKILL of extract leaves its two worker processes alive", killed_outright),
    Interruption("extract-ctrl-c", "Ctrl-C prints worker tracebacks", ctrl_c),
]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads worker processes from /proc")
@pytest.mark.parametrize("interruption", INTERRUPTIONS, ids=lambda interruption: interruption.name)
def test_interruption(interruption: Interruption, tmp_path):
    interruption.run(tmp_path)
