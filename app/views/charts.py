"""Server-rendered SVG charts: readable without JavaScript, printable, with text for screen
readers (a <title> and an aria-label on each chart). Functions return markup as a string,
escaped here, for templates to insert with |safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from app.core import money


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def sparkline(
    values: Sequence[float],
    *,
    label: str,
    width: int = 120,
    height: int = 28,
    stroke: str = "#1d4ed8",
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


# Report charts -----------------------------------------------------------------------------

# A fixed palette checked against the white page: text colours 4.5:1 or more, bar colours
# 3:1 or more (WCAG 1.4.3 and 1.4.11). Every bar also carries its number as text, so no
# figure is told by colour alone.
INK = "#17202c"
MUTED = "#526070"
BAR = "#1d4ed8"
LOST = "#b3261e"
AXIS = "#8592a3"
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
CHART_WIDTH = 400  # viewBox units; the SVG scales to its container (phones, print)


def _svg(width: int, height: int, label: str, summary: str, body: str) -> str:
    return (
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width * 3 // 2}" height="{height * 3 // 2}" role="img" '
        f'aria-label="{escape(summary)}" font-family="{FONT}" font-size="13" fill="{INK}">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )


def _empty(label: str, message: str) -> str:
    """A chart with nothing to draw says why, in the picture and to screen readers."""
    text = (
        f'<rect x="0.5" y="0.5" width="{CHART_WIDTH - 1}" height="59" rx="6" fill="none" '
        f'stroke="{AXIS}" stroke-dasharray="4 3"/>'
        f'<text x="{CHART_WIDTH // 2}" y="35" text-anchor="middle" fill="{MUTED}">'
        f"{escape(message)}</text>"
    )
    return _svg(CHART_WIDTH, 60, label, f"{label}: {message}", text)


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def funnel(
    stages: list[dict],
    *,
    label: str,
    currency: str | None = None,
    empty: str = "Nobody clicked or scanned in this period: no funnel to draw yet.",
) -> str:
    """Horizontal bars, one per stage of a funnel report (app.reports.funnel's `stages`).

    Each bar is as long as the people who reached the stage, against the first stage; the
    people lost since the stage before it (`after`) follow as a dashed outline, so a bar and
    its leak together are as long as that stage. Under each bar: the conversion rate from
    the stage before, the drop-off and the value lost where known.
    """
    top = max((s["people"] for s in stages), default=0)
    if not top:
        return _empty(label, empty)
    bar_w = CHART_WIDTH - 2
    row_h = 58
    parts = []
    sentences = []
    for index, stage in enumerate(stages):
        y = index * row_h
        name, people = stage["stage"], stage["people"]
        width = people / top * bar_w
        lost = (stage["drop_off"] or 0) / top * bar_w
        parts.append(
            f'<text x="0" y="{y + 14}"><tspan font-weight="700">{escape(name)}</tspan> '
            f"{people:,}</text>"
            f'<rect x="1" y="{y + 20}" width="{_fmt(width)}" height="14" fill="{BAR}"/>'
        )
        if lost:
            parts.append(
                f'<rect x="{_fmt(1 + width)}" y="{y + 20.5}" width="{_fmt(max(lost - 0.5, 0.5))}" '
                f'height="13" fill="none" stroke="{LOST}" stroke-dasharray="3 2"/>'
            )
        detail = _funnel_detail(stage, currency)
        if detail:
            parts.append(
                f'<text x="0" y="{y + 49}" font-size="12" fill="{MUTED}">{escape(detail)}</text>'
            )
        sentences.append(f"{name} {people:,}" + (f" ({detail})" if detail else ""))
    summary = f"{label}: " + "; ".join(sentences) + "."
    return _svg(CHART_WIDTH, len(stages) * row_h, label, summary, "".join(parts))


def _funnel_detail(stage: dict, currency: str | None) -> str:
    if stage["after"] is None:
        return ""
    words = [f"{_percent(stage['conversion_rate'])} of {stage['after']}"]
    words.append(f"{stage['drop_off']:,} dropped off")
    if stage.get("value_lost"):
        lost = money.grouped(stage["value_lost"])
        words.append(f"{lost}{' ' + currency if currency else ''} lost")
    return " · ".join(words)


def histogram(
    buckets: list[tuple[str, int]],
    *,
    label: str,
    empty: str = "No conversions with a touch in this period: nothing to chart yet.",
) -> str:
    """Vertical bars, one per (bucket label, count), each with its count and share as text."""
    total = sum(count for _, count in buckets)
    if not total:
        return _empty(label, empty)
    top = max(count for _, count in buckets)
    slot = CHART_WIDTH / len(buckets)
    bar_w = slot * 0.7
    plot_h = 120
    base = plot_h + 34  # room above the tallest bar for its number
    parts = [f'<line x1="0" y1="{base}" x2="{CHART_WIDTH}" y2="{base}" stroke="{AXIS}"/>']
    sentences = []
    for index, (name, count) in enumerate(buckets):
        height = count / top * plot_h
        x = index * slot + (slot - bar_w) / 2
        middle = _fmt(index * slot + slot / 2)
        share = f"{count / total * 100:.0f}%"
        parts.append(
            f'<rect x="{_fmt(x)}" y="{_fmt(base - height)}" width="{_fmt(bar_w)}" '
            f'height="{_fmt(height)}" fill="{BAR}"/>'
            f'<text x="{middle}" y="{_fmt(base - height - 18)}" text-anchor="middle" '
            f'font-weight="700">{count:,}</text>'
            f'<text x="{middle}" y="{_fmt(base - height - 5)}" text-anchor="middle" '
            f'font-size="11" fill="{MUTED}">{share}</text>'
            f'<text x="{middle}" y="{base + 17}" text-anchor="middle">{escape(name)}</text>'
        )
        sentences.append(f"{name} {count:,} ({share})")
    summary = f"{label}: " + ", ".join(sentences) + "."
    return _svg(CHART_WIDTH, base + 24, label, summary, "".join(parts))


# The pipeline: where each stage's leads went -------------------------------------------------

# One colour per fate, each 3:1 or more against the page (with LOST and BAR above); every
# segment's number is also written under its bar, so none is told by colour alone.
OPEN = "#0f766e"
STALLED = "#a16207"
WON = "#15803d"
PIPELINE_PARTS = (
    ("advanced", "advanced", BAR),
    ("open", "open", OPEN),
    ("stalled", "stalled", STALLED),
    ("lost", "lost", LOST),
    ("won", "won here", WON),
)


def pipeline(
    stages: list[dict],
    *,
    label: str,
    currency: str,
    won_stages: Sequence[str] = (),
    empty: str = "No leads were created in this period: no pipeline to draw yet.",
) -> str:
    """One bar per stage of a pipeline report (app.reports.pipeline_report's `stages`).

    A bar is as long as the leads that reached the stage, against the biggest, and is
    split by where they went: advanced to a later stage, still open here (not stalled),
    stalled here, lost here (split by reason, most first, thin lines between), and won here.
    Under each bar: the counts, then the reasons and the value lost.
    """
    counted = [_pipeline_counts(stage, stage["stage"] in won_stages) for stage in stages]
    # A lead lost at a stage that then reached a later one is both lost and advanced there.
    top = max(
        (max(s["reached"], sum(n for _, n in c)) for s, c in zip(stages, counted, strict=True)),
        default=0,
    )
    if not top:
        return _empty(label, empty)
    bar_w = CHART_WIDTH - 2
    row_h = 76
    legend = _pipeline_legend()
    parts = [legend]
    sentences = []
    for index, (stage, counts) in enumerate(zip(stages, counted, strict=True)):
        y = 26 + index * row_h
        parts.append(
            f'<text x="0" y="{y + 14}"><tspan font-weight="700">{escape(stage["stage"])}</tspan> '
            f"{stage['reached']:,} reached</text>"
        )
        x = 1.0
        for name, count in counts:
            if not count:
                continue
            width = count / top * bar_w
            if name == "lost":
                parts.extend(_lost_segments(stage, x, y + 20, width))
            else:
                colour = next(c for key, _, c in PIPELINE_PARTS if key == name)
                parts.append(
                    f'<rect x="{_fmt(x)}" y="{y + 20}" width="{_fmt(max(width - 1, 0.5))}" '
                    f'height="14" fill="{colour}"><title>{count:,} {escape(name)}</title></rect>'
                )
            x += width
        said = " · ".join(f"{count:,} {_said(name)}" for name, count in counts if count)
        parts.append(
            f'<text x="0" y="{y + 49}" font-size="12" fill="{MUTED}">{escape(said or "—")}</text>'
        )
        lost_line = _lost_line(stage, currency)
        if lost_line:
            parts.append(
                f'<text x="0" y="{y + 65}" font-size="12" fill="{MUTED}">{escape(lost_line)}</text>'
            )
        sentences.append(
            f"{stage['stage']} {stage['reached']:,} reached"
            + (f" ({said}{'; ' + lost_line if lost_line else ''})" if said else "")
        )
    summary = f"{label}: " + "; ".join(sentences) + "."
    height = 26 + len(stages) * row_h
    return _svg(CHART_WIDTH, height, label, summary, "".join(parts))


def _pipeline_counts(stage: dict, won_stage: bool) -> list[tuple[str, int]]:
    """(part, leads) of a stage's bar. What is neither advanced, open nor lost here was won
    here (a won stage) or closed otherwise (lost at an earlier stage, then moved on)."""
    open_ = stage["open_here"] - stage["stalled"]
    rest = stage["reached"] - stage["advanced"] - stage["open_here"] - stage["lost"]
    return [
        ("advanced", stage["advanced"]),
        ("open", open_),
        ("stalled", stage["stalled"]),
        ("lost", stage["lost"]),
        ("won", max(rest, 0) if won_stage else 0),
    ]


def _said(name: str) -> str:
    return next(words for key, words, _ in PIPELINE_PARTS if key == name)


def _lost_segments(stage: dict, x: float, y: float, width: float) -> list[str]:
    """The lost part of a bar, one piece per reason (most first), a white line between."""
    reasons = sorted(stage["by_reason"].items(), key=lambda item: -item[1]["count"])
    total = sum(found["count"] for _, found in reasons) or 1
    out = []
    for reason, found in reasons:
        piece = found["count"] / total * width
        out.append(
            f'<rect x="{_fmt(x)}" y="{y}" width="{_fmt(max(piece - 1, 0.5))}" height="14" '
            f'fill="{LOST}"><title>{found["count"]:,} lost: {escape(reason)}</title></rect>'
        )
        x += piece
    return out


def _lost_line(stage: dict, currency: str) -> str:
    if not stage["lost"]:
        return ""
    reasons = sorted(stage["by_reason"].items(), key=lambda item: -item[1]["count"])
    named = ", ".join(f"{reason} {found['count']:,}" for reason, found in reasons)
    return f"lost: {named} · {money.grouped(stage['value_lost'])} {currency} lost"


def _pipeline_legend() -> str:
    parts = []
    x = 0
    for _, words, colour in PIPELINE_PARTS:
        parts.append(
            f'<rect x="{x}" y="4" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14}" y="13" font-size="12">{escape(words)}</text>'
        )
        x += 14 + 7 * len(words) + 14
    return "".join(parts)


# Audience ----------------------------------------------------------------------------------


def bars(rows: Sequence[dict], *, label: str, empty: str = "No human clicks or scans yet") -> str:
    """Horizontal bars of [{value, count}] (an audience breakdown), most first, each with
    its count and share as text."""
    if not rows:
        return _empty(label, empty)
    total = sum(r["count"] for r in rows) or 1
    top = max(r["count"] for r in rows) or 1
    row_h, name_w, bar_w = 22, 130, CHART_WIDTH - 130 - 90
    body = []
    for i, row in enumerate(rows):
        y = i * row_h
        width = max(1.0, row["count"] / top * bar_w)
        name = str(row["value"])
        shown = name if len(name) <= 20 else name[:19] + "…"
        body.append(
            f'<text x="{name_w - 6}" y="{y + 15}" text-anchor="end">{escape(shown)}</text>'
            f'<rect x="{name_w}" y="{y + 4}" width="{_fmt(width)}" height="{row_h - 8}" '
            f'rx="2" fill="{BAR}"><title>{escape(name)}: {row["count"]}</title></rect>'
            f'<text x="{_fmt(name_w + width + 6)}" y="{y + 15}" fill="{MUTED}">'
            f"{row['count']} ({row['count'] / total * 100:.0f}%)</text>"
        )
    summary = f"{label}: " + ", ".join(f"{r['value']} {r['count']}" for r in rows)
    return _svg(CHART_WIDTH, row_h * len(rows), label, summary, "".join(body))


AUDIENCE_CHARTS = (
    ("by_device", "Devices"),
    ("by_country", "Countries"),
    ("by_browser", "Browsers"),
    ("by_os", "Operating systems"),
    ("by_referrer", "Referrers"),
)


def audience(stats: dict) -> list[tuple[str, str]]:
    """(title, chart) for each audience breakdown of a stats answer."""
    return [(title, bars(stats.get(key, []), label=title)) for key, title in AUDIENCE_CHARTS]
