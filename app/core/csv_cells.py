"""Cells a spreadsheet shows as text, never runs: the one rule every CSV export applies.

OWASP "CSV Injection": a cell that starts with `=`, `+`, `-`, `@`, tab or carriage return
can be read as a formula (`=HYPERLINK("http://evil.example","x")` in a lead's name), so
such a text gets a `'` in front. Only text is changed: numbers we write (a refund of -5.00,
an ROI of -0.5) are passed as int/float or formatted by us and stay numbers, since a
prefixed `-5.00` becomes text and spreadsheets stop summing it. Anything a user typed is
text, even when it looks like a number.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def inert(value: object) -> object:
    """The value, with a `'` before a text that starts like a formula; non-text unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def inert_row(cells: list) -> list:
    """Every cell of a row through `inert`."""
    return [inert(cell) for cell in cells]


def inert_values(row: dict) -> dict:
    """Every value of a DictWriter row through `inert`."""
    return {name: inert(value) for name, value in row.items()}
