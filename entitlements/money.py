"""Integer fen from yuan text, policy numbers or client input, and back — never through float.

The one money module of the project: the engine reads policy amounts with `yuan_to_fen`,
the gateway parses amounts clients send with `parse_yuan`, both print with `format_fen`.
"""

from __future__ import annotations

import re
from decimal import Decimal

from entitlements.errors import InvalidAmount

_YUAN = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]{1,2})?$")
#: What a client may send: not negative, at most 12 integer digits, at most 2 decimals.
_INPUT = re.compile(r"^(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$")
_INPUT_PARTS = re.compile(r"(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?\Z")  # _INPUT, with the parts


def yuan_to_fen(value: int | str | Decimal) -> int:
    """``"300.00"`` / ``300`` / ``Decimal("0.5")`` → fen; more than 2 decimals is an error."""
    if isinstance(value, bool):
        raise InvalidAmount(f"not an amount in yuan: {value!r}")
    if isinstance(value, int):
        return value * 100
    text = str(value).strip() if isinstance(value, str) else format(value, "f")
    if isinstance(value, Decimal) and "." in text:
        # Decimal("300.00") formats as "300.00"; trailing zeros beyond cents are exact too.
        whole, _, frac = text.partition(".")
        frac = frac.rstrip("0")
        text = whole if not frac else f"{whole}.{frac}"
    if not _YUAN.match(text):
        raise InvalidAmount(f"not an amount in yuan with at most 2 decimals: {value!r}")
    negative = text.startswith("-")
    whole, _, cents = text.lstrip("-").partition(".")
    fen = int(whole) * 100 + int(cents.ljust(2, "0") or "0")
    return -fen if negative else fen


def parse_yuan(value: object, *, allow_zero: bool = True) -> int:
    """A client's amount: '12.3' / 12.3 / 12 → 1230 fen; rejects negatives, >2 decimals, bools, NaN."""
    if isinstance(value, bool) or value is None:
        raise InvalidAmount("an amount in yuan is required")
    if isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        # JSON numbers arrive as floats; repr gives the shortest text that round-trips.
        text = repr(value)
        if text.endswith(".0"):
            text = text[:-2]
    elif isinstance(value, str):
        text = value.strip()
    else:
        raise InvalidAmount("an amount is a number or a decimal string")
    if not _INPUT.match(text):
        raise InvalidAmount(f"{text!r} is not an amount in yuan (digits, at most 2 decimals, not negative)")
    fen = yuan_to_fen(text)
    if fen == 0 and not allow_zero:
        raise InvalidAmount("the amount must be greater than zero")
    return fen


def parse_yuan_text(text: str, *, allow_zero: bool = True) -> int:
    """`parse_yuan` for text already stripped (a CSV field): the same rules, one regex match.

    A bulk import parses two amounts a row for a million rows; `parse_yuan` matched two
    patterns and went through `yuan_to_fen`'s type checks each time (40 % of validating
    a bills file). Anything this does not accept goes to `parse_yuan` for its message."""
    match = _INPUT_PARTS.match(text)
    if match is None:
        return parse_yuan(text, allow_zero=allow_zero)
    cents = match.group(2)
    fen = int(match.group(1)) * 100 + (0 if cents is None else int(cents) * (10 if len(cents) == 1 else 1))
    if fen == 0 and not allow_zero:
        raise InvalidAmount("the amount must be greater than zero")
    return fen


def format_fen(fen: int) -> str:
    """1230 → ``"12.30"`` (yuan with two decimals)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def format_ratio_fen(total_fen: int, months: int) -> str:
    """An average in yuan, truncated to the cent, so it never shows a bound it misses."""
    if months <= 0:
        return "0.00"
    # Floor division truncates toward −∞; for the display of an exact comparison
    # (avg ≥ bound ⇔ total ≥ bound × months) a truncated figure never crosses a bound
    # the exact average does not.
    return format_fen(total_fen // months)


def half_up_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero (四舍五入), in integers."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    q = (2 * abs(numerator) + denominator) // (2 * denominator)
    return -q if numerator < 0 else q
