"""Charts as inline SVG, rendered on the server: no script, no CDN, readable without JavaScript
and by screen readers (each chart has a title and a description, each bar or point a tooltip).

Colours come from the admin's CSS variables where they exist, so the dark theme works too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH = 520
HEIGHT = 210
MARGIN_LEFT = 46
MARGIN_RIGHT = 12
MARGIN_TOP = 14
MARGIN_BOTTOM = 34
MAX_X_LABELS = 6


@dataclass(frozen=True)
class Point:
    label: str  # the x-axis label of the interval (e.g. "14:00", "Mon 12")
    value: float | None  # None: nothing to show in this interval (no bar, a gap in the line)
    title: str = ""  # the tooltip


def nice_ceiling(value: float) -> float:
    """The axis maximum: 1, 2 or 5 times a power of ten, at or above ``value``."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:,.1f}"


def _frame(*, chart_id: str, title: str, description: str, y_max: float, unit: str,
           points: Sequence[Point], css_class: str) -> tuple[list[str], float, float]:
    plot_width = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_height = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    parts = [
        f'<svg class="chart {css_class}" id="{escape(chart_id)}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" preserveAspectRatio="xMidYMid meet" '
        f'xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
    ]
    for fraction in (0, 0.5, 1):
        y = MARGIN_TOP + plot_height * (1 - fraction)
        parts.append(f'<line class="grid" x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(f'<text class="axis" x="{MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{escape(_number(y_max * fraction))}{escape(unit)}</text>')
    step = max(1, math.ceil(len(points) / MAX_X_LABELS))
    slot = plot_width / max(1, len(points))
    for index in range(0, len(points), step):
        x = MARGIN_LEFT + slot * (index + 0.5)
        parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 18}" text-anchor="middle">'
                     f'{escape(points[index].label)}</text>')
    return parts, plot_height, slot


def bar_chart(*, chart_id: str, title: str, description: str, points: Sequence[Point], unit: str = "") -> SafeString:
    """Vertical bars, one per point; a point without a value has no bar. Counts keep whole
    numbers on the axis (0, 1, 2 rather than 0, 0.5, 1; 0, 3, 6 rather than 0, 2.5, 5)."""
    y_max = nice_ceiling(max((p.value or 0 for p in points), default=0))
    if all(float(p.value or 0).is_integer() for p in points) and y_max % 2:
        y_max += 1  # an even top keeps the middle line on a whole number
    parts, plot_height, slot = _frame(chart_id=chart_id, title=title, description=description, y_max=y_max,
                                      unit=unit, points=points, css_class="bar-chart")
    bar_width = max(1.0, slot * 0.72)
    for index, point in enumerate(points):
        if not point.value:
            continue
        height = plot_height * point.value / y_max
        x = MARGIN_LEFT + slot * index + (slot - bar_width) / 2
        y = MARGIN_TOP + plot_height - height
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" height="{height:.1f}" '
            f'data-label="{escape(point.label)}" data-value="{escape(_number(point.value))}">'
            f'<title>{escape(point.title or f"{point.label}: {_number(point.value)}{unit}")}</title></rect>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped


def line_chart(*, chart_id: str, title: str, description: str, points: Sequence[Point], unit: str = "",
               y_max: float | None = None) -> SafeString:
    """A line through the points with a dot on each; a point without a value breaks the line."""
    top = y_max if y_max is not None else nice_ceiling(max((p.value or 0 for p in points), default=0))
    parts, plot_height, slot = _frame(chart_id=chart_id, title=title, description=description, y_max=top,
                                      unit=unit, points=points, css_class="line-chart")
    segments: list[list[str]] = [[]]
    dots = []
    for index, point in enumerate(points):
        if point.value is None:
            segments.append([])
            continue
        x = MARGIN_LEFT + slot * (index + 0.5)
        y = MARGIN_TOP + plot_height * (1 - min(point.value, top) / top)
        segments[-1].append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3.5" data-label="{escape(point.label)}" '
            f'data-value="{escape(_number(point.value))}">'
            f'<title>{escape(point.title or f"{point.label}: {_number(point.value)}{unit}")}</title></circle>'
        )
    for segment in segments:
        if len(segment) > 1:
            parts.append(f'<polyline class="line" points="{" ".join(segment)}"/>')
    parts += dots
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped
