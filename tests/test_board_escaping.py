"""Free text from records reaches both pages as text: no markup, no link, no extra table column.

Every field a record controls that a page shows (paper source, provenance, schedule, tags from the
config, the feature set, the track, robustness notes, refusal reasons, a folder's name) carries
the payloads of issue #23. ``LEADERBOARD.md`` is rendered as GitHub would (CommonMark with raw
HTML, tables and strikethrough; every link scheme allowed, so the escaping alone must stop
``javascript:``) and the HTML page is parsed; neither may contain an element, a link or a cell the
payloads asked for, and the payload text must still be readable.
"""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from markdown_it import MarkdownIt
from test_robustness_report import fake_sweep

from msa_bench.board.page import render_leaderboard
from msa_bench.records.record import ResultRecord
from msa_bench.records.store import write_record
from msa_bench.scoring.metrics import compute_metrics, predictions_frame
from record_helpers import code_for

PAYLOAD = (
    "<script>alert(1)</script> [click](javascript:alert(1)) <javascript:alert(2)> a | b | c "
    "`code` *bold* _it_ ~~gone~~ $x$ <img src=x onerror=alert(3)> &lt;b&gt; \\| end\nsecond line"
)
#: What a reader must see of it: the same characters, whitespace collapsed to single spaces.
VISIBLE = " ".join(PAYLOAD.split())
#: The elements the payload would make if it were read as markup (tag, text).
INJECTED = {("code", "code"), ("em", "bold"), ("strong", "bold"), ("em", "it"), ("del", "gone"), ("s", "gone")}

IDS = [f"clip{i:03d}" for i in range(120)]
TRUTH = np.round(np.random.default_rng(0).normal(0, 1.5, len(IDS)), 1)


def _write(records: Path, model: str, seed: int, fingerprint: str = "fp", **fields) -> Path:
    frame = predictions_frame(IDS, sentiment_true=TRUTH, sentiment_pred=TRUTH + np.random.default_rng(seed).normal(0, 0.5, len(IDS)))
    metrics = compute_metrics(frame)
    record = ResultRecord(
        model=model, dataset="synthetic", seed=seed, kind="full", metrics=metrics, dataset_fingerprint=fingerprint,
        robustness=fields.pop("robustness", fake_sweep(metrics["acc2_non0"])), code=fields.pop("code", code_for(model)), **fields,
    )
    return write_record(record, frame, records)


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, str]:
    records = tmp_path_factory.mktemp("records")
    sweep = fake_sweep(0.8)
    sweep["skipped"] = {"modality vision": PAYLOAD}
    for seed in (1, 2):
        _write(
            records, "evil", seed,
            paper_results={"source": PAYLOAD, "mae": 1.0},
            environment={"cpu": PAYLOAD, "threads": 1, "torch": PAYLOAD},
            training={"schedule": PAYLOAD, "epochs": PAYLOAD},
            git_commit=PAYLOAD,
            config={"train": {"missing_modality_rate": PAYLOAD}, "track": PAYLOAD},
            robustness=sweep,
        )
        _write(records, "plain", seed + 10, config={"train": {}}, environment={"cpu": "x"})
    features = {"data": {"features": {"audio": PAYLOAD}}}
    _write(records, "featured", 3, config=features)
    _write(records, "stranger", 4, fingerprint=PAYLOAD, config={"train": {}})  # refused: its fingerprint is quoted in the reason
    _write(records, "stranger", 5, fingerprint=PAYLOAD, config={"train": {}})
    misplaced = _write(records, "moved", 6, config={"train": {}})
    misplaced.parent.rename(misplaced.parent.with_name("a|b`<i>[x](javascript:y)"))  # refused: misplaced, the folder named
    rendered = render_leaderboard(records, tmp_path_factory.mktemp("out"), n_resamples=50)
    assert {r.what.split("/")[1] for r in rendered.refused} == {"stranger", "a|b`<i>[x](javascript:y)"}
    return {kind: path.read_text(encoding="utf-8") for kind, path in rendered.items()}


class _Elements(HTMLParser):
    """A page's start tags (name, attributes), its text, its tables (cells per row) and the text
    of every inline element that markup could create."""

    INLINE = ("code", "em", "strong", "del", "s", "a")

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.tables: list[list[int]] = []
        self.inline: list[tuple[str, str]] = []
        self._open: list[tuple[str, list[str]]] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag in self.INLINE:
            self._open.append((tag, []))
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append(0)
        elif tag in ("td", "th"):
            self.tables[-1][-1] += 1

    def handle_endtag(self, tag):
        if tag in self.INLINE and self._open and self._open[-1][0] == tag:
            name, parts = self._open.pop()
            self.inline.append((name, "".join(parts).strip()))

    def handle_data(self, data):
        self.text.append(data)
        for _, parts in self._open:
            parts.append(data)

    def count(self, tag: str) -> int:
        return sum(1 for name, _ in self.tags if name == tag)

    @property
    def visible(self) -> str:
        return " ".join("".join(self.text).split())


def _as_github_renders(markdown: str) -> str:
    renderer = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
    renderer.validateLink = lambda url: True  # no scheme filter: the escaping alone must hold
    return renderer.render(markdown)


def _no_markup_from_payloads(page: _Elements, scripts: int) -> None:
    assert page.count("script") == scripts and page.count("img") == 0 and page.count("i") == 0
    assert not INJECTED & set(page.inline), INJECTED & set(page.inline)
    links = [attrs.get("href", "") for name, attrs in page.tags if name == "a"]
    assert not [href for href in links if "javascript:" in href.lower() or "(" in href], links


def test_markdown_page_shows_every_payload_as_text(pages):
    page = _Elements(_as_github_renders(pages["markdown"]))
    _no_markup_from_payloads(page, scripts=0)
    assert page.tables and all(len(set(rows)) == 1 for rows in page.tables)  # no | broke out of its cell
    text = page.visible
    assert text.count(VISIBLE) >= 8  # paper source, CPU, torch, schedule, epochs, tags, feature set, robustness note
    assert "a|b`<i>[x](javascript:y)/seed6.json" in text and "'<script>alert(1)</script> [click](javascript:alert(1))" in text


def test_html_page_shows_every_payload_as_text(pages):
    page = _Elements(pages["html"])
    _no_markup_from_payloads(page, scripts=1)  # the sorting script
    assert all(len(set(rows)) == 1 for rows in page.tables)
    text = page.visible
    assert text.count(VISIBLE) >= 8 and "a|b`<i>[x](javascript:y)/seed6.json" in text
    assert not [v for _, attrs in page.tags for v in attrs.values() if v and v.lstrip().lower().startswith("javascript")]


def test_markdown_text_escapes_each_markup_character():
    from msa_bench.board.format import markdown_text

    assert markdown_text("a|b") == "a\\|b" and markdown_text("`x`") == "\\`x\\`"
    assert markdown_text("*_[]<>&~$\\") == "\\*\\_\\[\\]\\<\\>\\&\\~\\$\\\\"
    assert markdown_text("two\nlines\r\n  here") == "two lines here" and markdown_text(3.5) == "3.5"
