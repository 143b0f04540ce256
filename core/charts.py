"""Server-rendered SVG bar charts: they print, need no script or CDN, and carry their own text.

Each chart is ``role="img"`` with a ``<title>`` and a ``<desc>`` (the text summary); the page
shows the same numbers in a data table next to it, for screen readers and for copying.
Colours meet WCAG 2.1 AA contrast against white (bars 3:1 as graphics, text 4.5:1).
"""
from __future__ import annotations

from markupsafe import Markup, escape

BAR = "#1f5f8b"  # 6.9:1 on white
TEXT = "#1a1a1a"


def bar_chart(chart_id: str, title: str, summary: str, rows: list[tuple[str, float]], suffix: str = "") -> Markup:
    """A horizontal bar chart of ``rows`` (label, value)."""
    label_w, bar_w, row_h, pad = 260, 300, 26, 8
    height = pad * 2 + row_h * max(1, len(rows))
    width = label_w + bar_w + 80
    top = max([v for _l, v in rows] + [0]) or 1
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-t {escape(chart_id)}-d" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="sans-serif" font-size="13">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(summary)}</desc>',
    ]
    for i, (label, value) in enumerate(rows):
        y = pad + i * row_h
        w = round(bar_w * (value / top)) if value else 0
        short = label if len(label) <= 34 else label[:33] + "…"
        parts.append(f'<text x="{label_w - 6}" y="{y + 17}" text-anchor="end" fill="{TEXT}">{escape(short)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{w}" height="{row_h - 8}" fill="{BAR}"/>')
        parts.append(f'<text x="{label_w + w + 6}" y="{y + 17}" fill="{TEXT}">{escape(_num(value))}{escape(suffix)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"
