"""Geometry of the report's bar charts, worked out so every label fits (pure, no I/O).

The old chart placed a positive bar's value label after the bar's end, at the
very edge of the drawing, so the browser clipped "995.86" to "9". Here the
space for the labels is reserved first (from a deliberately wide estimate of
the text width) and the bars get what is left. The SVG has a ``viewBox``, so a
narrow window scales the whole drawing down instead of cutting it off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from .rules import fmt

FONT_PX = 12
CHAR_EM = 0.66
"""Width of one character in em, on the wide side: DejaVu Sans digits are 0.636 em, Arial's 0.556 em."""
GAP = 6
ROW_H = 24
MAX_NAME_CHARS = 28
MIN_BAR_AREA = 160


def text_width(text: str, font_px: int = FONT_PX) -> float:
    """An upper estimate of the rendered width of ``text`` in px."""
    return len(text) * font_px * CHAR_EM


def _short(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[: MAX_NAME_CHARS - 1] + "…"


@dataclass(frozen=True)
class Bar:
    name: str
    """Full name (tooltip); ``label`` is what is drawn, shortened when long."""
    label: str
    value_text: str
    negative: bool
    y: float
    x: float
    width: float
    value_x: float
    value_anchor: str


@dataclass(frozen=True)
class BarChart:
    width: float
    height: float
    zero_x: float
    label_x: float
    bars: list[Bar]
    font_px: int = FONT_PX
    row_h: int = ROW_H


CHART_MAX_BARS = 25
"""Bars a chart draws: 1,000 stores made a chart 24,000 px tall, where nothing can be compared."""


@dataclass(frozen=True)
class Folded:
    """What a chart left out: how many bars and their values' sum (said under the chart, not drawn:
    as a bar of its own the sum of hundreds dwarfed the bars it was meant to explain)."""

    count: int
    total: Decimal


def largest_bars(pairs: Sequence[tuple[str, Decimal]], most: int) -> tuple[list[tuple[str, Decimal]], Folded]:
    """``pairs`` as they are when they fit; else the ``most`` largest by absolute value, largest first."""
    if len(pairs) <= most:
        return list(pairs), Folded(0, Decimal(0))
    ranked = sorted(pairs, key=lambda p: (-abs(p[1]), p[0]))
    rest = ranked[most:]
    return ranked[:most], Folded(len(rest), sum((v for _, v in rest), Decimal(0)))


def bar_chart(pairs: Sequence[tuple[str, Decimal]], min_width: int = 640) -> BarChart:
    """Horizontal bars around a zero line; negative values extend left.

    Layout, left to right: names, room for the longest negative value label, the
    bars, room for the longest positive value label. The drawing is as wide as
    it needs to be (at least ``min_width``); the page scales it down to fit.
    """
    names = [_short(n or "(none)") for n, _ in pairs]
    texts = [fmt(v) for _, v in pairs]
    name_w = max((text_width(n) for n in names), default=0.0) + GAP
    neg_w = max((text_width(t) for t, (_, v) in zip(texts, pairs, strict=True) if v < 0), default=0.0)
    pos_w = max((text_width(t) for t, (_, v) in zip(texts, pairs, strict=True) if v >= 0), default=0.0)
    left_room = neg_w + GAP if neg_w else 0.0
    right_room = pos_w + GAP if pos_w else 0.0
    width = max(float(min_width), name_w + left_room + MIN_BAR_AREA + right_room)
    area_start = name_w + left_room
    area = width - area_start - right_room
    has_neg = any(v < 0 for _, v in pairs)
    has_pos = any(v > 0 for _, v in pairs)
    if has_neg and has_pos:
        zero_x, neg_span, pos_span = area_start + area / 2, area / 2, area / 2
    elif has_neg:
        zero_x, neg_span, pos_span = area_start + area, area, 0.0
    else:
        zero_x, neg_span, pos_span = area_start, 0.0, area
    peak = max((abs(v) for _, v in pairs), default=Decimal(0)) or Decimal(1)
    bars: list[Bar] = []
    for i, ((name, v), label, text) in enumerate(zip(pairs, names, texts, strict=True)):
        span = neg_span if v < 0 else pos_span
        length = float(abs(v) / peak) * span
        y = 4.0 + i * ROW_H
        if v < 0:
            bars.append(Bar(name, label, text, True, y, zero_x - length, length, zero_x - length - GAP / 2, "end"))
        else:
            bars.append(Bar(name, label, text, False, y, zero_x, length, zero_x + length + GAP / 2, "start"))
    return BarChart(width=width, height=8.0 + ROW_H * len(pairs), zero_x=zero_x, label_x=0.0, bars=bars)
