"""Dataset cards and build scripts in datasets_scripts/."""

import re
import runpy
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import scipy.io
from real_format_files import write_ravdess_audio

SCRIPTS = Path(__file__).resolve().parents[1] / "datasets_scripts"


def _covarep_names_in_card() -> list[str]:
    card = (SCRIPTS / "mosi" / "README.md").read_text()
    block = re.search(r"<!-- covarep-names:start -->\n(.*?)<!-- covarep-names:end -->", card, re.S).group(1)
    return [re.fullmatch(r"\d+\. `(.+)`", line).group(1) for line in block.splitlines()]


def test_mosi_card_lists_exactly_the_74_covarep_columns(shared_data):
    names = _covarep_names_in_card()
    assert names == (shared_data / "mosi" / "covarep" / "covarep_labels.txt").read_text().split()
    mat = scipy.io.loadmat(shared_data / "mosi" / "covarep" / "ZUXBRvtny7o_9.mat")
    assert mat["features"].shape[1] == len(names) == 74
    assert [str(np.asarray(cell).ravel()[0]) for cell in mat["names"].ravel()] == names


@pytest.mark.parametrize("name", ["mosi", "mosei", "ravdess"])
def test_cards_have_every_section(name):
    card = (SCRIPTS / name / "README.md").read_text()
    for section in ("## Sources accepted", "## Counts", "## Known quirks", "## Citation", "Licence"):
        assert section in card, f"{name} card lacks {section!r}"
    assert "mapping" in card.lower()


def test_build_script_exports_a_loadable_dataset_with_the_card(tmp_path, monkeypatch):
    data = tmp_path / "ravdess"
    write_ravdess_audio(data / "Actor_03" / "03-01-04-02-01-01-03.wav")
    write_ravdess_audio(data / "Actor_19" / "03-01-02-01-02-01-19.wav")
    write_ravdess_audio(data / "Actor_22" / "03-01-08-01-02-01-22.wav")
    monkeypatch.setenv("MSA_BENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "export"
    monkeypatch.setattr(sys, "argv", ["build.py", str(out), "--data-dir", str(data), "--config", "vocal_channel=speech"])
    with pytest.raises(SystemExit) as finished:
        runpy.run_path(str(SCRIPTS / "ravdess" / "build.py"), run_name="__main__")
    assert finished.value.code == 0
    exported = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert {split: len(rows) for split, rows in exported.items()} == {"train": 1, "validation": 1, "test": 1}
    assert exported["train"][0]["id"] == "Actor_03_03-01-04-02-01-01-03"
    assert "## Labels: the file name" in (out / "README.md").read_text()
