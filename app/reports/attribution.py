"""Attribution models: how one conversion's credit is shared among the touches before it.

Pure functions over plain numbers (no SQL, no Flask), so they can be tested exhaustively.
Credit is counted in whole units and shared so that nothing is ever lost to rounding: a
conversion is 100 hundredths, its value is its minor units (cents), and each is split by the
largest-remainder method, so the shares of every conversion add up exactly to 1.00 and to its
value. A touch list is always oldest first.

The milestone models (w_shaped, full_path) also need to know which touches opened the lead
and the opportunity: the caller finds them (the latest touch at or before each milestone)
and hands in their places in the list.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.errors import ValidationError

MODELS = (
    "last_touch",
    "first_touch",
    "linear",
    "position_based",
    "time_decay",
    "w_shaped",
    "full_path",
)
DEFAULT_WEIGHTS = (40, 20, 40)
# w_shaped: first touch, lead-creation touch, opportunity-creation touch, the others.
W_SHAPED_WEIGHTS = (30, 30, 30, 10)
# full_path: 22.5% each to the first, lead-creation, opportunity-creation and closing touches
# and 10% to the others, in tenths of a percent so the weights stay whole numbers. Fixed.
FULL_PATH_WEIGHTS = (225, 225, 225, 225, 100)
# (index of the lead-creation touch, index of the opportunity-creation touch) in a touch
# list, None where the lead never reached that milestone or no touch in the window led to it.
Milestones = tuple[int | None, int | None]
NO_MILESTONES: Milestones = (None, None)
DEFAULT_HALF_LIFE_S = 7 * 86_400
CONVERSION_UNITS = 100  # a conversion is credited in hundredths
MAX_DURATION_S = 365 * 86_400
_DURATION_RE = re.compile(r"^([1-9][0-9]{0,8})([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3_600, "d": 86_400}
# time_decay weights are turned into integers of this scale before the split, so the split
# itself is exact integer arithmetic whatever the floating-point weights were.
_DECAY_SCALE = 2**52


@dataclass(frozen=True)
class Model:
    """A model with its settings: weights are position_based's first/middle/last percentages,
    w_weights w_shaped's first/lead-creation/opportunity-creation/others percentages."""

    name: str = "last_touch"
    weights: tuple[int, ...] = DEFAULT_WEIGHTS
    half_life_s: int = DEFAULT_HALF_LIFE_S
    w_weights: tuple[int, ...] = W_SHAPED_WEIGHTS

    @property
    def uses_milestones(self) -> bool:
        return self.name in ("w_shaped", "full_path")


# What the report page calls the duration parameters.
_NAMES = {"window": "Window", "half_life": "Half-life"}


def parse_duration(text: str, field: str) -> int:
    """`90s`, `30m`, `12h` or `7d` as seconds; anything else is a ValidationError on `field`."""
    found = _DURATION_RE.match(text.strip()) if isinstance(text, str) else None
    if found is None:
        raise ValidationError(
            f"{_NAMES.get(field, field)} is a number and a unit, such as 90s, 30m, 12h or 7d.",
            field=field,
        )
    seconds = int(found.group(1)) * _UNIT_SECONDS[found.group(2)]
    if seconds > MAX_DURATION_S:
        raise ValidationError(f"{_NAMES.get(field, field)} is at most 365d.", field=field)
    return seconds


def format_duration(seconds: int) -> str:
    """The shortest `7d`/`12h`/`30m`/`90s` spelling of a number of seconds."""
    for unit in ("d", "h", "m"):
        if seconds % _UNIT_SECONDS[unit] == 0:
            return f"{seconds // _UNIT_SECONDS[unit]}{unit}"
    return f"{seconds}s"


# What each count of weights is for, in the message that asks for them.
_WEIGHT_NAMES = {
    3: ("three", "first, middle and last touches", "40,20,40"),
    4: (
        "four",
        "the first, lead-creation, opportunity-creation and other touches",
        "30,30,30,10",
    ),
}


def parse_weights(text: str, count: int = 3) -> tuple[int, ...]:
    """`30,0,70`: `count` whole percentages that add up to 100 (three for position_based:
    first, middle, last; four for w_shaped: first, lead creation, opportunity creation,
    others)."""
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else []
    if len(parts) != count or not all(p.isdigit() and len(p) <= 3 for p in parts):
        number, what, example = _WEIGHT_NAMES[count]
        raise ValidationError(
            f"Weights must be {number} whole percentages for {what}, such as {example}.",
            field="weights",
        )
    numbers = tuple(int(p) for p in parts)
    if sum(numbers) != 100:
        raise ValidationError(
            f"Weights must add up to 100 (these add up to {sum(numbers)}).",
            field="weights",
        )
    return numbers


def touch_weights(
    model: Model, ages_s: Sequence[float], milestones: Milestones = NO_MILESTONES
) -> list[int]:
    """Whole-number weights, one per touch (oldest first), in proportion to each one's credit.

    `ages_s` are the seconds from each touch to the conversion; `milestones` the places of
    the lead-creation and opportunity-creation touches in the list (milestone models only).
    At least one weight is positive for any non-empty list.
    """
    n = len(ages_s)
    if n == 0:
        return []
    if n == 1:
        return [1]
    name = model.name
    if name == "last_touch":
        return [0] * (n - 1) + [1]
    if name == "first_touch":
        return [1] + [0] * (n - 1)
    if name == "linear":
        return [1] * n
    if name == "position_based":
        first, middle, last = model.weights
        if n == 2:
            # The middle share has nobody to go to: first and last split in their own ratio.
            return [first, last] if first + last else [1, 1]
        # Each middle touch gets middle/(n-2); scaling everything by (n-2) keeps integers.
        return [first * (n - 2)] + [middle] * (n - 2) + [last * (n - 2)]
    if name == "time_decay":
        # Relative to the newest touch (weight 1), so very old touches underflow to 0 credit
        # instead of every weight underflowing at once.
        youngest = min(ages_s)
        half_life = model.half_life_s
        return [round(_DECAY_SCALE * 2.0 ** (-(age - youngest) / half_life)) for age in ages_s]
    if name == "w_shaped":
        return milestone_weights(model.w_weights, (0, *milestones), n)
    if name == "full_path":
        return milestone_weights(FULL_PATH_WEIGHTS, (0, *milestones, n - 1), n)
    raise ValueError(f"unknown model {name!r}")


def milestone_weights(shares: Sequence[int], holders: Sequence[int | None], n: int) -> list[int]:
    """Weights of n touches when each milestone position's share goes to the touch holding it
    and the last share is split equally by the touches that hold none.

    `shares`: one per position, then the others' share; `holders`: the index of the touch
    holding each position, None for a position nobody holds. A touch holding two positions
    gets both shares. A share with nobody to take it is not handed out, which spreads it over
    the positions that are held in proportion to their shares (the allocation is
    proportional). When every share that has a taker is zero, the touches share equally.
    """
    *position_shares, others_share = shares
    held = [0] * n
    holding = set()
    for share, index in zip(position_shares, holders, strict=True):
        if index is not None:
            held[index] += share
            holding.add(index)
    others = n - len(holding)
    if others:
        # Each other touch gets others_share / others: scaling by `others` keeps integers.
        weights = [held[i] * others if i in holding else others_share for i in range(n)]
    else:
        weights = held
    return weights if any(weights) else [1] * n


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` whole units in proportion to `weights`; the parts add up to `total`.

    Largest remainder: everyone gets the floor of their exact share, then the units left
    over go one each to the largest remainders. Ties go to the later touch (last touch
    closes), so 1.00 over three equal touches is 0.33, 0.33, 0.34.
    """
    weight_sum = sum(weights)
    if weight_sum <= 0:
        raise ValueError("weights must have a positive sum")
    parts = []
    remainders = []
    for index, weight in enumerate(weights):
        share, remainder = divmod(total * weight, weight_sum)
        parts.append(share)
        remainders.append((remainder, index))
    left = total - sum(parts)
    if left:
        for _, index in sorted(remainders, reverse=True)[:left]:
            parts[index] += 1
    return parts


def credit(
    model: Model,
    ages_s: Sequence[float],
    value_minor: int,
    milestones: Milestones = NO_MILESTONES,
) -> list[tuple[int, int]]:
    """(hundredths of the conversion, minor units of its value) per touch, oldest first."""
    weights = touch_weights(model, ages_s, milestones)
    return list(
        zip(allocate(CONVERSION_UNITS, weights), allocate(value_minor, weights), strict=True)
    )
