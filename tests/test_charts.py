"""The server-rendered SVG charts: numbers become bar lengths, text is escaped, empty data
explains itself, and every chart speaks to screen readers."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from app.views import charts

SVG = "{http://www.w3.org/2000/svg}"


def stage(name, people, after=None, before=None, value_lost=None) -> dict:
    """A stage as app.reports.funnel returns it."""
    return {
        "stage": name,
        "after": after,
        "people": people,
        "conversion_rate": round(people / before, 4) if before else None,
        "drop_off": before - people if before is not None else None,
        "value_lost": value_lost,
    }


FUNNEL = [
    stage("click", 10),
    stage("claim", 5, "click", 10),
    stage("redemption", 2, "claim", 5, "30.00"),
]


def parse(svg: str) -> ElementTree.Element:
    """Well-formed XML, or the test fails here."""
    return ElementTree.fromstring(svg)


def bars(svg: str, colour: str) -> list[float]:
    return [
        float(rect.get("width"))
        for rect in parse(svg).iter(f"{SVG}rect")
        if colour in (rect.get("fill"), rect.get("stroke"))
    ]


def test_funnel_bars_are_as_long_as_their_people_and_the_leak_follows():
    svg = charts.funnel(FUNNEL, label="Funnel", currency="EUR")
    solid = bars(svg, charts.BAR)
    assert len(solid) == 3
    assert solid[1] / solid[0] == pytest.approx(0.5)
    assert solid[2] / solid[0] == pytest.approx(0.2)
    # The drop-off is drawn after each bar: 5 of 10 left at claim, 3 of 10 at redemption.
    lost = bars(svg, charts.LOST)
    assert lost[0] / solid[0] == pytest.approx(0.5, abs=0.01)
    assert lost[1] / solid[0] == pytest.approx(0.3, abs=0.01)


def test_funnel_says_its_numbers_in_text_and_to_screen_readers():
    svg = charts.funnel(FUNNEL, label="Funnel", currency="EUR")
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Funnel"
    assert re.search(r'viewBox="0 0 \d+ \d+"', svg)
    summary = root.get("aria-label")
    assert "click 10" in summary
    assert "claim 5 (50% of click · 5 dropped off)" in summary
    assert "redemption 2 (40% of claim · 3 dropped off · 30.00 EUR lost)" in summary
    texts = "".join(root.itertext())
    assert "40% of claim · 3 dropped off · 30.00 EUR lost" in texts


def test_histogram_bars_are_as_tall_as_their_counts():
    svg = charts.histogram([("< 1 h", 4), ("< 1 d", 2), ("later", 0)], label="Time")
    heights = [
        float(rect.get("height"))
        for rect in parse(svg).iter(f"{SVG}rect")
        if rect.get("fill") == charts.BAR
    ]
    assert heights[1] / heights[0] == pytest.approx(0.5)
    assert heights[2] == 0
    summary = parse(svg).get("aria-label")
    assert summary == "Time: < 1 h 4 (67%), < 1 d 2 (33%), later 0 (0%)."


def test_labels_are_escaped():
    name = "<script>alert('x')</script>"
    funnel = charts.funnel([stage(name, 3)], label=f"Funnel of {name}")
    histogram = charts.histogram([(name, 1)], label=name)
    for svg in (funnel, histogram):
        assert "<script>" not in svg
        assert "&lt;script&gt;" in svg
        root = parse(svg)
        assert name in root.get("aria-label")  # the reader hears the name as typed
        assert name in "".join(root.itertext())


@pytest.mark.parametrize(
    "svg",
    [
        charts.funnel([], label="Funnel"),
        charts.funnel([stage("click", 0), stage("lead", 0, "click", 0)], label="Funnel"),
        charts.histogram([], label="Funnel"),
        charts.histogram([("< 1 h", 0), ("later", 0)], label="Funnel"),
    ],
    ids=["funnel-no-stages", "funnel-nobody", "histogram-no-buckets", "histogram-zeros"],
)
def test_empty_data_draws_an_explained_empty_state(svg):
    root = parse(svg)
    assert root.get("role") == "img"
    message = "".join(root.itertext())
    assert "nothing" in message.lower() or "no " in message.lower()
    assert root.get("aria-label").startswith("Funnel: ")
    assert not [r for r in root.iter(f"{SVG}rect") if r.get("fill") == charts.BAR]
