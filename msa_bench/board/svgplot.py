"""Small, deterministic inline SVG line plots for the static leaderboard (no plotting library).

Coordinates are written with one decimal, so the same data always give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

#: Colour-blind-friendly palette (Okabe-Ito), cycled over the series.
PALETTE: tuple[str, ...] = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

WIDTH, HEIGHT = 420, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 130, 28, 42


@dataclass(frozen=True)
class Series:
    name: str
    x: Sequence[float]
    y: Sequence[float]


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    return [low + (high - low) * k / (count - 1) for k in range(count)]


def _padded_range(values: list[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    if high - low < 1e-9:
        return low - 0.5, high + 0.5
    pad = (high - low) * 0.05
    return low - pad, high + pad


def line_plot(title: str, x_label: str, y_label: str, series: Sequence[Series]) -> str:
    """An ``<svg>`` element with one polyline (and point markers) per series, and a legend.

    Non-finite y values break a line rather than being drawn.
    """
    xs = [float(x) for s in series for x in s.x]
    ys = [float(y) for s in series for y in s.y if math.isfinite(y)]
    x_low, x_high = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if x_high - x_low < 1e-9:
        x_high = x_low + 1.0
    y_low, y_high = _padded_range(ys) if ys else (0.0, 1.0)
    plot_w, plot_h = WIDTH - MARGIN_LEFT - MARGIN_RIGHT, HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def px(x: float) -> float:
        return MARGIN_LEFT + (x - x_low) / (x_high - x_low) * plot_w

    def py(y: float) -> float:
        return MARGIN_TOP + (1 - (y - y_low) / (y_high - y_low)) * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{MARGIN_LEFT}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
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
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        segments: list[list[str]] = [[]]
        for x, y in zip(s.x, s.y):
            if math.isfinite(y):
                segments[-1].append(f"{px(float(x)):.1f},{py(float(y)):.1f}")
            elif segments[-1]:
                segments.append([])
        parts.append(f'<g class="series" data-name="{escape(s.name)}" stroke="{colour}" fill="{colour}">')
        for points in segments:
            if points:
                parts.append(f'<polyline points="{" ".join(points)}" fill="none" stroke-width="2"/>')
                parts.extend(f'<circle cx="{p.split(",")[0]}" cy="{p.split(",")[1]}" r="2.5"/>' for p in points)
        parts.append("</g>")
        legend_y = MARGIN_TOP + 10 + 16 * k
        legend_x = MARGIN_LEFT + plot_w + 10
        parts.append(f'<line x1="{legend_x}" x2="{legend_x + 16}" y1="{legend_y}" y2="{legend_y}" stroke="{colour}" stroke-width="2"/>')
        parts.append(f'<text x="{legend_x + 20}" y="{legend_y + 4}" font-size="11">{escape(s.name)}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
