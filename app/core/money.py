"""Money as integer minor units in storage, decimal strings on the wire."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import overload

# ISO 4217 currencies whose minor unit is not 1/100.
_ZERO_DECIMALS = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
_THREE_DECIMALS = "BHD IQD JOD KWD LYD OMR TND"
_EXPONENTS = {
    **dict.fromkeys(_ZERO_DECIMALS.split(), 0),
    **dict.fromkeys(_THREE_DECIMALS.split(), 3),
}


def exponent(currency: str) -> int:
    return _EXPONENTS.get(currency, 2)


def is_currency(code: object) -> bool:
    return (
        isinstance(code, str)
        and len(code) == 3
        and code.isascii()
        and code.isalpha()
        and code.isupper()
    )


def to_minor(value: object, currency: str, *, example: str = "49.99") -> int:
    """Turn "49.99" or 49.99 into 4999 (for a 2-decimal currency).

    Raises ValueError for anything that is not a finite, non-negative amount with no more
    decimals than the currency has; its text completes a sentence that starts with the
    field's name ("Cost must be a decimal number such as 1200.00").
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError("must be a decimal string or a number")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be a decimal number such as {example}") from None
    if not amount.is_finite():
        raise ValueError("must be a finite amount")
    if amount < 0:
        raise ValueError("must not be negative")
    places = exponent(currency)
    minor = amount.scaleb(places)
    if minor != minor.to_integral_value():
        if places == 0:
            raise ValueError(f"must be a whole amount in {currency}")
        raise ValueError(f"can have {places} decimal places at most in {currency}")
    if minor > 10**15:
        raise ValueError("is too large")
    return int(minor)


@overload
def to_decimal_string(minor: int, currency: str | None) -> str: ...
@overload
def to_decimal_string(minor: None, currency: str | None) -> None: ...
def to_decimal_string(minor: int | None, currency: str | None) -> str | None:
    """4999 -> "49.99"; None stays None."""
    if minor is None:
        return None
    places = exponent(currency or "")
    return str(Decimal(minor).scaleb(-places).quantize(Decimal(1).scaleb(-places)))


@overload
def grouped(text: str) -> str: ...
@overload
def grouped(text: None) -> None: ...
def grouped(text: str | None) -> str | None:
    """A decimal string with thousands separators for people: "1234567.50" -> "1,234,567.50".

    Only for display; the API and CSV keep plain decimal strings.
    """
    if text is None:
        return None
    sign, digits = ("-", text[1:]) if text.startswith("-") else ("", text)
    whole, dot, fraction = digits.partition(".")
    if not whole.isdigit():
        return text
    return f"{sign}{int(whole):,}{dot}{fraction}"
