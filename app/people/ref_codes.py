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


_GOLDEN = 0x9E3779B97F4A7C15  # odd: multiplying by it mod 2**64 is a bijection that mixes
_MASK64 = (1 << 64) - 1


def _round_keys(key: bytes) -> tuple[int, ...]:
    """Four 64-bit round keys from the install's key (blake2b once, not once per code)."""
    digest = hashlib.blake2b(key, digest_size=8 * _ROUNDS, person=b"touchpoint-ref").digest()
    return tuple(int.from_bytes(digest[8 * i : 8 * i + 8], "big") for i in range(_ROUNDS))


def _forward(value: int, keys: tuple[int, ...]) -> int:
    left, right = value >> _HALF_BITS, value & _HALF_MASK
    for k in keys:
        # The round function: a keyed multiplicative hash, top bits kept (Fibonacci hashing).
        mixed = (((right ^ k) * _GOLDEN) & _MASK64) >> (64 - _HALF_BITS)
        left, right = right, left ^ mixed
    return (left << _HALF_BITS) | right


def _backward(value: int, keys: tuple[int, ...]) -> int:
    left, right = value >> _HALF_BITS, value & _HALF_MASK
    for k in reversed(keys):
        mixed = (((left ^ k) * _GOLDEN) & _MASK64) >> (64 - _HALF_BITS)
        left, right = right ^ mixed, left
    return (left << _HALF_BITS) | right


def permute(number: int, key: bytes, keys: tuple[int, ...] | None = None) -> int:
    """A bijection of range(SPACE): the counter's n-th value -> the n-th code's number."""
    if not 0 <= number < SPACE:
        raise ValueError("reference code counter exhausted")
    keys = keys or _round_keys(key)
    value = _forward(number, keys)
    while value >= SPACE:  # cycle walking: a step or two, as half of 2**36 lies below 2**35
        value = _forward(value, keys)
    return value


def unpermute(value: int, key: bytes, keys: tuple[int, ...] | None = None) -> int:
    """The inverse of `permute`: a code's number -> the counter value it was made from."""
    keys = keys or _round_keys(key)
    number = _backward(value, keys)
    while number >= SPACE:
        number = _backward(number, keys)
    return number


# The coupon codes' Luhn mod 32 (codes.check_character) as a table per position from the
# right: encoding is on the path of every imported row, so no loop over characters.
_LUHN = tuple(
    tuple((f * v) // 32 + (f * v) % 32 for v in range(32))
    for f in (2 if j % 2 == 0 else 1 for j in range(BODY_LENGTH))
)


def encode(number: int, key: bytes, keys: tuple[int, ...] | None = None) -> str:
    """The normalised code (8 characters, check character last) for counter value `number`."""
    value = permute(number, key, keys)
    digits = [(value >> (5 * i)) & 31 for i in range(BODY_LENGTH)]  # least significant first
    total = sum(_LUHN[j][d] for j, d in enumerate(digits))
    return "".join(ALPHABET[d] for d in reversed(digits)) + ALPHABET[-total % 32]


def encoder(key: bytes):
    """encode() with the round keys worked out once, for a batch of codes."""
    keys = _round_keys(key)
    return lambda number: encode(number, key, keys)


def number_of(code: str, key: bytes) -> int:
    """The counter value a normalised code was made from (where leads are indexed)."""
    value = 0
    for ch in code[:BODY_LENGTH]:
        value = value * 32 + _VALUE[ch]
    return unpermute(value, key)


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
