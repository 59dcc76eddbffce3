"""Leaderboard rendering from hand-made records: content, marks, determinism, a real browser."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from msa_bench.leaderboard import render_leaderboard
from msa_bench.metrics import compute_metrics, predictions_frame
from msa_bench.results import ResultRecord, save_record
from test_robustness_report import fake_sweep

N_TEST = 150
IDS = [f"video{i // 10}_{i % 10}" for i in range(N_TEST)]
TRUTH = np.round(np.random.default_rng(0).normal(0, 1.5, N_TEST), 1)

N_TEST = 150
def write_sentiment(records_dir: Path, model: str, noise: float, seeds=(1111, 1112), kind="full", paper=None) -> None:
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
    assert "submitted *(predictions only)*" in markdown
    assert "Paper numbers for tfn: Zadeh et al., EMNLP 2017" in markdown
    # rows are ranked by the primary metric
    order = [line.split("|")[1].strip() for line in markdown.split("### Sentiment regression")[1].splitlines()[4:8]]
    assert order[0] in ("tfn", "tfn_twin") and order[-1] == "text_only"


def test_markdown_robustness_tables(rendered):
    markdown = rendered["markdown"].read_text()
    assert "### Robustness: default track, full grid (acc2_non0 ↑)" in markdown
    assert "| model | clean | −text | −audio | −vision | −text+audio |" in markdown
    assert "| model | AUILC all | AUILC text | AUILC audio | AUILC vision | effective (all) | relative (all) |" in markdown
    robustness = markdown.split("### Robustness")[1]
    assert "submitted" not in robustness  # predictions-only entries have no robustness


def test_html_page_has_tables_plots_and_no_external_resources(rendered):
    html = rendered["html"].read_text()
    assert html.count('<table class="sortable">') == 9  # 2 task tables; 3 robustness tables per protocol; noise
    assert html.count("<svg") == 11  # 4 missing-rate curves per protocol + 3 noise curves
    assert html.count('<g class="series"') == 11 * 3  # three full-protocol models per plot
    assert '<span class="tag">predictions only</span>' in html
    assert 'class="best"' in html and 'class="tied"' in html and "paper 1.019" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html)


def test_rendering_is_byte_identical(records_dir, rendered, tmp_path):
    again = render_leaderboard(records_dir, tmp_path, n_resamples=300)
    for kind in ("markdown", "html"):
        assert again[kind].read_bytes() == rendered[kind].read_bytes()


def test_entries_on_other_test_examples_are_tagged_and_not_compared(tmp_path):
    write_emotion(tmp_path / "records", "tfn", hit_rate=0.8)
    write_emotion(tmp_path / "records", "close", hit_rate=0.79)
    write_emotion(tmp_path / "records", "elsewhere", hit_rate=0.79, ids=[f"other{i}" for i in range(N_TEST)])
    markdown = render_leaderboard(tmp_path / "records", tmp_path / "out", n_resamples=200)["markdown"].read_text()
    assert _markdown_row(markdown, "close", "## ravdess")[2].startswith("**")
    elsewhere = _markdown_row(markdown, "elsewhere *(other test examples, not compared)*", "## ravdess")
    assert not elsewhere[2].startswith("**")


def test_empty_and_misplaced_records(tmp_path):
    paths = render_leaderboard(tmp_path / "none", tmp_path / "out")
    assert "No records yet." in paths["markdown"].read_text()
    records = tmp_path / "records"
    write_emotion(records, "tfn", hit_rate=0.5)
    (records / "ravdess" / "tfn").rename(records / "ravdess" / "other")
    with pytest.raises(ValueError, match="seed1111.json: holds ravdess/tfn/seed1111; the file is misplaced"):
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
    assert dom.count('data-sortable="ready"') == 9  # the sorting script ran on every table
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
