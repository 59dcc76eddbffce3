"""A board no single record can break: every record or entry that fails a check, or that the
renderer cannot show, is refused with its reason (stderr, both pages, exit status 1), and every
other entry still renders. The crash cases of issue #23, one test each, plus whole-or-absent
pages and two feature sets of one dataset."""

from __future__ import annotations

import errno
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_robustness_report import fake_sweep
from typer.testing import CliRunner

from msa_bench.board.page import render_leaderboard
from msa_bench.cli import app
from msa_bench.data.schema import EKMAN_EMOTIONS
from msa_bench.harness.training import dataset_fingerprint
from msa_bench.records.record import ResultRecord, predictions_path
from msa_bench.records.store import staging_root, write_record
from msa_bench.scoring.metrics import compute_metrics
from record_helpers import code_for


@pytest.fixture(scope="module")
def fingerprint(synthetic_small) -> str:
    return dataset_fingerprint(synthetic_small)


def predicted(labels: pd.DataFrame, seed: int, noise: float = 0.5) -> pd.DataFrame:
    """Predictions of every task of ``labels`` (sentiment, emotion intensities, categorical emotion)."""
    rng = np.random.default_rng(seed)
    table = labels.copy()
    table["sentiment_pred"] = table["sentiment_true"] + rng.normal(0, noise, len(table))
    for emotion in EKMAN_EMOTIONS:
        table[f"emotions_pred_{emotion}"] = np.clip(table[f"emotions_true_{emotion}"].fillna(0) + rng.normal(0, noise, len(table)), 0, 3)
    table["emotion_pred"] = np.where(rng.random(len(table)) < 0.6, table["emotion_true"].clip(lower=0), rng.integers(0, 8, len(table)))
    return table


def write(records: Path, model: str, table: pd.DataFrame, seed: int, fingerprint: str, **fields) -> Path:
    """A record of ``table`` (its metrics recomputed), sealed as the harness writes it."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined metrics of degenerate tables
        metrics = compute_metrics(table)
    fields = {"kind": "full", "config": {"train": {}}, "robustness": fake_sweep(metrics["acc2_non0"]), **fields}
    fields.setdefault("code", code_for(model, fields.get("kind", "full"), reference=bool(fields.get("config", {}).get("reference"))))
    record = ResultRecord(model=model, dataset="synthetic", seed=seed, metrics=metrics, dataset_fingerprint=fingerprint, **fields)
    return write_record(record, table, records)


def render(records: Path, out: Path):
    return render_leaderboard(records, out, n_resamples=50)


def refused(rendered) -> dict[str, str]:
    return {r.what: r.reason for r in rendered.refused}


def board_rows(markdown: str, title: str) -> list[str]:
    """The model names of the first table titled ``title`` (``### title``), in order."""
    table = markdown.split(f"### {title}\n", 1)[1].strip("\n").split("\n\n", 1)[0]
    return [row.split("|")[1].strip().split(" ")[0].replace("\\_", "_") for row in table.splitlines()[2:]]


def test_sentiment_only_predictions_on_a_dataset_with_emotion_tasks_render_without_those_columns(
    synthetic_small_labels, synthetic_source, fingerprint, tmp_path
):
    """The docs' own example (``id`` and ``sentiment_pred`` only) on a dataset labelled with
    emotions too: the entry is rendered in the sentiment tables only (no confusion matrix)."""
    from msa_bench.harness.submissions import submit_predictions

    labels, records = synthetic_small_labels, tmp_path / "records"
    for seed in (1, 2):
        write(records, "mine", predicted(labels, seed), seed, fingerprint)
    file = tmp_path / "my_preds.parquet"
    pd.DataFrame({"id": labels["id"], "sentiment_pred": labels["sentiment_true"] * 0.8}).to_parquet(file, index=False)
    submit_predictions(file, "synthetic", "sentiment_only", records, **synthetic_source)
    rendered = render(records, tmp_path / "out")
    assert rendered.refused == []
    markdown = rendered["markdown"].read_text()
    assert board_rows(markdown, "Sentiment regression: predictions-only submissions (not verified, not ranked)") == ["sentiment_only"]
    assert "Categorical emotion: predictions-only" not in markdown and "Emotion intensities: predictions-only" not in markdown
    for title in ("Sentiment regression", "Emotion intensities", "Categorical emotion"):
        assert board_rows(markdown, title) == ["mine"]
    assert "sentiment\\_only" not in markdown.split("### Confusion matrices")[1].split("### Provenance")[0]
    assert "sentiment_only" in rendered["html"].read_text()


def test_huge_and_overflowing_values_are_refused_with_a_reason(synthetic_small_labels, fingerprint, tmp_path):
    labels, records = synthetic_small_labels, tmp_path / "records"
    write(records, "mine", predicted(labels, 1), 1, fingerprint)
    write(records, "overflow", labels.assign(sentiment_pred=1e308), 0, fingerprint, kind="predictions_only", robustness={})
    write(records, "huge", labels.assign(sentiment_pred=labels["sentiment_true"] * 1e7), 0, fingerprint, kind="predictions_only", robustness={})
    steep = fake_sweep(0.7)
    steep["protocols"]["unannounced"]["missing_rate"]["all"]["values"]["acc2_non0"][3] = 1e300
    write(records, "steep", predicted(labels, 3), 3, fingerprint, robustness=steep)
    write(records, "boasting", predicted(labels, 4), 4, fingerprint, paper_results={"source": "x", "mae": -1e300})
    rendered = render(records, tmp_path / "out")
    reasons = refused(rendered)
    assert sorted(reasons) == [f"synthetic/{m}/seed{s}.json" for m, s in (("boasting", 4), ("huge", 0), ("overflow", 0), ("steep", 3))]
    assert reasons["synthetic/overflow/seed0.json"].startswith("its predictions' sentiment_pred column holds 1e+308, beyond ±1e+06")
    assert reasons["synthetic/huge/seed0.json"].startswith("its predictions' sentiment_pred column holds 3e+07, beyond ±1e+06")
    assert "missing_rate.all.values.acc2_non0[3] holds 1e+300, beyond ±1e+06" in reasons["synthetic/steep/seed3.json"]
    assert reasons["synthetic/boasting/seed4.json"].startswith("its paper_results.mae holds 1e+300")
    markdown = rendered["markdown"].read_text()
    assert board_rows(markdown, "Sentiment regression") == ["mine"] and "## Refused records" in markdown
    assert "Sentiment regression: predictions-only" not in markdown


def test_a_multi_seed_predictions_only_submission_is_one_entry(synthetic_small_labels, synthetic_source, fingerprint, tmp_path):
    from msa_bench.harness.submissions import submit_predictions

    labels, records = synthetic_small_labels, tmp_path / "records"
    write(records, "mine", predicted(labels, 1), 1, fingerprint)
    for seed in (0, 1, 2):
        file = tmp_path / f"seed{seed}.parquet"
        noisy = labels["sentiment_true"] + np.random.default_rng(seed).normal(0, 0.4, len(labels))
        pd.DataFrame({"id": labels["id"], "sentiment_pred": noisy}).to_parquet(file, index=False)
        submit_predictions(file, "synthetic", "submitted", records, seed=seed, **synthetic_source)
    rendered = render(records, tmp_path / "out")
    assert rendered.refused == []
    markdown = rendered["markdown"].read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| submitted *(predictions only)* |"))
    assert row.split("|")[2].strip() == "3" and "±" in row.split("|")[3]
    assert board_rows(markdown, "Sentiment regression") == ["mine"]


def test_text_where_a_config_expects_a_number_renders(synthetic_small_labels, fingerprint, tmp_path):
    """Text in numeric config fields (UMDF's declared missing rate, the harness's augmentation
    rates), a number where a name is expected (the track) and odd types in the provenance: the
    entry renders, the values shown as given."""
    labels, records = synthetic_small_labels, tmp_path / "records"
    write(records, "lf_dnn", predicted(labels, 1), 1, fingerprint)
    config = {
        "model": {"missing_rate": "high"},
        "train": {"missing_modality_rate": "0.3", "missing_frame_rate": [1]},
        "track": 7,
        "data": {"features": ["some", "list"]},
    }
    write(records, "umdf+x", predicted(labels, 2), 2, fingerprint, config=config, training={"schedule": ["odd"], "epochs": "many"})
    write(records, "other", predicted(labels, 3), 3, fingerprint, config={"data": {"features": ["some", "list"]}}, git_commit=12345)
    rendered = render(records, tmp_path / "out")
    assert rendered.refused == []
    markdown = rendered["markdown"].read_text()
    assert "## synthetic — \\['some', 'list'\\]" in markdown and "## synthetic\n" in markdown
    assert "umdf+x *(trained with a degraded student view (per-example missing rate ≤ high, inside the model))*" in markdown
    assert "*(trained with modality dropout (rate ≤ 0.3))* *(trained with missing frames (LNLN, rate ≤ \\[1\\]))*" in markdown
    assert "### Robustness: 7 track, full grid" in markdown
    html = rendered["html"].read_text()
    assert html.count("Robustness: 7 track") == 1 and "per-example missing rate ≤ high" in html


def test_a_malformed_robustness_sweep_is_refused(synthetic_small_labels, fingerprint, tmp_path):
    labels, records = synthetic_small_labels, tmp_path / "records"
    write(records, "mine", predicted(labels, 1), 1, fingerprint)
    texts = fake_sweep(0.7)
    texts["noise"]["audio"]["values"]["acc2_non0"][2] = "0.5"
    write(records, "texts", predicted(labels, 2), 2, fingerprint, robustness=texts)
    short = fake_sweep(0.7)
    short["protocols"]["announced"]["missing_rate"]["text"]["values"]["mae"] = [0.8]
    write(records, "short", predicted(labels, 3), 3, fingerprint, robustness=short)
    unknown = fake_sweep(0.7)
    unknown["protocols"]["announced"]["modality_drop"]["smell"] = {"acc2_non0": 0.5}
    write(records, "unknown", predicted(labels, 4), 4, fingerprint, robustness=unknown)
    rendered = render(records, tmp_path / "out")
    assert refused(rendered) == {
        "synthetic/texts/seed2.json": "its robustness sweep is malformed: noise.audio.values.acc2_non0[2] is '0.5', not a number",
        "synthetic/short/seed3.json": "its robustness sweep is malformed: protocols.announced.missing_rate.text.values.mae is not a list of 11 values of a metric",
        "synthetic/unknown/seed4.json": "its robustness sweep is malformed: protocols.announced.modality_drop.smell is not a set of modalities",
    }
    assert board_rows(rendered["markdown"].read_text(), "Sentiment regression") == ["mine"]


def test_a_failed_run_leaves_a_partial_entry_that_renders_with_its_seed_count(synthetic_small_labels, fingerprint, tmp_path):
    """A run that failed on its third seed: two seeds in the records (committed by an older
    harness), the third staged beside them. The entry renders with its two seeds and is named in
    the note on entries with fewer than the protocol's seeds."""
    labels, records = synthetic_small_labels, tmp_path / "records"
    write(records, "complete", predicted(labels, 1), 1, fingerprint)
    for seed in (1111, 1112):
        write(records, "partial", predicted(labels, seed), seed, fingerprint)
    write(staging_root(records), "partial", predicted(labels, 1113), 1113, fingerprint)
    rendered = render(records, tmp_path / "out")
    assert rendered.refused == []
    markdown = rendered["markdown"].read_text()
    row = next(line for line in markdown.splitlines() if line.startswith("| partial *(submitted code)*"))
    assert row.split("|")[2].strip() == "2"
    assert "fewer than the protocol's 5 seeds" in markdown and "complete, partial." in markdown


def test_unreadable_files_are_refused(synthetic_small_labels, fingerprint, tmp_path):
    labels, records = synthetic_small_labels, tmp_path / "records"
    write(records, "mine", predicted(labels, 1), 1, fingerprint)
    broken = {name: write(records, name, predicted(labels, 2), 2, fingerprint) for name in ("json", "array", "gone", "garbage")}
    broken["json"].write_text("{ not json")
    broken["array"].write_text("[1, 2]")
    predictions_path(broken["gone"]).unlink()
    predictions_path(broken["garbage"]).write_bytes(b"PAR1 garbage")
    write(records, "listed", predicted(labels, 2), 2, ["not", "text"])
    rendered = render(records, tmp_path / "out")
    reasons = refused(rendered)
    assert sorted(reasons) == [f"synthetic/{name}/seed2.json" for name in ("array", "garbage", "gone", "json", "listed")]
    assert reasons["synthetic/listed/seed2.json"] == "its dataset_fingerprint is ['not', 'text'], not text"
    assert reasons["synthetic/json/seed2.json"].startswith("unreadable record (not valid JSON")
    assert reasons["synthetic/gone/seed2.json"].startswith("its predictions file cannot be used (no predictions file beside")
    assert reasons["synthetic/garbage/seed2.json"].startswith("its predictions file is not the one it was sealed with")
    assert board_rows(rendered["markdown"].read_text(), "Sentiment regression") == ["mine"]


def test_an_entry_the_sections_cannot_render_is_refused_not_the_board(synthetic_small_labels, fingerprint, tmp_path, monkeypatch):
    """The last line of defence: whatever a section raises on one entry refuses that entry."""
    from msa_bench.board import page, provenance

    def fragile(members):
        if any(e.model == "boom" for e in members):
            raise RuntimeError("a value this section cannot show")
        return provenance.provenance_rows(members)

    monkeypatch.setattr(page, "provenance_rows", fragile)
    labels, records = synthetic_small_labels, tmp_path / "records"
    write(records, "mine", predicted(labels, 1), 1, fingerprint)
    write(records, "boom", predicted(labels, 2), 2, fingerprint)
    rendered = render(records, tmp_path / "out")
    assert refused(rendered) == {"synthetic/boom/": "it cannot be rendered (RuntimeError: a value this section cannot show)"}
    assert board_rows(rendered["markdown"].read_text(), "Sentiment regression") == ["mine"]


def test_two_feature_sets_of_one_dataset_are_two_boards(synthetic_small_labels, tmp_path):
    """Records of other features (and so another fingerprint) are a board of their own, titled by
    the feature set; the reference row (functionals of the same data) joins its fingerprint's
    board; a record of other data under a feature set is still refused."""
    labels, records = synthetic_small_labels, tmp_path / "records"
    lld = {"data": {"features": {"audio": "egemaps-lld, pooled 100 ms", "text": "none", "vision": "none"}}}
    whisper = {"data": {"features": {"audio": "whisper-base", "text": "none", "vision": "none"}}}
    functionals = {"reference": True, "data": {"features": {"audio": "egemaps-functionals", "text": "none", "vision": "none"}}}
    for seed in (1, 2):
        write(records, "tfn", predicted(labels, seed), seed, "fp-lld", config=lld)
    write(records, "lmf", predicted(labels, 3), 3, "fp-lld", config=lld)
    write(records, "stale", predicted(labels, 4), 4, "fp-old", config=lld)
    write(records, "tfn+whisper", predicted(labels, 5), 5, "fp-whisper", config=whisper)
    write(records, "logreg", predicted(labels, 6), 0, "fp-lld", config=functionals, robustness={})
    rendered = render(records, tmp_path / "out")
    assert list(refused(rendered)) == ["synthetic/stale/seed4.json"]
    markdown = rendered["markdown"].read_text()
    assert "## synthetic — audio: egemaps-lld, pooled 100 ms\n" in markdown and "## synthetic — audio: whisper-base\n" in markdown
    assert sorted(board_rows(markdown.split("## synthetic — audio: egemaps-lld")[1], "Sentiment regression")) == ["lmf", "logreg", "tfn"]
    assert board_rows(markdown.split("## synthetic — audio: whisper-base")[1], "Sentiment regression") == ["tfn+whisper"]
    html = rendered["html"].read_text()
    assert '<section id="synthetic-audio-egemaps-lld-pooled-100-ms">' in html and '<section id="synthetic-audio-whisper-base">' in html


def test_the_command_exits_1_naming_each_refused_record_and_0_when_none(synthetic_small_labels, fingerprint, tmp_path):
    labels, records, out = synthetic_small_labels, tmp_path / "records", tmp_path / "out"
    for seed in (1, 2):
        write(records, "mine", predicted(labels, seed), seed, fingerprint)
    clean = CliRunner().invoke(app, ["leaderboard", "--records", str(records), "--out", str(out)])
    assert clean.exit_code == 0 and clean.stderr == "", clean.output
    write(records, "elsewhere", predicted(labels, 2), 2, "another-fingerprint")
    result = CliRunner().invoke(app, ["leaderboard", "--records", str(records), "--out", str(out)])
    assert result.exit_code == 1, result.output
    first, last = result.stderr.strip().splitlines()
    assert first == (
        f"refused: {records / 'synthetic/elsewhere/seed2.json'}: its dataset fingerprint 'another-fingerprint' differs "
        f"from the board's '{fingerprint}': it was trained or scored on other data"
    )
    assert last.startswith("1 record(s) or entries refused") and "Traceback" not in result.output
    for page in ("LEADERBOARD.md", "site/index.html"):
        text = (out / page).read_text()
        assert "elsewhere" in text.split("Refused records")[-1] and "another-fingerprint" in text


def test_a_missing_records_folder_is_an_error_that_leaves_the_pages_alone(synthetic_small_labels, fingerprint, tmp_path):
    labels, records, out = synthetic_small_labels, tmp_path / "records", tmp_path / "out"
    write(records, "mine", predicted(labels, 1), 1, fingerprint)
    assert CliRunner().invoke(app, ["leaderboard", "--records", str(records), "--out", str(out)]).exit_code == 0
    before = {page: (out / page).read_bytes() for page in ("LEADERBOARD.md", "site/index.html")}
    result = CliRunner().invoke(app, ["leaderboard", "--records", str(tmp_path / "recrods"), "--out", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith(f"error: {tmp_path / 'recrods'}: no such records folder") and len(result.stderr.splitlines()) == 1
    assert {page: (out / page).read_bytes() for page in before} == before


def test_a_full_disk_leaves_both_earlier_pages_whole(synthetic_small_labels, fingerprint, tmp_path, monkeypatch):
    """The disk fills while the page is written: the command fails with one paragraph naming the
    page, and both earlier pages are as they were (no new Markdown beside a truncated page)."""
    labels, records, out = synthetic_small_labels, tmp_path / "records", tmp_path / "out"
    write(records, "mine", predicted(labels, 1), 1, fingerprint)
    assert CliRunner().invoke(app, ["leaderboard", "--records", str(records), "--out", str(out)]).exit_code == 0
    before = {page: (out / page).read_bytes() for page in ("LEADERBOARD.md", "site/index.html")}
    write(records, "newcomer", predicted(labels, 2), 2, fingerprint)
    real_write_text = Path.write_text

    def full_disk(self: Path, text: str, *args, **kwargs):
        if self.name.startswith(".index.html."):
            with open(self, "w", encoding="utf-8") as handle:
                handle.write(text[: len(text) // 2])  # half of it reached the disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, text, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    result = CliRunner().invoke(app, ["leaderboard", "--records", str(records), "--out", str(out)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert result.stderr.startswith(f"error: {out / 'site' / 'index.html'}: no space left on the device")
    assert {page: (out / page).read_bytes() for page in before} == before
    assert sorted(p.name for p in out.rglob("*")) == ["LEADERBOARD.md", "index.html", "site"]  # no temporary left


def test_refusal_reasons_are_one_line_json_safe_and_sorted(synthetic_small_labels, fingerprint, tmp_path):
    """Refusals come sorted by file, so two renders of the same records give the same pages."""
    labels, records = synthetic_small_labels, tmp_path / "records"
    for seed in (1, 2, 3):
        write(records, "mine", predicted(labels, seed), seed, fingerprint)
    for name in ("zeta", "alpha"):
        write(records, name, predicted(labels, 2), 2, "other")
    first, second = render(records, tmp_path / "a"), render(records, tmp_path / "b")
    assert [r.what for r in first.refused] == ["synthetic/alpha/seed2.json", "synthetic/zeta/seed2.json"]
    assert all("\n" not in r.reason and json.loads(json.dumps(r.reason)) == r.reason for r in first.refused)
    assert first["markdown"].read_bytes() == second["markdown"].read_bytes()


def test_a_board_whose_records_disagree_with_no_majority_refuses_them_all_and_renders(synthetic_small_labels, tmp_path):
    labels, records = synthetic_small_labels, tmp_path / "records"
    write(records, "one", predicted(labels, 1), 1, "fp-one")
    write(records, "two", predicted(labels, 2), 2, "fp-two")
    rendered = render(records, tmp_path / "out")
    assert set(refused(rendered).values()) == {
        "the records of this board name different dataset fingerprints and none has a majority: it cannot tell which data is the board's"
    }
    markdown = rendered["markdown"].read_text()
    assert "No records yet." in markdown and "- synthetic/one/seed1.json: the records" in markdown
