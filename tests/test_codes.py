"""Coupon code text: format, forgiving reading, and the check character (property-based)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from app.coupons import codes

code_strategy = st.text(alphabet=codes.ALPHABET, min_size=11, max_size=11).map(
    lambda body: body + codes.check_character(body)
)


def test_generated_codes_have_the_documented_shape():
    batch = codes.generate(2000)
    assert len(set(batch)) == 2000
    for code in batch:
        assert len(code) == 12 and set(code) <= set(codes.ALPHABET)
        assert not set(code) & set("ILOU")
        assert codes.read(code).unique == code
    assert codes.display(batch[0]).count("-") == 2
    assert len(codes.display(batch[0])) == 14
    assert codes.display(batch[0], "SPRING").startswith("SPRING-")


@given(code_strategy)
def test_reading_ignores_case_spaces_hyphens_and_the_prefix(code):
    shown = codes.display(code, "SPRING")
    for variant in (
        shown,
        shown.lower(),
        shown.replace("-", " "),
        code.lower(),
        " ".join(code),
        "spring" + code,
    ):
        assert codes.read(variant).unique == code


@given(code_strategy)
def test_i_l_o_read_as_one_and_zero(code):
    typed = code.replace("1", "L").replace("0", "o")
    assert codes.read(typed).unique == code


@given(code_strategy, st.integers(0, 11), st.sampled_from(codes.ALPHABET))
def test_every_single_character_error_is_a_typo_not_a_code(code, position, replacement):
    if code[position] == replacement:
        return
    typo = code[:position] + replacement + code[position + 1 :]
    reading = codes.read(typo)
    assert reading.unique is None and reading.typo


@given(code_strategy, st.integers(0, 10))
def test_most_neighbour_swaps_are_caught(code, position):
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
    if swapped == code:
        return
    reading = codes.read(swapped)
    # Luhn mod 32 misses only the swap of two values summing to 31 in its doubled pair;
    # anything it accepts must still be told apart from the original code.
    assert reading.unique != code


def test_swaps_caught_in_practice():
    caught = total = 0
    for code in codes.generate(3000):
        for i in range(11):
            swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
            if swapped != code:
                total += 1
                caught += codes.read(swapped).typo
    assert caught / total > 0.95


def test_shared_words_are_squeezed_not_mapped():
    reading = codes.read(" holiday-10 ")
    assert reading.shared == "HOLIDAY10" and reading.unique is None and not reading.typo
