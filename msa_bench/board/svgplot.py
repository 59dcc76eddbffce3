"""Small, deterministic inline SVG line plots for the static leaderboard (no plotting library).

Each series is told apart by colour *and* dash pattern (:func:`series_style`: 32 distinct
styles), and the legend is HTML beside the plots (:func:`legend`), one per group of plots: it
wraps onto as many lines as it needs, so no entry is ever clipped. Coordinates are written with
one decimal, so the same data always give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

#: Colour-blind-friendly palette (Okabe-Ito, its yellow darkened to read on white).
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#B8A200", "#000000")

#: SVG dash patterns, solid first; each is combined with every colour before the next is used.
DASHES: tuple[str, ...] = ("", "7 3", "2 2", "9 3 2 3")

WIDTH, HEIGHT = 320, 240
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 14, 10, 42


@dataclass(frozen=True)
class Style:
    colour: str
    dash: str  # an SVG stroke-dasharray; "" for a solid line

    def attributes(self) -> str:
        dash = f' stroke-dasharray="{self.dash}"' if self.dash else ""
        return f'stroke="{self.colour}" fill="{self.colour}"{dash}'


def series_style(index: int) -> Style:
    """The style of the ``index``-th series of a group: the colours first, then each again with
    the next dash pattern (distinct for the first ``len(PALETTE) * len(DASHES)`` series)."""
    return Style(PALETTE[index % len(PALETTE)], DASHES[(index // len(PALETTE)) % len(DASHES)])


@dataclass(frozen=True)
class Series:
    name: str
    x: Sequence[float]
    y: Sequence[float]
    style: Style


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    return [low + (high - low) * k / (count - 1) for k in range(count)]


def padded_range(values: Sequence[float]) -> tuple[float, float]:
    """The y-range that shows every finite value with a 5% margin (unit width around a constant)."""
    finite = [float(v) for v in values if math.isfinite(v)]
    if not finite:
        return 0.0, 1.0
    low, high = min(finite), max(finite)
    if high - low < 1e-9:
        return low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    return low - pad, high + pad


def line_plot(title: str, x_label: str, y_label: str, series: Sequence[Series], y_range: tuple[float, float] | None = None) -> str:
    """A ``<figure>``: the title as its caption (it wraps, never clipped) and an ``<svg>`` with
    one polyline (and point markers) per series; ``y_range`` (default: :func:`padded_range` of
    the data) lets plots of one metric share their axis.

    Non-finite y values break a line rather than being drawn.
    """
    xs = [float(x) for s in series for x in s.x]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_high - x_low < 1e-9:
        x_high = x_low + 1.0
    y_low, y_high = y_range or padded_range([y for s in series for y in s.y])
    plot_w, plot_h = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def px(x: float) -> float:
        return MARGIN_LEFT + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return MARGIN_TOP + (1 - (y - y_low) / (y_high - y_low)) * plot_h

    parts = [
        f'<figure class="plot"><figcaption>{escape(title)}</figcaption>',
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        ),
        f"<title>{escape(title)}</title>",
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>',
    ]
    for x in _ticks(x_low, x_high, 4):
        parts.append(
            f'<text x="{px(x):.1f}" y="{MARGIN_TOP + plot_h + 14}" font-size="10" text-anchor="middle">{x:.2g}</text>'
        )
    for y in _ticks(y_low, y_high):
        parts.append(f'<line x1="{MARGIN_LEFT}" x2="{MARGIN_LEFT + plot_w}" y1="{py(y):.1f}" y2="{py(y):.1f}" stroke="#eee"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 4}" y="{py(y) + 3:.1f}" font-size="10" text-anchor="end">{y:.3g}</text>')
    parts.append(
        f'<text x="{MARGIN_LEFT + plot_w / 2:.1f}" y="{HEIGHT - 8}" font-size="11" text-anchor="middle">{escape(x_label)}</text>'
    )
    parts.append(
        f'<text x="12" y="{MARGIN_TOP + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 12 {MARGIN_TOP + plot_h / 2:.1f})">{escape(y_label)}</text>'
    )
    for s in series:
        segments: list[list[str]] = [[]]
        for x, y in zip(s.x, s.y):
            if math.isfinite(y):
                segments[-1].append(f"{px(float(x)):.1f},{py(float(y)):.1f}")
            elif segments[-1]:
                segments.append([])
        parts.append(f'<g class="series" data-name="{escape(s.name)}" {s.style.attributes()}><title>{escape(s.name)}</title>')
        for points in segments:
            if points:
                parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke-width="2"/>')
                parts.extend(f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5" stroke-dasharray="none"/>' for p in points)
        parts.append("</g>")
    parts.append("</svg></figure>")
    return "\n".join(parts)


def legend(items: Sequence[tuple[str, Style]]) -> str:
    """An HTML legend of (name, style) items, a line sample each; it wraps like text."""
    samples = "".join(
        f'<li><svg width="30" height="10" aria-hidden="true"><line x1="1" x2="29" y1="5" y2="5" stroke-width="2" {style.attributes()}/></svg>'
        f"{escape(name)}</li>"
        for name, style in items
    )
    return f'<ul class="legend">{samples}</ul>'


STYLE = f"""
.legend {{ display: flex; flex-wrap: wrap; gap: 0.15rem 1.1rem; list-style: none; padding: 0; margin: 0.3rem 0; font-size: 0.8rem; }}
.legend li {{ display: flex; align-items: center; gap: 0.3rem; }}
figure.plot {{ margin: 0; width: {WIDTH}px; }}
figure.plot figcaption {{ font-size: 0.8rem; font-weight: bold; }}
""".strip()
