"""Leaderboard rendering from hand-made records: content, marks, determinism, a real browser,
and the records it refuses (edited, other config under one name, other data, other test ids,
labels that are not the dataset's)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from msa_bench.board.entries import LeaderboardError
from msa_bench.board.page import render_leaderboard
from msa_bench.scoring.metrics import compute_metrics, predictions_frame
from msa_bench.records.record import ResultRecord, save_record
from test_robustness_report import fake_sweep

N_TEST = 150
IDS = [f"video{i // 10}_{i % 10}" for i in range(N_TEST)]
TRUTH = np.round(np.random.default_rng(0).normal(0, 1.5, N_TEST), 1)

def write_sentiment(
    records_dir: Path, model: str, noise: float, seeds=(1111, 1112), kind="full", paper=None, fingerprint="data-v1"
) -> None:
    for seed in seeds:
        rng = np.random.default_rng(seed)
        frame = predictions_frame(IDS, sentiment_true=TRUTH, sentiment_pred=TRUTH + rng.normal(0, noise, N_TEST))
        metrics = compute_metrics(frame)
        record = ResultRecord(
            model=model,
            dataset="synthetic",
            seed=seed,
            kind=kind,
            metrics=metrics,
            robustness=fake_sweep(metrics["acc2_non0"]) if kind == "full" else {},
            config={"noise": noise},
            dataset_fingerprint=fingerprint,
            paper_results=paper or {},
            wall_time_s=float(seed),  # volatile fields must not reach the pages
        )
        save_record(record, frame, records_dir)


def write_emotion(records_dir: Path, model: str, hit_rate: float, ids=IDS) -> None:
    labels = np.arange(N_TEST) % 8
    rng = np.random.default_rng(3)
    frame = predictions_frame(
        ids, emotion_true=labels, emotion_pred=np.where(rng.random(N_TEST) < hit_rate, labels, (labels + 1) % 8)
    )
    save_record(
        ResultRecord(model=model, dataset="ravdess", seed=1111, kind="full", metrics=compute_metrics(frame)),
        frame,
        records_dir,
    )


@pytest.fixture(scope="module")
def records_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("records")
    write_sentiment(folder, "tfn", noise=0.4, paper={"source": "Zadeh et al., EMNLP 2017", "mae": 1.019})
    write_sentiment(folder, "tfn_twin", noise=0.41, seeds=(1111,))  # indistinguishable from tfn
    write_sentiment(folder, "text_only", noise=2.0)  # clearly worse
    write_sentiment(folder, "submitted", noise=0.9, seeds=(7,), kind="predictions_only")
    write_emotion(folder, "tfn", hit_rate=0.8)
    write_emotion(folder, "audio_only", hit_rate=0.3)
    return folder


@pytest.fixture(scope="module")
def rendered(records_dir, tmp_path_factory) -> dict[str, Path]:
    return render_leaderboard(records_dir, tmp_path_factory.mktemp("out"), n_resamples=300)


def _markdown_row(markdown: str, model: str, section: str = "## synthetic") -> list[str]:
    text = markdown.split(section, 1)[1]
    row = next(line for line in text.splitlines() if line.startswith(f"| {model} "))
    return [cell.strip() for cell in row.strip("|").split("|")]


def test_markdown_tables_marks_and_labels(rendered):
    markdown = rendered["markdown"].read_text()
    assert "### Sentiment regression" in markdown and "### Categorical emotion" in markdown
    header = next(line for line in markdown.splitlines() if line.startswith("| model | seeds | mae ↓"))
    assert "acc7_sdk ↑" in header
    tfn, twin, text_only = (_markdown_row(markdown, m) for m in ("tfn", "tfn_twin", "text_only"))
    assert tfn[1] == "2" and tfn[2].startswith("**") and "★" in tfn[2] and "(paper 1.019)" in tfn[2]
    assert re.fullmatch(r"\*\*\d\.\d{3} ± \d\.\d{3}\*\* ★ \[\d\.\d{3}, \d\.\d{3}\] \(paper 1\.019\)", tfn[2])
    assert twin[2].startswith("**") and "★" not in twin[2]  # not significantly worse: bold, no star
    assert not text_only[2].startswith("**")  # significantly worse: plain
    assert "Paper numbers for tfn: Zadeh et al., EMNLP 2017" in markdown
    # rows are ranked by the primary metric; the predictions-only entry is in its own table, unmarked
    ranked = markdown.split("### Sentiment regression\n")[1].split("###")[0]
    order = [line.split("|")[1].strip() for line in ranked.splitlines()[3:] if line.startswith("|")]
    assert order[0] in ("tfn", "tfn_twin") and order[-1] == "text_only" and len(order) == 3
    unranked = markdown.split("### Sentiment regression: predictions-only submissions (not verified, not ranked)")[1]
    submitted = _markdown_row(unranked, "submitted *(predictions only)*", "|")
    assert "★" not in " ".join(submitted) and "**" not in " ".join(submitted)
    assert "Holm" in markdown and "not comparable with any paper" in markdown
    # a model that is not one of the repository's baselines ran submitted code: tagged as such
    assert "| tfn_twin *(submitted code)* |" in markdown and "| tfn | 2 |" in markdown


def test_provenance_table_names_seeds_schedule_epochs_and_commit(tmp_path):
    records = tmp_path / "records"
    frame = predictions_frame(IDS, sentiment_true=TRUTH, sentiment_pred=TRUTH * 0.5)
    record = ResultRecord(
        model="tfn", dataset="mosi", seed=1111, kind="full", metrics=compute_metrics(frame), git_commit="abcdef1234567890",
        environment={"cpu": "Some CPU", "threads": 2, "torch": "2.14.1", "dirty_tree": True},
        training={"epochs": 7, "best_epoch": 3, "schedule": "mosi"},
    )
    save_record(record, frame, records)
    markdown = render_leaderboard(records, tmp_path / "out", n_resamples=50)["markdown"].read_text()
    assert "| tfn | 1111 | mosi | 7 | abcdef1234 (dirty tree) | Some CPU, 2 threads, torch 2.14.1 |" in markdown


def test_markdown_robustness_tables(rendered):
    markdown = rendered["markdown"].read_text()
    assert "### Robustness: default track, full grid (acc2_non0 ↑)" in markdown
    assert "| model | clean | −text | −audio | −vision | −text+audio |" in markdown
    assert "| model | AUILC all | AUILC text | AUILC audio | AUILC vision | effective (all) | relative (all) |" in markdown
    robustness = markdown.split("### Robustness")[1]
    assert "submitted" not in robustness  # predictions-only entries have no robustness


def test_html_page_has_tables_plots_and_no_external_resources(rendered):
    html = rendered["html"].read_text()
    # 2 ranked task tables, 1 predictions-only table, 2 provenance tables; robustness: 3 per protocol + noise
    assert html.count('<table class="sortable">') == 12
    assert html.count("<svg") == 11  # 4 missing-rate curves per protocol + 3 noise curves
    assert html.count('<g class="series"') == 11 * 3  # three full-protocol models per plot
    assert '<span class="tag">predictions only</span>' in html
    assert 'class="best"' in html and 'class="tied"' in html and "paper 1.019" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_rendering_is_byte_identical(records_dir, rendered, tmp_path):
    again = render_leaderboard(records_dir, tmp_path, n_resamples=300)
    for kind in ("markdown", "html"):
        assert again[kind].read_bytes() == rendered[kind].read_bytes()


def test_a_record_on_other_test_examples_is_refused(tmp_path):
    write_emotion(tmp_path / "records", "tfn", hit_rate=0.8)
    write_emotion(tmp_path / "records", "close", hit_rate=0.79)
    write_emotion(tmp_path / "records", "elsewhere", hit_rate=0.79, ids=[f"other{i}" for i in range(N_TEST)])
    with pytest.raises(LeaderboardError, match=r"elsewhere/seed1111.json: its predictions miss 150 and add 150"):
        render_leaderboard(tmp_path / "records", tmp_path / "out", n_resamples=50)


def test_an_edited_record_is_refused(tmp_path):
    """A record edited to acc2_non0 0.99 does not render as 0.990 ★ beside its true CI."""
    records = tmp_path / "records"
    write_sentiment(records, "mult", noise=0.8, seeds=(1111,))
    path = records / "synthetic" / "mult" / "seed1111.json"
    text = path.read_text()
    edited = re.sub(r'"acc2_non0": [0-9.]+', '"acc2_non0": 0.99', text)
    assert edited != text
    path.write_text(edited)
    with pytest.raises(LeaderboardError, match=r"seed1111.json: its metrics disagree with its predictions file \(acc2_non0 0.9900 stored"):
        render_leaderboard(records, tmp_path / "out", n_resamples=50)


def test_one_name_with_another_config_is_not_a_second_seed(tmp_path):
    records = tmp_path / "records"
    write_sentiment(records, "mult", noise=0.5, seeds=(1111,))
    write_sentiment(records, "mult", noise=0.6, seeds=(1112,))  # config {"noise": 0.6}: another config
    with pytest.raises(LeaderboardError, match="the name 'mult' was recorded with another config"):
        render_leaderboard(records, tmp_path / "out", n_resamples=50)


def test_a_record_of_other_data_is_refused(tmp_path):
    records = tmp_path / "records"
    write_sentiment(records, "tfn", noise=0.5)
    write_sentiment(records, "misa", noise=0.5, seeds=(1111,), fingerprint="data-v2")
    with pytest.raises(LeaderboardError, match=r"misa/seed1111.json: dataset fingerprint 'data-v2' differs"):
        render_leaderboard(records, tmp_path / "out", n_resamples=50)


def test_labels_are_checked_against_the_dataset_when_it_is_given(tmp_path):
    import datasets

    records = tmp_path / "records"
    write_sentiment(records, "tfn", noise=0.5, seeds=(1111,))
    test = datasets.Dataset.from_dict({"id": IDS, "sentiment": TRUTH.tolist()})
    render_leaderboard(records, tmp_path / "out", n_resamples=50, datasets_by_name={"synthetic": {"test": test}})
    shifted = datasets.Dataset.from_dict({"id": IDS, "sentiment": (TRUTH + 1.0).tolist()})
    with pytest.raises(LeaderboardError, match="sentiment_true column differs from the dataset's test labels"):
        render_leaderboard(records, tmp_path / "out", n_resamples=50, datasets_by_name={"synthetic": {"test": shifted}})


def test_holm_correction_decides_the_tied_marks():
    """Three comparisons with the best at p = 0.02, 0.03, 0.04: uncorrected all would be worse
    (p < 0.05); Holm rejects none of them (0.02 > 0.05 / 3), so all three stay tied."""
    from msa_bench.scoring.metrics import holm_rejections

    assert holm_rejections([0.02, 0.03, 0.04]) == [False, False, False]
    assert holm_rejections([0.001, 0.02, 0.04]) == [True, True, True]
    assert holm_rejections([0.001, 0.03, 0.04]) == [True, False, False]


def test_seed_aware_intervals_are_wider_than_example_only_ones():
    from msa_bench.scoring.metrics import bootstrap_scores, seed_bootstrap_scores

    rng = np.random.default_rng(0)
    tables = [
        predictions_frame(IDS, sentiment_true=TRUTH, sentiment_pred=TRUTH * scale + rng.normal(0, 0.3, N_TEST))
        for scale in (0.2, 0.5, 0.9)  # seeds that disagree a lot
    ]
    examples_only = bootstrap_scores(tables, n_resamples=400)["mae"]
    with_seeds = seed_bootstrap_scores(tables, n_resamples=400, seed_draws=1)["mae"]
    assert np.std(with_seeds) > 1.5 * np.std(examples_only)
    single = seed_bootstrap_scores(tables[:1], n_resamples=400)["mae"]
    np.testing.assert_allclose(single, bootstrap_scores(tables[:1], n_resamples=400)["mae"])


def test_empty_and_misplaced_records(tmp_path):
    paths = render_leaderboard(tmp_path / "none", tmp_path / "out")
    assert "No records yet." in paths["markdown"].read_text()
    records = tmp_path / "records"
    write_emotion(records, "tfn", hit_rate=0.5)
    (records / "ravdess" / "tfn").rename(records / "ravdess" / "other")
    with pytest.raises(LeaderboardError, match="seed1111.json: holds ravdess/tfn/seed1111; the file is misplaced"):
        render_leaderboard(records, tmp_path / "out")


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _dump_dom(page: Path) -> str:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--dump-dom",
        page.as_uri(),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_page_in_headless_chromium_has_tables_plots_and_sorts(rendered, tmp_path):
    html = rendered["html"].read_text()
    # Click the mae header twice (descending) before the DOM is dumped.
    clicking = html.replace(
        "</body>",
        '<script>var h = document.querySelectorAll("#synthetic table")[0].tHead.rows[0].cells[2];'
        "h.click(); h.click();</script>\n</body>",
    )
    page = tmp_path / "index.html"
    page.write_text(clicking, encoding="utf-8")
    dom = _dump_dom(page)
    assert dom.count('data-sortable="ready"') == 12  # the sorting script ran on every table
    assert dom.count("<svg") == 11 and dom.count("<polyline") >= 33
    sentiment_table = dom.split('<section id="synthetic">')[1].split("</table>")[0]
    models = re.findall(r'<tr><td data-value="([^"]+)"', sentiment_table)
    assert models[0] == "text_only"  # highest MAE first after sorting descending
    assert 'aria-sort="descending"' in sentiment_table


def test_leaderboard_command(records_dir, tmp_path):
    from typer.testing import CliRunner

    from msa_bench.cli import app

    result = CliRunner().invoke(app, ["leaderboard", "--records", str(records_dir), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "LEADERBOARD.md").is_file() and (tmp_path / "site" / "index.html").is_file()
    assert str(tmp_path / "site" / "index.html") in result.output


def test_rows_link_the_model_card_when_the_page_is_inside_the_repository(records_dir, tmp_path):
    """The fidelity table of a built-in model is one click from its leaderboard row."""
    from msa_bench.board.entries import REPOSITORY, model_card
    from msa_bench.board.load import load_entries as _load_entries
    from msa_bench.board.page import render_html, render_markdown, repository_link as _repository_link

    assert model_card("tfn") == "docs/models/tfn.md" and model_card("tfn+lnln") == "docs/models/tfn.md"
    assert model_card("submitted") is None and model_card("text_only") is None  # no card
    assert _repository_link(REPOSITORY / "leaderboard") == ".." and _repository_link(tmp_path) is None
    entries = _load_entries(records_dir, 50, 0)
    assert "| [tfn](../docs/models/tfn.md) |" in render_markdown(entries, "..")
    assert '<a href="../../docs/models/tfn.md"' in render_html(entries, "../..")
    assert "[tfn](" not in render_markdown(entries)


def test_confusion_matrix_of_the_best_model_is_each_true_class_split_over_predictions(rendered):
    """Markdown shows the best model's matrix (rows: true class, % of its clips), HTML every entry's."""
    from sklearn.metrics import recall_score

    labels = np.arange(N_TEST) % 8
    predicted = np.where(np.random.default_rng(3).random(N_TEST) < 0.8, labels, (labels + 1) % 8)  # write_emotion(tfn)
    recall = recall_score(labels, predicted, average=None) * 100
    markdown = rendered["markdown"].read_text().split("## ravdess", 1)[1]
    section = markdown.split("### Confusion matrices (categorical emotion)", 1)[1].split("### Provenance", 1)[0]
    assert "#### tfn (best model by UA, UA " in section and "audio_only" not in section
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ") and not line.startswith(("| true", "| ---"))]
    assert [r[0].strip() for r in rows] == ["neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise", "calm"]
    values = np.array([[float(v) for v in r[1:]] for r in rows])
    np.testing.assert_allclose(np.diag(values), np.round(recall), atol=0.5)
    np.testing.assert_allclose(values.sum(axis=1), 100, atol=4)  # rounded percentages
    html = rendered["html"].read_text()
    assert html.count("<details open><summary>tfn (best model by UA") == 1 and html.count("<details><summary>audio_only") == 1


def test_nested_boards_link_to_each_other(records_dir, tmp_path):
    """The real-data board renders inside the synthetic board's folder; each page links the other."""
    outer = render_leaderboard(records_dir, tmp_path, n_resamples=50)
    inner = render_leaderboard(records_dir, tmp_path / "real", n_resamples=50)
    outer = render_leaderboard(records_dir, tmp_path, n_resamples=50)  # now it sees the inner board
    for page, other in ((outer, inner), (inner, outer)):
        markdown = page["markdown"].read_text()
        target = re.search(r"See also: \[leaderboard of ravdess, synthetic\]\(([^)]+)\)", markdown).group(1)
        assert (page["markdown"].parent / target).resolve() == other["markdown"].resolve()
        href = re.search(r'see also: <a href="([^"]+)">leaderboard of ravdess, synthetic</a>', page["html"].read_text()).group(1)
        assert (page["html"].parent / href).resolve() == other["html"].resolve()
    alone = render_leaderboard(records_dir, tmp_path / "runs" / "mine", n_resamples=50)
    assert "See also" not in alone["markdown"].read_text() and "see also" not in alone["html"].read_text()


def test_paper_numbers_are_left_out_for_entries_run_with_overrides(tmp_path):
    """A variant of a model (another encoder, fewer epochs) is not the setting its paper reports."""
    from msa_bench.records.record import load_record, record_files

    write_sentiment(tmp_path / "records", "tfn", noise=0.4, paper={"source": "Zadeh et al., EMNLP 2017", "mae": 1.019})
    assert "(paper 1.019)" in render_leaderboard(tmp_path / "records", tmp_path / "plain", n_resamples=50)["markdown"].read_text()
    for path in record_files(tmp_path / "records"):
        record = load_record(path)
        record.training = {**record.training, "schedule": "synthetic+overrides"}
        path.write_text(record.to_json(), encoding="utf-8")
    assert "(paper 1.019)" not in render_leaderboard(tmp_path / "records", tmp_path / "overrides", n_resamples=50)["markdown"].read_text()
