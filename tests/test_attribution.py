"""Attribution models: the issue's worked example, edge cases, and credit that never leaks."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.errors import ValidationError
from app.reports.attribution import (
    MODELS,
    Model,
    allocate,
    credit,
    format_duration,
    milestone_weights,
    parse_duration,
    parse_weights,
    touch_weights,
)

DAY = 86_400
# Touches 14 days, 7 days and 1 day before a 100.00 sale (the worked example).
WORKED_AGES = [14 * DAY, 7 * DAY, 1 * DAY]


@pytest.mark.parametrize(
    ("model", "cents"),
    [
        (Model("first_touch"), [10000, 0, 0]),
        (Model("last_touch"), [0, 0, 10000]),
        (Model("linear"), [3333, 3333, 3334]),
        (Model("position_based"), [4000, 2000, 4000]),
        (Model("time_decay", half_life_s=7 * DAY), [1510, 3020, 5470]),
        (Model("position_based", weights=(30, 0, 70)), [3000, 0, 7000]),
    ],
    ids=["first", "last", "linear", "position", "time_decay", "weights-30-0-70"],
)
def test_worked_example(model, cents):
    shares = credit(model, WORKED_AGES, 10000)
    assert [value for _, value in shares] == cents
    assert sum(value for _, value in shares) == 10000
    assert sum(share for share, _ in shares) == 100


# Touches A, B, C, D; the lead was created after B (index 1), the opportunity after C (2).
MILESTONE_AGES = [4 * DAY, 3 * DAY, 2 * DAY, DAY]


@pytest.mark.parametrize(
    ("model", "milestones", "cents", "hundredths"),
    [
        (Model("w_shaped"), (1, 2), [3000, 3000, 3000, 1000], [30, 30, 30, 10]),
        (Model("full_path"), (1, 2), [2500, 2500, 2500, 2500], [25, 25, 25, 25]),
        # Never reached the opportunity: its 30% spread over 30:30:10.
        (Model("w_shaped"), (1, None), [4286, 4286, 714, 714], [43, 43, 7, 7]),
        (Model("w_shaped", w_weights=(40, 30, 20, 10)), (1, 2), [4000, 3000, 2000, 1000], None),
        # One touch opened both lead and opportunity: both shares (30 + 30), A 30, the rest 10.
        (Model("w_shaped"), (2, 2), [3000, 500, 6000, 500], None),
        # No lead at all: first, closing and the others only.
        (Model("full_path"), (None, None), [4091, 909, 909, 4091], None),
    ],
    ids=["w_shaped", "full_path", "w_no-opportunity", "w_weights", "w_two-in-one", "full_no-lead"],
)
def test_milestone_worked_examples(model, milestones, cents, hundredths):
    shares = credit(model, MILESTONE_AGES, 10000, milestones)
    assert [value for _, value in shares] == cents
    if hundredths is not None:
        assert [share for share, _ in shares] == hundredths
    assert sum(share for share, _ in shares) == 100


def test_milestone_weights_with_no_taker_for_any_weight_share_equally():
    # Only the others' share weighs, and every touch holds a milestone: equal shares.
    assert milestone_weights((0, 0, 0, 100), (0, 1, None), 2) == [1, 1]
    assert milestone_weights((30, 30, 30, 10), (0, None, None), 1) == [30]


def test_linear_gives_the_odd_cent_to_the_latest_touch():
    assert credit(Model("linear"), WORKED_AGES, 10000) == [(33, 3333), (33, 3333), (34, 3334)]


@pytest.mark.parametrize("weights", [(40, 20, 40), (30, 0, 70), (0, 100, 0), (100, 0, 0)])
def test_position_based_with_one_and_two_touches(weights):
    model = Model("position_based", weights=weights)
    assert credit(model, [DAY], 999) == [(100, 999)]
    first, _, last = weights
    expected = (50, 50) if first == last or first + last == 0 else (first, last)
    assert [share for share, _ in credit(model, [2 * DAY, DAY], 10000)] == list(expected)


def test_position_based_shares_the_middle_equally():
    model = Model("position_based")
    ages = [5 * DAY, 4 * DAY, 3 * DAY, 2 * DAY, DAY]
    # 20.00 over three middle touches: the spare cents go to the later ones.
    assert [v for _, v in credit(model, ages, 10000)] == [4000, 666, 667, 667, 4000]


def test_time_decay_halves_per_half_life_and_survives_very_old_touches():
    model = Model("time_decay", half_life_s=DAY)
    assert [v for _, v in credit(model, [2 * DAY, DAY], 300)] == [100, 200]
    # 2^-365 underflows a float; the newest touch still takes the credit, nothing is lost.
    assert credit(model, [365 * DAY, 0], 100) == [(0, 0), (100, 100)]


def test_simultaneous_touches_and_zero_values():
    assert credit(Model("linear"), [DAY, DAY], 0) == [(50, 0), (50, 0)]
    assert credit(Model("time_decay"), [DAY, DAY], 1) == [(50, 0), (50, 1)]


def test_allocate_uses_largest_remainders():
    assert allocate(10, [1, 1, 1]) == [3, 3, 4]
    assert allocate(2, [1, 1, 1]) == [0, 1, 1]
    assert allocate(7, [3, 0, 1]) == [5, 0, 2]
    with pytest.raises(ValueError):
        allocate(1, [0, 0])


journeys = st.lists(st.integers(min_value=0, max_value=400 * DAY), min_size=1, max_size=40).map(
    lambda ages: sorted(ages, reverse=True)
)
weights = st.tuples(st.integers(0, 100), st.integers(0, 100)).filter(lambda w: sum(w) <= 100)
models = st.one_of(
    st.sampled_from([Model(name) for name in MODELS]),
    weights.map(lambda w: Model("position_based", weights=(w[0], 100 - w[0] - w[1], w[1]))),
    st.integers(1, 365 * DAY).map(lambda h: Model("time_decay", half_life_s=h)),
)


@settings(max_examples=400, deadline=None)
@given(model=models, ages=journeys, value=st.integers(min_value=0, max_value=10**15))
def test_every_conversion_is_credited_exactly_once(model, ages, value):
    shares = credit(model, ages, value)
    assert len(shares) == len(ages)
    assert sum(share for share, _ in shares) == 100
    assert sum(minor for _, minor in shares) == value
    assert all(share >= 0 and minor >= 0 for share, minor in shares)
    # A touch the model gives no weight never receives a rounding cent either.
    for weight, (share, minor) in zip(touch_weights(model, ages), shares, strict=True):
        if weight == 0:
            assert share == minor == 0


def milestone_case(n: int):
    place = st.one_of(st.none(), st.integers(0, n - 1))
    return st.tuples(st.just(n), place, place)


four_weights = (
    st.tuples(st.integers(0, 100), st.integers(0, 100), st.integers(0, 100))
    .filter(lambda w: sum(w) <= 100)
    .map(lambda w: (*w, 100 - sum(w)))
)
milestone_models = st.one_of(
    st.just(Model("full_path")),
    st.just(Model("w_shaped")),
    four_weights.map(lambda w: Model("w_shaped", w_weights=w)),
)


@settings(max_examples=400, deadline=None)
@given(
    model=milestone_models,
    case=st.integers(1, 40).flatmap(milestone_case),
    value=st.integers(min_value=0, max_value=10**15),
)
def test_milestone_models_credit_every_conversion_exactly_once(model, case, value):
    n, lead, opportunity = case
    ages = [float(n - i) for i in range(n)]
    shares = credit(model, ages, value, (lead, opportunity))
    assert len(shares) == n
    assert sum(share for share, _ in shares) == 100
    assert sum(minor for _, minor in shares) == value
    assert all(share >= 0 and minor >= 0 for share, minor in shares)
    for weight, (share, minor) in zip(
        touch_weights(model, ages, (lead, opportunity)), shares, strict=True
    ):
        if weight == 0:
            assert share == minor == 0


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("30m", 1800), ("12h", 43200), ("7d", 604800)]
)
def test_durations(text, seconds):
    assert parse_duration(text, "window") == seconds
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["7x", "7", "d", "0d", "-1d", "1.5d", "7 d", "", "366d", "7D"])
def test_bad_durations_name_the_parameter(text):
    with pytest.raises(ValidationError) as caught:
        parse_duration(text, "half_life")
    assert caught.value.field == "half_life"


def test_weights():
    assert parse_weights("30,0,70") == (30, 0, 70)
    assert parse_weights(" 40, 20 ,40") == (40, 20, 40)
    for bad in ("50,50,10", "30,70", "a,b,c", "40,20,40,0", "-10,60,50", "33.3,33.3,33.4"):
        with pytest.raises(ValidationError) as caught:
            parse_weights(bad)
        assert caught.value.field == "weights"


def test_four_weights():
    assert parse_weights("30,30,30,10", 4) == (30, 30, 30, 10)
    assert parse_weights("0, 0, 100 ,0", 4) == (0, 0, 100, 0)
    for bad in ("30,30,30", "30,30,30,20", "a,b,c,d", "30,30,30,10,0", "25.5,25.5,39,10", ""):
        with pytest.raises(ValidationError) as caught:
            parse_weights(bad, 4)
        assert caught.value.field == "weights"
    with pytest.raises(ValidationError) as caught:
        parse_weights("30,30,30", 4)
    assert caught.value.message == (
        "Weights must be four whole percentages for the first, lead-creation, "
        "opportunity-creation and other touches, such as 30,30,30,10."
    )
