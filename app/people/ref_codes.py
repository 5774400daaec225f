"""Lead reference codes: short, speakable, typeable over the phone. Pure functions.

A reference code is 7 Crockford base32 characters plus the coupon codes' Luhn mod 32 check
character, shown `R7KQ-4X9M`. A rep hears it on a call, a reseller copies it from a quote, a
clerk types it at the till: the check character tells a typo from a code that does not exist,
and reading is as forgiving as for coupon codes (case, spaces and hyphens ignored, I and L read
as 1, O as 0).

Codes are not random: a per-install counter goes through a keyed Feistel permutation of the
35-bit space. That makes them unique by construction (a bulk import of a million leads needs
no collision retries; random 35-bit codes would collide about 14 times there) and never
reused, while the key keeps neighbours unrelated, so one code says nothing about the next.
"""

from __future__ import annotations

import hashlib

from app.coupons.codes import _ALIASES, _VALUE, ALPHABET, check_character, squeeze

BODY_LENGTH = 7
CODE_LENGTH = BODY_LENGTH + 1
SPACE = 1 << (5 * BODY_LENGTH)  # 2**35 codes
_HALF_BITS = 18  # the permutation works on 36 bits and walks back into the 35-bit space
_HALF_MASK = (1 << _HALF_BITS) - 1
_ROUNDS = 4


def _round(key: bytes, number: int, half: int) -> int:
    digest = hashlib.blake2b(
        half.to_bytes(3, "big") + bytes((number,)), key=key, digest_size=3
    ).digest()
    return int.from_bytes(digest, "big") & _HALF_MASK


def permute(number: int, key: bytes) -> int:
    """A bijection of range(SPACE): the counter's n-th value -> the n-th code's number."""
    if not 0 <= number < SPACE:
        raise ValueError("reference code counter exhausted")
    value = number
    while True:  # cycle walking: at most a few steps, since half of 2**36 lies below 2**35
        left, right = value >> _HALF_BITS, value & _HALF_MASK
        for i in range(_ROUNDS):
            left, right = right, left ^ _round(key, i, right)
        value = (left << _HALF_BITS) | right
        if value < SPACE:
            return value


def encode(number: int, key: bytes) -> str:
    """The normalised code (8 characters, check character last) for counter value `number`."""
    value = permute(number, key)
    body = "".join(ALPHABET[(value >> (5 * i)) & 31] for i in range(BODY_LENGTH - 1, -1, -1))
    return body + check_character(body)


def display(code: str) -> str:
    """`R7KQ4X9M` -> `R7KQ-4X9M`."""
    if len(code) == CODE_LENGTH:
        return f"{code[:4]}-{code[4:]}"
    return code


class Reading:
    """What a typed reference code could be."""

    __slots__ = ("code", "typo")

    def __init__(self, code: str | None, typo: bool) -> None:
        self.code = code  # the normalised code when its check character holds
        self.typo = typo  # shaped like a code, but the check character is wrong


def read(text: str) -> Reading:
    """Interpret a reference code as typed or read out: `r7kq 4x9m`, `R7KQ-4X9M`, `R7KQ4X9M`."""
    squeezed = squeeze(text)
    if len(squeezed) != CODE_LENGTH:
        return Reading(None, typo=False)
    mapped = "".join(_ALIASES.get(ch, ch) for ch in squeezed)
    if not all(ch in _VALUE for ch in mapped):
        return Reading(None, typo=False)
    if check_character(mapped[:-1]) != mapped[-1]:
        return Reading(None, typo=True)
    return Reading(mapped, typo=False)


def looks_like(text: str) -> bool:
    """Shaped like a reference code (right length and alphabet), whatever its check character."""
    reading = read(text)
    return reading.code is not None or reading.typo
