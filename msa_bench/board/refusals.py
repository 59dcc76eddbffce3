"""Refused records: a record or entry that fails a check is left off the board with its reason,
and the other entries still render.

Every check of a record or an entry runs through :func:`attempt`: a check raises
:class:`~msa_bench.board.entries.LeaderboardError` with the reason, and :func:`attempt` turns it
into a :class:`Refusal` naming the file. Any other exception a check raises (a record whose
content trips the code that reads it) is a refusal too, so no record can stop the board.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import TypeVar

from msa_bench.board.entries import LeaderboardError
from msa_bench.board.format import markdown_text

T = TypeVar("T")


@dataclass(frozen=True)
class Refusal:
    """A record file (or an entry's folder) left off the board, relative to the records folder."""

    what: str
    reason: str

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"


def attempt(refused: list[Refusal], what: str, check: Callable[[], T]) -> T | None:
    """``check()``; when it raises, ``None``, with a refusal of ``what`` added to ``refused``."""
    try:
        return check()
    except LeaderboardError as err:
        refused.append(Refusal(what, str(err)))
    except Exception as err:  # noqa: BLE001 -- whatever a record's content makes the renderer raise
        refused.append(Refusal(what, f"it cannot be rendered ({type(err).__name__}: {err})"))
    return None


TITLE = "Refused records"
EXPLANATION = (
    "These records are not on the board. Each line names the record file (or the entry's folder), "
    "relative to the records folder, and why it was refused; every other entry is rendered."
)


def render_markdown(refused: list[Refusal]) -> list[str]:
    if not refused:
        return []
    lines = [f"## {TITLE}", "", EXPLANATION, ""]
    lines += [f"- {markdown_text(r.what)}: {markdown_text(r.reason)}" for r in refused]
    return lines + [""]


def render_html(refused: list[Refusal]) -> str:
    if not refused:
        return ""
    items = "\n".join(f"<li><code>{escape(r.what)}</code>: {escape(r.reason)}</li>" for r in refused)
    return f'<section id="refused"><h2>{TITLE}</h2>\n<p>{escape(EXPLANATION)}</p>\n<ul>\n{items}\n</ul>\n</section>'
