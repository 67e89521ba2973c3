"""`callgate import points` (P1): the rows of a points file, validated one by one.

Columns `msisdn,granted_on,points,source,expires_on` (`expires_on` empty: never expires).
A grant is a positive whole number of points, granted on a day not after today, expiring
on or after that day; `gateway.batch.importer` runs the file (all rows or none, spreadsheet
row numbers) and merges it; `gateway.services.points.import_points` makes the cache follow.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any, Final

from gateway.numbers import InvalidNumber, normalise

COLUMNS: Final[tuple[str, ...]] = ("msisdn", "granted_on", "points", "source", "expires_on")
MAX_POINTS = 10_000_000  # one grant; far above any bill's points, well inside the integer column
MAX_SOURCE = 64


class BadRow(ValueError):
    """A row the file cannot have; the message is the reason shown with its row number."""


def _date(value: str, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise BadRow(f"{name} {value!r} is not a date (YYYY-MM-DD)") from None


def row(
    values: list[str], row_no: int, today: date, unique: Callable[[Any, int, str], None]
) -> tuple[Any, ...]:
    """One grant in staging order (row number first); `unique` rejects a repeated grant."""
    raw_msisdn, granted, points_text, source, expires = values
    if not raw_msisdn:
        raise BadRow("msisdn is required")
    try:
        msisdn = normalise(raw_msisdn)
    except InvalidNumber as exc:
        raise BadRow(f"msisdn is not a valid Chinese phone number: {exc.reason}") from None
    if not granted:
        raise BadRow("granted_on is required")
    granted_on = _date(granted, "granted_on")
    if granted_on > today:
        raise BadRow(f"granted_on {granted_on} is in the future")
    digits = points_text.lstrip("-+")
    if not digits.isdigit() or not digits.isascii():
        raise BadRow(f"points {points_text!r} is not a whole number")
    points = int(points_text)
    if points <= 0:
        raise BadRow(f"points must be positive, got {points}")
    if points > MAX_POINTS:
        raise BadRow(f"points {points} is more than {MAX_POINTS:,} in one grant")
    if not source:
        raise BadRow("source is required (where the points come from, e.g. bill)")
    if len(source) > MAX_SOURCE:
        raise BadRow(f"source is longer than {MAX_SOURCE} characters")
    expires_on = _date(expires, "expires_on") if expires else None
    if expires_on is not None and expires_on < granted_on:
        raise BadRow(f"expires_on {expires_on} is before granted_on {granted_on}")
    unique(
        (msisdn, granted_on, source, points, expires_on),
        row_no,
        "grant (same number, day, source, points and expiry)",
    )
    return (row_no, msisdn, granted_on, points, source, expires_on)
