"""Leaderboard rendering from hand-made records: content, marks, determinism, a real browser,
and the records it refuses (edited, other config under one name, other data, other test ids,
labels that are not the dataset's) while the other entries still render."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_robustness_report import fake_sweep

from msa_bench.board.format import markdown_text
from msa_bench.board.page import render_leaderboard
from msa_bench.records.record import ResultRecord
from msa_bench.records.store import write_record
from msa_bench.scoring.metrics import compute_metrics, predictions_frame
from record_helpers import code_for

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
            code=code_for(model, kind), isolation="sandbox" if kind == "full" else "none",
            paper_results=paper or {},
            wall_time_s=float(seed),  # volatile fields must not reach the pages
        )
        write_record(record, frame, records_dir)


def write_emotion(records_dir: Path, model: str, hit_rate: float, ids=IDS) -> None:
    labels = np.arange(N_TEST) % 8
    rng = np.random.default_rng(3)
    frame = predictions_frame(
        ids, emotion_true=labels, emotion_pred=np.where(rng.random(N_TEST) < hit_rate, labels, (labels + 1) % 8)
    )
    write_record(
        ResultRecord(model=model, dataset="ravdess", seed=1111, kind="full", metrics=compute_metrics(frame), code=code_for(model), isolation="sandbox"),
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
    """The cells of ``model``'s first row after ``section`` (names are escaped on the page: tfn\\_twin)."""
    text = markdown.split(section, 1)[1]
    row = next(line for line in text.splitlines() if line.startswith(f"| {markdown_text(model)} "))
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
    assert order[0] in ("tfn", "tfn\\_twin") and order[-1] == "text\\_only" and len(order) == 3
    unranked = markdown.split("### Sentiment regression: predictions-only submissions (not verified, not ranked)")[1]
    submitted = _markdown_row(unranked, "submitted", "|")
    assert submitted[0] == "submitted *(predictions only)*"
    assert "★" not in " ".join(submitted) and "**" not in " ".join(submitted)
    assert "Holm" in markdown and "not comparable with any paper" in markdown
    # a model that is not one of the repository's baselines ran submitted code: tagged as such
    assert "| tfn\\_twin *(submitted code)* |" in markdown and "| tfn | 2 |" in markdown


def test_provenance_table_names_seeds_schedule_epochs_and_commit(tmp_path):
    records = tmp_path / "records"
    frame = predictions_frame(IDS, sentiment_true=TRUTH, sentiment_pred=TRUTH * 0.5)
    record = ResultRecord(
        model="tfn", dataset="mosi", seed=1111, kind="full", metrics=compute_metrics(frame), git_commit="abcdef1234567890", code=code_for("tfn"), isolation="sandbox",
        environment={"cpu": "Some CPU", "threads": 2, "torch": "2.14.1", "dirty_tree": True},
        training={"epochs": 7, "best_epoch": 3, "schedule": "mosi"},
    )
    write_record(record, frame, records)
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
    # 2 ranked task tables, 1 predictions-only table, the other sentiment metrics of both sentiment
    # tables (one click away), 2 provenance tables; robustness: 3 per protocol + noise
    assert html.count('<table class="sortable">') == 14
    assert html.count('<details class="more">') == 2
    assert html.count('<figure class="plot">') == 11  # 4 missing-rate curves per protocol + 3 noise curves
    assert html.count('<ul class="legend">') == 1  # one legend for every plot of the robustness board
    assert html.count('<g class="series"') == 11 * 3  # three full-protocol models per plot
    assert '<span class="tag">predictions only</span>' in html
    assert 'class="best"' in html and 'class="tied"' in html and "paper 1.019" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_rendering_is_byte_identical(records_dir, rendered, tmp_path):
    again = render_leaderboard(records_dir, tmp_path, n_resamples=300)
    for kind in ("markdown", "html"):
        assert again[kind].read_bytes() == rendered[kind].read_bytes()


def refused(rendered) -> dict[str, str]:
    """The refused records of a render: file (relative to the records folder) -> reason."""
    return {r.what: r.reason for r in rendered.refused}


def ranked_models(markdown: str, section: str = "## synthetic") -> list[str]:
    """The models of the first table after ``section``, in order."""
    table = markdown.split(section, 1)[1].split("### ", 2)[1]
    rows = [line for line in table.splitlines() if line.startswith("|")][2:]
    return [row.split("|")[1].strip().split(" ")[0].replace("\\_", "_") for row in rows]


def test_a_record_on_other_test_examples_is_refused_and_the_others_render(tmp_path):
    write_emotion(tmp_path / "records", "tfn", hit_rate=0.8)
    write_emotion(tmp_path / "records", "close", hit_rate=0.79)
    write_emotion(tmp_path / "records", "elsewhere", hit_rate=0.79, ids=[f"other{i}" for i in range(N_TEST)])
    rendered = render_leaderboard(tmp_path / "records", tmp_path / "out", n_resamples=50)
    assert refused(rendered) == {"ravdess/elsewhere/seed1111.json": "its predictions miss 150 and add 150 of the board's 150 test ids"}
    assert sorted(ranked_models(rendered["markdown"].read_text(), "## ravdess")) == ["close", "tfn"]


def test_metrics_that_disagree_with_the_predictions_are_refused(tmp_path):
    """A record sealed with acc2_non0 0.99 over predictions that score less does not render as 0.990 ★."""
    records = tmp_path / "records"
    write_sentiment(records, "tfn", noise=0.5, seeds=(1111,))
    frame = predictions_frame(IDS, sentiment_true=TRUTH, sentiment_pred=TRUTH + np.random.default_rng(1).normal(0, 0.8, N_TEST))
    metrics = {**compute_metrics(frame), "acc2_non0": 0.99}
    write_record(ResultRecord(model="mult", dataset="synthetic", seed=1111, kind="full", metrics=metrics, code=code_for("mult"), isolation="sandbox"), frame, records)
    rendered = render_leaderboard(records, tmp_path / "out", n_resamples=50)
    reason = refused(rendered)["synthetic/mult/seed1111.json"]
    assert reason.startswith("its metrics disagree with its predictions file (acc2_non0 0.9900 stored")
    markdown = rendered["markdown"].read_text()
    assert ranked_models(markdown) == ["tfn"] and "0.990" not in markdown.split("## Refused records")[0]


def test_a_record_edited_on_disk_is_refused(tmp_path):
    records = tmp_path / "records"
    write_sentiment(records, "tfn", noise=0.5, seeds=(1111,))
    write_sentiment(records, "mult", noise=0.8, seeds=(1111,))
    path = records / "synthetic" / "mult" / "seed1111.json"
    edited = re.sub(r'"acc2_non0": [0-9.]+', '"acc2_non0": 0.99', path.read_text())
    path.write_text(edited)
    rendered = render_leaderboard(records, tmp_path / "out", n_resamples=50)
    assert list(refused(rendered)) == ["synthetic/mult/seed1111.json"]
    assert ranked_models(rendered["markdown"].read_text()) == ["tfn"]


def test_one_name_with_another_config_is_not_a_second_seed(tmp_path):
    """The majority config of a name stays; the other records are refused; a tie refuses all."""
    records = tmp_path / "records"
    write_sentiment(records, "mult", noise=0.5, seeds=(1111, 1112))
    write_sentiment(records, "mult", noise=0.6, seeds=(1113,))  # config {"noise": 0.6}: another config
    write_sentiment(records, "misa", noise=0.5, seeds=(1111,))
    write_sentiment(records, "misa", noise=0.6, seeds=(1112,))
    write_sentiment(records, "tfn", noise=0.5, seeds=(1111,))
    rendered = render_leaderboard(records, tmp_path / "out", n_resamples=50)
    reasons = refused(rendered)
    assert sorted(reasons) == ["synthetic/misa/seed1111.json", "synthetic/misa/seed1112.json", "synthetic/mult/seed1113.json"]
    assert "holds more records of another config" in reasons["synthetic/mult/seed1113.json"]
    assert "none has a majority" in reasons["synthetic/misa/seed1111.json"]
    markdown = rendered["markdown"].read_text()
    assert sorted(ranked_models(markdown)) == ["mult", "tfn"] and _markdown_row(markdown, "mult")[1] == "2"


def test_a_record_of_other_data_is_refused(tmp_path):
    records = tmp_path / "records"
    write_sentiment(records, "tfn", noise=0.5)
    write_sentiment(records, "misa", noise=0.5, seeds=(1111,), fingerprint="data-v2")
    rendered = render_leaderboard(records, tmp_path / "out", n_resamples=50)
    assert refused(rendered)["synthetic/misa/seed1111.json"].startswith("its dataset fingerprint 'data-v2' differs from the board's 'data-v1'")
    assert ranked_models(rendered["markdown"].read_text()) == ["tfn"]


def test_labels_are_checked_against_the_dataset_when_it_is_given(tmp_path):
    import datasets

    records = tmp_path / "records"
    write_sentiment(records, "tfn", noise=0.5, seeds=(1111,))
    test = datasets.Dataset.from_dict({"id": IDS, "sentiment": TRUTH.tolist()})
    assert not render_leaderboard(records, tmp_path / "out", n_resamples=50, datasets_by_name={"synthetic": {"test": test}}).refused
    shifted = datasets.Dataset.from_dict({"id": IDS, "sentiment": (TRUTH + 1.0).tolist()})
    rendered = render_leaderboard(records, tmp_path / "out", n_resamples=50, datasets_by_name={"synthetic": {"test": shifted}})
    assert refused(rendered) == {"synthetic/tfn/seed1111.json": "its sentiment_true column differs from the dataset's test labels"}


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


def test_empty_missing_and_misplaced_records(tmp_path):
    from msa_bench.util.errors import MissingFileError

    (tmp_path / "empty").mkdir()
    paths = render_leaderboard(tmp_path / "empty", tmp_path / "out")
    assert "No records yet." in paths["markdown"].read_text() and not paths.refused
    with pytest.raises(MissingFileError, match="none: no such records folder"):
        render_leaderboard(tmp_path / "none", tmp_path / "out")
    records = tmp_path / "records"
    write_emotion(records, "tfn", hit_rate=0.5)
    (records / "ravdess" / "tfn").rename(records / "ravdess" / "other")
    rendered = render_leaderboard(records, tmp_path / "out")
    assert refused(rendered) == {"ravdess/other/seed1111.json": "it holds ravdess/tfn/seed1111; the file is misplaced"}


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
        '<script>var h = Array.prototype.find.call(document.querySelectorAll("#synthetic table")[0].tHead.rows[0].cells,'
        ' function (c) { return c.textContent.indexOf("mae") === 0; }); h.click(); h.click();</script>\n</body>',
    )
    page = tmp_path / "index.html"
    page.write_text(clicking, encoding="utf-8")
    dom = _dump_dom(page)
    assert dom.count('data-sortable="ready"') == 14  # the sorting script ran on every table
    assert dom.count('<figure class="plot">') == 11 and dom.count("<polyline") >= 33
    sentiment_table = dom.split('<section id="synthetic">')[1].split("</table>")[0]
    models = re.findall(r'<tr><td data-value="([^"]+)"', sentiment_table)
    assert models[0] == "text_only"  # highest MAE first after sorting descending
    assert 'aria-sort="descending"' in sentiment_table


def test_leaderboard_command_renders_a_workspace_or_the_folders_given(records_dir, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from msa_bench.cli import app

    result = CliRunner().invoke(app, ["leaderboard", "--records", str(records_dir), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "LEADERBOARD.md").is_file() and (tmp_path / "out" / "site" / "index.html").as_uri() in result.output
    shutil.copytree(records_dir, tmp_path / "space" / "records")
    monkeypatch.setenv("MSA_BENCH_HOME", str(tmp_path / "space"))
    result = CliRunner().invoke(app, ["leaderboard"])
    assert result.exit_code == 0, result.output
    assert f"board: {tmp_path / 'space' / 'LEADERBOARD.md'}" in result.output and (tmp_path / "space" / "site" / "index.html").is_file()


def test_leaderboard_command_loads_the_checked_dataset_with_its_options(tmp_path, monkeypatch):
    """``--dataset-option NAME:key=value`` reaches the dataset of ``--data-dir NAME`` (RAVDESS's board
    is checked on split ``speech20``), and its labels decide which records are refused."""
    import datasets
    from typer.testing import CliRunner

    import msa_bench.loading.load as load
    from msa_bench.cli import app

    records = tmp_path / "records"
    write_sentiment(records, "tfn", noise=0.5, seeds=(1111,))
    calls = []

    def fake_load(name, data_dir=None, **options):
        calls.append((name, data_dir, options))
        return {"test": datasets.Dataset.from_dict({"id": IDS, "sentiment": (TRUTH + 1.0).tolist()})}

    monkeypatch.setattr(load, "load_dataset", fake_load)
    common = ["leaderboard", "--records", str(records), "--out", str(tmp_path / "out"), "--data-dir", f"synthetic={tmp_path}"]
    result = CliRunner().invoke(app, [*common, "--dataset-option", "synthetic:split_scheme=speech20", "--dataset-option", "synthetic:fold=2"])
    assert calls == [("synthetic", tmp_path, {"split_scheme": "speech20", "fold": 2})]
    assert result.exit_code == 1 and "its sentiment_true column differs from the dataset's test labels" in result.output
    result = CliRunner().invoke(app, [*common, "--dataset-option", "split_scheme=speech20"])
    assert result.exit_code == 2 and "expected DATASET:key=value naming a dataset given to --data-dir (synthetic)" in result.output
    assert len(calls) == 1  # refused before anything was loaded


def test_rows_link_the_model_card_when_the_page_is_inside_the_repository(records_dir, tmp_path):
    """The fidelity table of a built-in model is one click from its leaderboard row."""
    from msa_bench.board.boards import load_boards
    from msa_bench.board.entries import REPOSITORY, model_card
    from msa_bench.board.page import render_html, render_markdown
    from msa_bench.board.page import repository_link as _repository_link

    assert model_card("tfn") == "docs/models/tfn.md" and model_card("tfn+lnln") == "docs/models/tfn.md"
    assert model_card("submitted") is None and model_card("text_only") is None  # no card
    assert _repository_link(REPOSITORY / "leaderboard") == ".." and _repository_link(tmp_path) is None
    boards, _ = load_boards(records_dir, 50, 0)
    assert "| [tfn](../docs/models/tfn.md) |" in render_markdown(boards, root="..")
    assert '<a href="../../docs/models/tfn.md"' in render_html(boards, root="../..")
    assert "[tfn](" not in render_markdown(boards)


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
