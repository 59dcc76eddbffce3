"""Bootstrap confidence intervals: 1,000 resamples of a MOSI-sized test split (686 examples)."""

from __future__ import annotations

import numpy as np
import pytest

from msa_bench.scoring.metrics import bootstrap_ci, predictions_frame
from msa_bench.data.schema import EKMAN_EMOTIONS
from record_helpers import code_for

N_TEST = 686  # CMU-MOSI's standard test split


@pytest.fixture(scope="module")
def tables():
    rng = np.random.default_rng(0)
    ids = [f"clip{i}" for i in range(N_TEST)]
    sentiment = np.round(rng.uniform(-3, 3, N_TEST), 1)
    emotions = np.maximum(rng.normal(0, 1, (N_TEST, len(EKMAN_EMOTIONS))), 0)
    emotion = rng.integers(0, 8, N_TEST)
    return {
        "sentiment": predictions_frame(ids, sentiment_true=sentiment, sentiment_pred=sentiment + rng.normal(0, 1, N_TEST)),
        "all_tasks": predictions_frame(
            ids,
            sentiment_true=sentiment,
            sentiment_pred=sentiment + rng.normal(0, 1, N_TEST),
            emotions_true=emotions,
            emotions_pred=emotions + rng.normal(0, 0.5, emotions.shape),
            emotion_true=emotion,
            emotion_pred=np.where(rng.random(N_TEST) < 0.6, emotion, rng.integers(0, 8, N_TEST)),
        ),
    }


@pytest.mark.parametrize("table", ["sentiment", "all_tasks"])
def test_bootstrap_ci_1000_resamples(benchmark, tables, table):
    intervals = benchmark(bootstrap_ci, tables[table], n_resamples=1000, seed=0)
    assert all(low <= high for low, high in intervals.values())


def test_render_leaderboard_6_models_5_seeds(benchmark, tables, tmp_path):
    """The leaderboard of `msa-bench run`'s size: 6 models x 5 seeds, all three tasks, 686 rows."""
    from msa_bench.board.page import render_leaderboard
    from msa_bench.scoring.metrics import compute_metrics
    from msa_bench.records.record import ResultRecord
    from msa_bench.records.store import save_record

    rng = np.random.default_rng(1)
    table = tables["all_tasks"]
    for model in ("text_only", "audio_only", "vision_only", "ef_lstm", "lf_dnn", "tfn"):
        for seed in range(1111, 1116):
            run = table.assign(sentiment_pred=table["sentiment_true"] + rng.normal(0, 1, len(table)))
            record = ResultRecord(model=model, dataset="synthetic", seed=seed, kind="full", metrics=compute_metrics(run), code=code_for(model))
            save_record(record, run, tmp_path / "records")
    paths = benchmark.pedantic(render_leaderboard, args=(tmp_path / "records", tmp_path / "out"), rounds=3)
    assert paths["html"].is_file()
