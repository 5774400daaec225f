"""Coupon code text: generation, normalisation, check character and display. Pure functions.

Unique codes are 11 random Crockford base32 characters (55 bits: at 10 failed guesses a
minute per till, finding one live code among a million would take millennia) plus one Luhn
mod 32 check character, shown in groups of four: `7KQ4-X9M2-HT6C`. The check character
catches every single mistyped character and almost every swap of two neighbours, so a typo is told
apart from a guess. Reading is forgiving: case, spaces and hyphens are ignored, I and L read
as 1, O as 0 (Crockford), and an optional readable prefix (`SPRING-…`) is decoration.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RANDOM_LENGTH = 11
CODE_LENGTH = RANDOM_LENGTH + 1
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_ALIASES = {"I": "1", "L": "1", "O": "0"}
_SEPARATORS = str.maketrans("", "", " -_.\t")


def check_character(body: str) -> str:
    """Luhn mod 32 over Crockford values: detects single errors and adjacent swaps."""
    total = 0
    factor = 2
    for ch in reversed(body):
        addend = factor * _VALUE[ch]
        total += addend // 32 + addend % 32
        factor = 1 if factor == 2 else 2
    return ALPHABET[(32 - total % 32) % 32]


def generate(count: int, randbits: Callable[[int], int] = secrets.randbits) -> list[str]:
    """`count` fresh normalised codes (12 characters each, check character last).

    `randbits` is only replaced by `touchpoint demo`, which draws from its seed.
    """
    out = []
    for _ in range(count):
        value = randbits(5 * RANDOM_LENGTH)
        body = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(RANDOM_LENGTH))
        out.append(body + check_character(body))
    return out


def display(code: str, prefix: str | None = None) -> str:
    """`7KQ4X9M2HT6C` -> `7KQ4-X9M2-HT6C` (with `PREFIX-` in front when the offer has one)."""
    if len(code) == CODE_LENGTH and all(c in _VALUE for c in code):
        code = "-".join(code[i : i + 4] for i in range(0, CODE_LENGTH, 4))
    return f"{prefix}-{code}" if prefix else code


def squeeze(text: str) -> str:
    """Upper case without separators: how shared codes and raw input are compared."""
    return text.upper().translate(_SEPARATORS)


class Reading:
    """What a typed or scanned code could be."""

    __slots__ = ("shared", "unique", "typo", "prefix")

    def __init__(self, shared: str, unique: str | None, typo: bool, prefix: str = "") -> None:
        self.shared = shared  # the squeezed text, to look up as a shared code
        self.unique = unique  # the 12-character unique code, when the text can be one
        self.typo = typo  # it looks like a unique code but its check character is wrong
        self.prefix = prefix  # what comes before the last 12 characters (a printed prefix?)


def unique_shaped(text: str) -> bool:
    """12 characters that read as Crockford base32 (after I/L/O): a unique code's shape."""
    return len(text) == CODE_LENGTH and all(_ALIASES.get(ch, ch) in _VALUE for ch in text)


def read(text: str) -> Reading:
    """Interpret input from a keyboard-wedge scanner or a person typing."""
    squeezed = squeeze(text)
    tail = squeezed[-CODE_LENGTH:]
    if len(tail) == CODE_LENGTH:
        mapped = "".join(_ALIASES.get(ch, ch) for ch in tail)
        if all(ch in _VALUE for ch in mapped):
            ok = check_character(mapped[:-1]) == mapped[-1]
            prefix = squeezed[:-CODE_LENGTH]
            return Reading(squeezed, mapped if ok else None, typo=not ok, prefix=prefix)
    return Reading(squeezed, None, typo=False)
