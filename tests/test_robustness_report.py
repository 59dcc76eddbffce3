"""The robustness part of the leaderboard, from hand-made records: boards per track and grid,
both protocols, AUILC / effective / relative robustness, tags and the protocol switch."""

from __future__ import annotations

import re

import numpy as np
import pytest

from msa_bench.board.format import markdown_text
from msa_bench.board.page import render_leaderboard
from msa_bench.records.record import ResultRecord
from msa_bench.records.store import write_record
from msa_bench.scoring.metrics import compute_metrics, predictions_frame
from msa_bench.scoring.robustness import LEVELS, QUICK_LEVELS, auilc, grid_name
from record_helpers import code_for

DROPS = ("text", "audio", "vision", "text+audio", "text+vision", "audio+vision", "text+audio+vision")
IDS = [f"video{i // 10}_{i % 10}" for i in range(80)]
TRUTH = np.round(np.random.default_rng(0).normal(0, 1.5, len(IDS)), 1)


def _curve(levels, clean: float, slope: float) -> dict:
    values = {"acc2_non0": [clean - slope * r for r in levels], "mae": [0.8 + slope * r for r in levels]}
    return {"levels": list(levels), "values": values, "auilc": {m: auilc(levels, v) for m, v in values.items()}}


def fake_sweep(clean: float, slope: float = 0.3, levels=LEVELS, modalities=("text", "audio", "vision")) -> dict:
    """A robustness dict in the sweep's format: linear curves falling by ``slope`` per unit rate."""
    keys = ("all", *modalities)
    protocol = {
        "modality_drop": {c: {"acc2_non0": clean - 0.1 * len(c.split("+")), "mae": 1.0} for c in DROPS if set(c.split("+")) <= set(modalities)},
        "missing_rate": {k: _curve(levels, clean, slope) for k in keys},
    }
    skipped = {f"modality {m}": f"the dataset has no {m}" for m in ("text", "audio", "vision") if m not in modalities}
    return {
        "metric": "acc2_non0",
        "metrics": ["acc2_non0", "mae"],
        "grid": grid_name(levels),
        "levels": list(levels),
        "clean": {"acc2_non0": clean, "mae": 0.8},
        "protocols": {"unannounced": protocol, "announced": protocol},
        "noise": {m: _curve(levels, clean, slope / 2) for m in modalities},
        "skipped": skipped,
    }


def _write(records, model, slope, levels=LEVELS, track="default", train=None, seed=1111):
    frame = predictions_frame(IDS, sentiment_true=TRUTH, sentiment_pred=TRUTH + np.random.default_rng(seed).normal(0, 0.5, len(IDS)))
    metrics = compute_metrics(frame)
    record = ResultRecord(
        model=model, dataset="synthetic", seed=seed, kind="full", metrics=metrics,
        robustness=fake_sweep(metrics["acc2_non0"], slope, levels),
        config={"track": track, "train": train or {"missing_modality_rate": 0.0}}, code=code_for(model), isolation="sandbox",
    )
    write_record(record, frame, records)


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict:
    records = tmp_path_factory.mktemp("records")
    _write(records, "lf_dnn", 0.3)
    _write(records, "lf_dnn", 0.3, seed=1112)
    _write(records, "sturdy", 0.1)
    _write(records, "umdf", 0.2, train={"missing_modality_rate": 0.3})
    _write(records, "quickie", 0.2, levels=QUICK_LEVELS)
    _write(records, "lf_dnn+lnln", 0.1, track="lnln", train={"missing_frame_rate": 1.0})
    paths = render_leaderboard(records, tmp_path_factory.mktemp("out"), n_resamples=100)
    return {kind: path.read_text() for kind, path in paths.items()}


def _board(markdown: str, title: str) -> str:
    return markdown.split(f"### Robustness: {title}")[1].split("### Robustness:")[0]


def test_boards_keep_tracks_and_grids_apart(pages):
    markdown = pages["markdown"]
    full, quick, lnln = (_board(markdown, t) for t in ("default track, full grid", "default track, quick grid", "lnln track, full grid"))
    assert "| sturdy " in full and "quickie" not in full and "lnln" not in full.split("\n", 1)[1]
    assert "| quickie " in quick and "| sturdy " not in quick and "AUILC (quick) all" in quick and "not comparable" in quick
    assert "| lf\\_dnn+lnln " in lnln and "| sturdy " not in lnln


def test_both_protocols_and_every_table_are_shown(pages):
    full = _board(pages["markdown"], "default track, full grid")
    assert "#### unannounced protocol (LNLN, EMT-DLFR)" in full and "#### announced protocol" in full
    assert full.count("| model | clean | −text | −audio | −vision | −text+audio |") == 2
    assert full.count("| model | AUILC all | AUILC text | AUILC audio | AUILC vision | effective (all) | relative (all) |") == 2
    assert full.count("| model | acc2_non0 ↑ | mae ↓ |") == 2
    assert "#### noise (protocol-independent)" in full


def _row(board: str, model: str) -> list[str]:
    line = next(line for line in board.splitlines() if line.startswith(f"| {markdown_text(model)} ") and "AUILC" not in line)
    return [cell.strip() for cell in line.strip("|").split("|")]


def test_auilc_and_effective_robustness_against_lf_dnn(pages):
    full = _board(pages["markdown"], "default track, full grid")
    summary = full.split("AUILC of acc2\\_non0:")[1]
    reference, sturdy = _row(summary, "lf_dnn"), _row(summary, "sturdy")
    # linear curves: area = clean - slope / 2; effective = the difference of the slopes' areas
    assert reference[5] == "0.000 ± 0.000" and sturdy[5] == "0.100"
    assert sturdy[6] == "1.000" and reference[6] == "0.000"  # relative: min-max over the table


def test_augmentation_trained_entries_are_tagged_in_every_table(pages):
    markdown = pages["markdown"]
    tag = "umdf *(trained with modality dropout (rate ≤ 0.3))*"
    main_table = markdown.split("### Sentiment regression")[1].split("###")[0]
    assert tag in main_table and tag in _board(markdown, "default track, full grid")
    assert "*(trained with missing frames (LNLN, rate ≤ 1))*" in markdown


def test_page_has_the_protocol_switch_and_curves(pages):
    html = pages["html"]
    assert html.count('class="show-unannounced" checked') == 3  # one switch per board
    assert html.count('<div class="panel-announced">') == 3
    assert ".show-unannounced:checked ~ .panel-announced" in html  # CSS only, no script needed
    board = html.split("default track, full grid")[1].split("<h3>")[0]
    assert board.count('<figure class="plot">') == 2 * 4 + 3  # per protocol: all, text, audio, vision; then noise
    assert re.search(r"missing rate, all \(unannounced\)", board) and re.search(r"noise level, text \(both protocols\)", board)


def test_skipped_conditions_are_reported(tmp_path):
    frame = predictions_frame(IDS, sentiment_true=TRUTH, sentiment_pred=TRUTH)
    record = ResultRecord(
        model="text_only", dataset="mosi", seed=1, kind="full", metrics=compute_metrics(frame),
        robustness=fake_sweep(0.8, modalities=("text",)), config={"train": {}}, code=code_for("text_only"), isolation="sandbox",
    )
    write_record(record, frame, tmp_path / "records")
    markdown = render_leaderboard(tmp_path / "records", tmp_path / "out", n_resamples=50)["markdown"].read_text()
    assert "Not applicable: modality audio (the dataset has no audio)." in markdown
    assert "| model | AUILC all | AUILC text | effective (all) | relative (all) |" in markdown
    assert "Effective robustness needs lf\\_dnn on this board" in markdown


def test_a_condition_listed_as_skipped_is_neither_a_column_nor_a_curve(tmp_path):
    """One record says the dataset has no vision and its text cannot be noised: no entry of the
    board shows a vision column or curve, nor a text-noise curve; both are named as not applicable."""
    records = tmp_path / "records"
    _write(records, "lf_dnn", 0.3)  # a sweep of every modality
    frame = predictions_frame(IDS, sentiment_true=TRUTH, sentiment_pred=TRUTH * 0.9)
    sweep = fake_sweep(0.8, modalities=("text", "audio"))
    sweep["skipped"]["noise text"] = "the training split has no text tokens to draw replacements from"
    del sweep["noise"]["text"]
    write_record(ResultRecord(model="aware", dataset="synthetic", seed=1, kind="full", metrics=compute_metrics(frame), robustness=sweep,
                              code=code_for("aware"), isolation="sandbox"), frame, records)
    paths = render_leaderboard(records, tmp_path / "out", n_resamples=50)
    markdown, html = (paths[kind].read_text() for kind in ("markdown", "html"))
    robustness = markdown.split("### Robustness")[1]
    assert "vision" not in robustness.split("Not applicable: noise text")[1].split("\n", 1)[1]  # after the notes: no column names it
    assert "Not applicable: modality vision (the dataset has no vision). Not applicable: noise text" in robustness
    assert "| model | clean | −text | −audio | −text+audio |" in robustness and "| model | AUILC all | AUILC text | AUILC audio |" in robustness
    captions = re.findall(r"<figcaption>([^<]+)</figcaption>", html)
    assert captions and not [c for c in captions if "vision" in c or c.startswith("noise level, text")]
    assert "noise level, audio (both protocols)" in captions
