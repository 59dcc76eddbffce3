"""The README and the docs site: every relative link and anchor resolves, every page is in the
navigation, the README stays short and its tour's code runs, no user-facing text names a path
only the maintainers have, and (with the ``docs`` extra) ``mkdocs build --strict`` passes."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
README = ROOT / "README.md"

#: Paths that exist only on the maintainers' machines; user-facing text must never name them.
MAINTAINER_PATHS = ("../shared", "/work/", "/root/")

SNIPPET = re.compile(r'^--8<-- "([^":]+)(?::([\w-]+))?"\s*$', re.M)
FENCE = re.compile(r"^(```|~~~).*?^\1\s*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HTML_LINK = re.compile(r"""<a\s[^>]*href=["']([^"']+)["']""")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
EXPLICIT_ID = re.compile(r"\{[^}]*#([\w-]+)[^}]*\}")
HTML_ID = re.compile(r"""\sid=["']([^"']+)["']""")


def user_facing_pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


def section(text: str, name: str, source: Path) -> str:
    """The lines between ``--8<-- [start:name]`` and ``--8<-- [end:name]`` (pymdownx.snippets)."""
    match = re.search(rf"^.*--8<-- \[start:{name}\].*$\n(.*?)^.*--8<-- \[end:{name}\].*$", text, re.M | re.S)
    if match is None:
        raise AssertionError(f"{source.relative_to(ROOT)} has no snippet section {name!r}")
    return match.group(1)


def expanded(path: Path) -> str:
    """The page as MkDocs sees it: ``--8<-- "file[:section]"`` lines replaced by what they include
    (paths relative to the repository root, as ``base_path`` in mkdocs.yml), markers removed."""

    def include(match: re.Match) -> str:
        source = ROOT / match.group(1)
        if not source.is_file():
            raise AssertionError(f"{path.relative_to(ROOT)} includes {match.group(1)}, which does not exist")
        text = source.read_text(encoding="utf-8")
        if match.group(2):
            text = section(text, match.group(2), source)
        return expanded_text(text, source)

    def expanded_text(text: str, source: Path) -> str:
        text = SNIPPET.sub(include, text)
        return re.sub(r"^.*--8<-- \[(start|end):[\w-]+\].*\n", "", text, flags=re.M)

    return expanded_text(path.read_text(encoding="utf-8"), path)


def slug(heading: str) -> str:
    """Python-Markdown's ``toc`` slug of a heading's text (markup removed first, as it renders)."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = EXPLICIT_ID.sub("", text)
    text = re.sub(r"[`*]", "", text)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^\w\s-]", "", text).strip().lower()
    return re.sub(r"[-\s]+", "-", text)


def anchors(text: str) -> set[str]:
    """Every id a page defines: heading slugs (with the ``_1``, ``_2`` suffixes of repeats),
    explicit ``{#id}`` attributes and HTML ``id=``."""
    text = FENCE.sub("", text)
    found: set[str] = set()
    for _, heading in HEADING.findall(text):
        base = slug(heading)
        name, n = base, 0
        while name in found:
            n += 1
            name = f"{base}_{n}"
        found.add(name)
    return found | set(EXPLICIT_ID.findall(text)) | set(HTML_ID.findall(text))


def links(text: str) -> list[str]:
    """Link targets in Markdown and HTML links, outside code."""
    text = INLINE_CODE.sub("", FENCE.sub("", text))
    return LINK.findall(text) + HTML_LINK.findall(text)


def broken_links(path: Path) -> list[str]:
    """Every relative link of a page that names a missing file or anchor, as ``page: target (why)``."""
    text = expanded(path)
    broken = []
    for target in links(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):  # http:, https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(ROOT)}: {target}"
        if file_part.startswith("/"):
            broken.append(f"{where} (absolute path; use a relative link)")
        elif not linked.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(expanded(linked)):
            broken.append(f"{where} (no such anchor)")
    return broken


def test_every_relative_link_and_anchor_resolves():
    broken = [problem for page in user_facing_pages() for problem in broken_links(page)]
    assert broken == []


def test_the_link_check_finds_a_missing_page_and_a_missing_anchor(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "target.md").write_text("# Title\n\n## A `code` heading\n\n## Title\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](target.md#a-code-heading) [repeat](target.md#title_1) [web](https://example.org/x.md)\n"
        "`[in code](missing.md)`\n\n```\n[in a block](missing.md)\n```\n"
        "[gone](missing.md) [typo](target.md#a-code-headin) [here](#nowhere)\n",
        encoding="utf-8",
    )
    assert broken_links(page) == [
        "page.md: missing.md (no such file)",
        "page.md: target.md#a-code-headin (no such anchor)",
        "page.md: #nowhere (no such anchor)",
    ]


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8").split("\nnav:", 1)[1]
    pages = [page.relative_to(DOCS).as_posix() for page in DOCS.rglob("*.md")]
    assert [page for page in pages if not re.search(rf"(^|[\s:]){re.escape(page)}\s*$", nav, re.M)] == []


def test_the_readme_stays_short():
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 250


def test_the_readme_tour_code_runs(synthetic_small, monkeypatch):
    """The tour's Python block, on the small synthetic dataset (the full one takes a while to build)."""
    import msa_bench

    monkeypatch.setattr(msa_bench, "load_dataset", lambda name, **options: synthetic_small)
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    exec(next(block for block in blocks if "make_dataloader" in block), {})


def test_no_user_facing_text_names_a_maintainer_only_path():
    named = [
        f"{page.relative_to(ROOT)}: {line.strip()}"
        for page in user_facing_pages()
        for line in expanded(page).splitlines()
        if any(path in line for path in MAINTAINER_PATHS)
    ]
    assert named == []


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason='the docs extra is not installed (pip install -e ".[docs]")')
def test_the_docs_build_strictly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stderr
