"""Money in integer fen: parsed from yuan text or JSON numbers, never through float math."""

from __future__ import annotations

import re

_YUAN = re.compile(r"^(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?$")


class InvalidAmount(ValueError):
    """Not an amount in yuan with at most two decimals."""


def parse_yuan(value: object, *, allow_zero: bool = True) -> int:
    """'12.3' / 12.3 / 12 → 1230 fen; rejects negatives, >2 decimals, bools, NaN."""
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
    match = _YUAN.match(text)
    if match is None:
        raise InvalidAmount(f"{text!r} is not an amount in yuan (digits, at most 2 decimals, not negative)")
    whole, cents = match.group(1), (match.group(2) or "").ljust(2, "0")
    fen = int(whole) * 100 + int(cents)
    if fen == 0 and not allow_zero:
        raise InvalidAmount("the amount must be greater than zero")
    return fen


def format_yuan(fen: int) -> str:
    """1230 → '12.30'."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"
