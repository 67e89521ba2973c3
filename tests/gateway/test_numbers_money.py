"""Phone numbers through the numbering-plan library; money in exact fen."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from entitlements.errors import InvalidAmount
from entitlements.money import format_fen, parse_yuan, parse_yuan_text
from gateway.numbers import InvalidNumber, _normalise, _plain_fixed, is_withheld, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("18612345678", "18612345678", id="plain mobile"),
        pytest.param("+8618612345678", "18612345678", id="+86 prefix"),
        pytest.param("008618612345678", "18612345678", id="0086 prefix"),
        pytest.param("+86 186-1234-5678", "18612345678", id="separators"),
        pytest.param("037162345678", "037162345678", id="fixed line with area code"),
        pytest.param("010-62345678", "01062345678", id="Beijing fixed line"),
        pytest.param("１８６１２３４５６７８", "18612345678", id="full-width digits"),
        pytest.param("١٨٦١٢٣٤٥٦٧٨", "18612345678", id="Arabic-Indic digits"),
        pytest.param("१८६१२३४५६७८", "18612345678", id="Devanagari digits"),
        pytest.param("13٠٠٠119209", "13000119209", id="ASCII with Arabic-Indic zeros (red team)"),
        pytest.param("1300011920９", "13000119209", id="ASCII with one full-width digit (red team)"),
        pytest.param("＋86\u3000186－1234－5678", "18612345678", id="full-width plus, space and hyphens"),
    ],
)
def test_valid_numbers_normalise_to_national_format(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("1861234567", id="ten digits"),
        pytest.param("186123456789", id="twelve digit mobile"),
        pytest.param("186abc45678", id="letters"),
        pytest.param("+16502530000", id="not Chinese"),
        pytest.param("14012345678", id="unassigned prefix"),
        pytest.param("10010", id="service short code"),
        pytest.param("186123456７８9", id="twelve digits in two scripts"),
        pytest.param("1861234567²", id="a superscript is not a digit"),
        pytest.param("186123456①②", id="circled digits are not digits"),
    ],
)
def test_invalid_numbers_are_rejected_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidNumber) as info:
        normalise(raw)
    assert info.value.reason


@pytest.mark.parametrize("ani", ["", "anonymous", "Unknown", " private ", None, "ａｎｏｎｙｍｏｕｓ"])
def test_withheld_caller_ids(ani: str | None) -> None:
    # rule Q4: a withheld caller ID is an ordinary unknown caller
    assert is_withheld(ani)


def test_a_number_is_not_withheld() -> None:
    assert not is_withheld("18612345678")


@pytest.mark.parametrize(
    ("value", "fen"),
    [("12.34", 1234), ("12.3", 1230), ("12", 1200), (12, 1200), (12.5, 1250), (0.1, 10), ("0", 0)],
)
def test_amounts_parse_to_exact_fen(value: object, fen: int) -> None:
    assert parse_yuan(value) == fen


@pytest.mark.parametrize("value", ["-1", "1.234", "abc", "", True, None, 1.005, "1e3", [], "01"])
def test_bad_amounts_are_rejected(value: object) -> None:
    with pytest.raises(InvalidAmount):
        parse_yuan(value)


def test_zero_can_be_refused() -> None:
    with pytest.raises(InvalidAmount, match="greater than zero"):
        parse_yuan("0.00", allow_zero=False)


def test_format_yuan() -> None:
    assert [format_fen(x) for x in (0, 5, 1234, -250)] == ["0.00", "0.05", "12.34", "-2.50"]


@settings(max_examples=2000, deadline=None)
@given(prefix=st.integers(130, 199), rest=st.integers(0, 10**8 - 1))
def test_fast_path_agrees_with_the_numbering_plan_library(prefix: int, rest: int) -> None:
    number = f"{prefix}{rest:08d}"
    library = _normalise(number)  # the library's own verdict, no fast path
    try:
        ours: str | None = normalise(number)
    except InvalidNumber:
        ours = None
    assert (ours is not None) == isinstance(library, str)
    if ours is not None:  # asked again: from the memo of plain numbers, the same answer
        assert normalise(number) == ours == library


@settings(max_examples=3000, deadline=None)
@given(
    first=st.integers(1, 9),
    rest=st.text(alphabet="0123456789", min_size=8, max_size=11),
    area=st.sampled_from(["", "10", "20", "21", "371", "379", "396", "755", "400", "800", "950", "1010"]),
)
def test_the_fixed_line_fast_path_agrees_with_the_library(first: int, rest: str, area: str) -> None:
    # §6: a fixed line in its normal form (0 + area code + number) is recognised by the plan's own
    # patterns exactly when the library parses, validates and classes it so (toll-free, shared-cost
    # and premium numbers are not subscriber numbers)
    number = f"0{area or first}{rest}"
    library = _normalise(number)  # the library's own verdict, no fast path
    assert _plain_fixed(number) == (library == number)
    try:
        ours: str | None = normalise(number)
    except InvalidNumber:
        ours = None
    assert ours == (library if isinstance(library, str) else None)


def test_the_memo_of_plain_numbers_serves_only_its_own_normal_form() -> None:
    assert normalise("18612345678") == "18612345678"
    assert normalise("18612345678") == "18612345678"  # the memo's answer
    # the same number in other forms is not the memo's key: normalised the long way
    assert normalise("+86 186-1234-5678") == normalise("１８６１２３４５６７８") == "18612345678"
    with pytest.raises(InvalidNumber):
        normalise("1861234567")  # one digit short: never in the memo


@settings(max_examples=500, deadline=None)
@given(
    prefix=st.integers(130, 199),
    rest=st.integers(0, 10**8 - 1),
    scripts=st.lists(st.sampled_from([0x30, 0x660, 0x6F0, 0x966, 0xFF10]), min_size=11, max_size=11),
)
def test_every_mix_of_scripts_is_the_ascii_number(prefix: int, rest: int, scripts: list[int]) -> None:
    # the red team's finding: a mixed-script number must not pass through unchanged
    ascii_number = f"{prefix}{rest:08d}"
    mixed = "".join(chr(base + int(d)) for base, d in zip(scripts, ascii_number, strict=True))
    try:
        expected: str | None = normalise(ascii_number)
    except InvalidNumber:
        expected = None
    try:
        got: str | None = normalise(mixed)
    except InvalidNumber:
        got = None
    assert got == expected and (got is None or got.isascii())


def _parsed(parse: object, text: str, allow_zero: bool) -> int | str:
    try:
        return parse(text, allow_zero=allow_zero)  # type: ignore[operator,no-any-return]  # either parser
    except InvalidAmount as exc:
        return f"refused: {exc}"


@settings(max_examples=400, deadline=None)
@given(
    st.one_of(
        st.from_regex(r"\A-?[0-9]{0,14}(\.[0-9]{0,3})?\Z"),
        st.text(alphabet="0123456789.-+e ,１", max_size=16),
    ),
    st.booleans(),
)
def test_the_csv_fast_path_parses_exactly_as_parse_yuan(text: str, allow_zero: bool) -> None:
    """The import's one-regex parser (1M rows) gives the same fen, or the same refusal."""
    assert _parsed(parse_yuan_text, text, allow_zero) == _parsed(parse_yuan, text, allow_zero)
