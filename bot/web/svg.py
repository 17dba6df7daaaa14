"""A bar chart drawn on the server as SVG: predicted share beside observed share with its interval, per tier."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from gpu_worker.i18n import _, percent


@dataclass(frozen=True)
class ChartRow:
    """One tier in the chart: predicted and observed shares and the observed share's interval (all 0..1)."""

    label: str
    predicted: float
    observed: float
    low: float
    high: float


WIDTH, ROW_H, LEFT, RIGHT, TOP = 640, 36, 112, 20, 32


def _x(share: float) -> float:
    """Shares on a square-root axis: Mythic's 0.01% stays visible beside Common's 60%."""
    return LEFT + (WIDTH - LEFT - RIGHT) * math.sqrt(max(0.0, min(1.0, share)))


def tier_chart(rows: Sequence[ChartRow], title: str) -> str:
    """An inline SVG bar chart of predicted against observed share per tier, with its intervals; words in the current
    locale, text escaped."""
    height = TOP + ROW_H * len(rows) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>'
    ]
    for tick in (0.0, 0.01, 0.1, 0.25, 0.5, 1.0):
        x = _x(tick)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{height - 24}"/>'
            f'<text class="tick" x="{x:.1f}" y="{height - 8}" text-anchor="middle">{percent(tick, 0)}</text>'
        )
    for i, row in enumerate(rows):
        y = TOP + i * ROW_H
        observed = _(
            "observed {share} ({low} to {high})",
            share=percent(row.observed, 3),
            low=percent(row.low, 3),
            high=percent(row.high, 3),
        )
        parts.append(f'<text class="label" x="{LEFT - 8}" y="{y + 19}" text-anchor="end">{escape(row.label)}</text>')
        parts.append(
            f'<rect class="predicted" x="{LEFT}" y="{y + 3}" width="{_x(row.predicted) - LEFT:.1f}" '
            f'height="11"><title>{escape(_("predicted {share}", share=percent(row.predicted, 3)))}</title></rect>'
        )
        parts.append(
            f'<rect class="observed" x="{LEFT}" y="{y + 16}" width="{_x(row.observed) - LEFT:.1f}" '
            f'height="11"><title>{escape(observed)}</title></rect>'
        )
        parts.append(
            f'<line class="interval" x1="{_x(row.low):.1f}" y1="{y + 21.5}" x2="{_x(row.high):.1f}" y2="{y + 21.5}"/>'
        )
    parts.append(
        f'<rect class="predicted" x="{LEFT}" y="4" width="10" height="10"/>'
        f'<text class="tick" x="{LEFT + 14}" y="14">{escape(_("predicted"))}</text>'
        f'<rect class="observed" x="{LEFT + 130}" y="4" width="10" height="10"/>'
        f'<text class="tick" x="{LEFT + 144}" y="14">{escape(_("observed, with its 95% interval"))}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
