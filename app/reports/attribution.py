"""Attribution models: how one conversion's credit is shared among the touches before it.

Pure functions over plain numbers (no SQL, no Flask), so they can be tested exhaustively.
Credit is counted in whole units and shared so that nothing is ever lost to rounding: a
conversion is 100 hundredths, its value is its minor units (cents), and each is split by the
largest-remainder method, so the shares of every conversion add up exactly to 1.00 and to its
value. A touch list is always oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.errors import ValidationError

MODELS = ("last_touch", "first_touch", "linear", "position_based", "time_decay")
DEFAULT_WEIGHTS = (40, 20, 40)
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
    """A model with its settings: weights are position_based's first/middle/last percentages."""

    name: str = "last_touch"
    weights: tuple[int, int, int] = DEFAULT_WEIGHTS
    half_life_s: int = DEFAULT_HALF_LIFE_S


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


def parse_weights(text: str) -> tuple[int, int, int]:
    """`30,0,70`: three whole percentages (first, middle, last) that add up to 100."""
    parts = [p.strip() for p in text.split(",")] if isinstance(text, str) else []
    if len(parts) != 3 or not all(p.isdigit() and len(p) <= 3 for p in parts):
        raise ValidationError(
            "Weights must be three whole percentages for first, middle and last touches, "
            "such as 40,20,40.",
            field="weights",
        )
    first, middle, last = (int(p) for p in parts)
    if first + middle + last != 100:
        raise ValidationError(
            f"Weights must add up to 100 (these add up to {first + middle + last}).",
            field="weights",
        )
    return first, middle, last


def touch_weights(model: Model, ages_s: Sequence[float]) -> list[int]:
    """Whole-number weights, one per touch (oldest first), in proportion to each one's credit.

    `ages_s` are the seconds from each touch to the conversion. At least one weight is
    positive for any non-empty list.
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
    raise ValueError(f"unknown model {name!r}")


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


def credit(model: Model, ages_s: Sequence[float], value_minor: int) -> list[tuple[int, int]]:
    """(hundredths of the conversion, minor units of its value) per touch, oldest first."""
    weights = touch_weights(model, ages_s)
    return list(
        zip(allocate(CONVERSION_UNITS, weights), allocate(value_minor, weights), strict=True)
    )
