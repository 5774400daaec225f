"""Server-rendered SVG charts: readable without JavaScript, printable, with text for screen
readers (a <title> and an aria-label on each chart). Functions return markup as a string,
escaped here, for templates to insert with |safe.
"""

from __future__ import annotations

from html import escape


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def sparkline(
    values: list[float], *, label: str, width: int = 120, height: int = 28, stroke: str = "#1d4ed8"
) -> str:
    """A small trend line; the last value marked. Empty or all-zero series draw a flat line."""
    title = escape(label)
    if not values:
        values = [0]
    top = max(values) or 1
    step = width / max(1, len(values) - 1)
    points = [(i * step, height - 2 - (v / top) * (height - 4)) for i, v in enumerate(values)]
    path = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in points)
    area = f"0,{height} {path} {_fmt(points[-1][0])},{height}"
    last_x, last_y = points[-1]
    summary = f"{label}: total {_fmt(sum(values))}, peak {_fmt(max(values))}"
    return (
        f'<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(summary)}"><title>{title}</title>'
        f'<polygon points="{area}" fill="{stroke}" fill-opacity="0.12"/>'
        f'<polyline points="{path}" fill="none" stroke="{stroke}" stroke-width="1.5" '
        f'stroke-linejoin="round"/>'
        f'<circle cx="{_fmt(last_x)}" cy="{_fmt(last_y)}" r="2" fill="{stroke}"/></svg>'
    )
