"""Calendar months as a cheap immutable value type, and the Asia/Shanghai calendar day.

Every date rule of the SPEC is in Asia/Shanghai and counts natural (calendar) months,
so month arithmetic is integer arithmetic on ``year * 12 + month - 1``.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, datetime
from functools import lru_cache
from typing import overload
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")

_MONTH_TEXT = re.compile(r"^(\d{4})-(\d{2})$")
_TEXT: dict[int, str] = {}


class Month(int):
    """A calendar month: an ``int`` holding ``year * 12 + month - 1``.

    Being an ``int`` makes it hashable, ordered and cheap to compare; ``+``/``-`` with an
    ``int`` give a ``Month``, ``Month - Month`` gives the number of months between them.
    """

    __slots__ = ()

    @classmethod
    def from_parts(cls, year: int, month: int) -> Month:
        """The month ``year``-``month`` (1–12)."""
        if not 1 <= month <= 12:
            raise ValueError(f"month must be 1..12, got {month}")
        if not 1 <= year <= 9999:
            raise ValueError(f"year must be 1..9999, got {year}")
        return cls(year * 12 + month - 1)

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM`` (e.g. ``2026-11``)."""
        match = _MONTH_TEXT.match(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"not a month in YYYY-MM form: {text!r}")
        return cls.from_parts(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        """The month a date falls in."""
        return cls(day.year * 12 + day.month - 1)

    @property
    def year(self) -> int:
        """The calendar year."""
        return int(self) // 12

    @property
    def month(self) -> int:
        """The month of the year, 1–12."""
        return int(self) % 12 + 1

    @property
    def first_day(self) -> date:
        """The first day of the month."""
        return date(int(self) // 12, int(self) % 12 + 1, 1)

    @property
    def last_day(self) -> date:
        """The last day of the month."""
        return _day(int(self), 31)

    def day(self, day: int) -> date:
        """The given day of this month (e.g. the 8th, T2.5), clamped to the month's length."""
        return _day(int(self), day)

    def __add__(self, months: int) -> Month:
        return Month(int(self) + months)

    __radd__ = __add__

    # ``Month - Month`` is a count of months and ``Month - int`` a month; the first
    # overload is narrower than the second, which mypy flags as an unsafe overlap even
    # though the runtime dispatch below is exact.
    @overload
    def __sub__(self, other: Month) -> int: ...  # type: ignore[overload-overlap]

    @overload
    def __sub__(self, other: int) -> Month: ...

    def __sub__(self, other: int) -> int:
        if isinstance(other, Month):
            return int(self) - int(other)
        return Month(int(self) - other)

    def __str__(self) -> str:
        # Cached: the batch prints the same few months for a million subscribers.
        text = _TEXT.get(int(self))
        if text is None:
            text = _TEXT[int(self)] = f"{int(self) // 12:04d}-{int(self) % 12 + 1:02d}"
        return text

    def __repr__(self) -> str:
        return f"Month({str(self)!r})"

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)

    def __reduce__(self) -> tuple[type[Month], tuple[int]]:
        return (Month, (int(self),))


_ISO: dict[date, str] = {}


def iso(day: date) -> str:
    """``day.isoformat()``, cached: a batch formats the same few thousand dates a million times."""
    text = _ISO.get(day)
    if text is None:
        if len(_ISO) > 100_000:
            _ISO.clear()  # bounded: a long-running process sees ever new run dates
        text = _ISO[day] = day.isoformat()
    return text


def zh_date(day: date) -> str:
    """``2026年12月1日``: a date as agents read it out and SMS texts print it."""
    return f"{day.year}年{day.month}月{day.day}日"


def shanghai_today(now: datetime) -> date:
    """The calendar day in Asia/Shanghai at the aware instant ``now``."""
    if now.tzinfo is None or now.tzinfo.utcoffset(now) is None:
        raise ValueError("shanghai_today needs an aware datetime (with a time zone)")
    return now.astimezone(SHANGHAI).date()


@lru_cache(maxsize=4096)
def months_between(first: int, last: int) -> str:
    """``"2025-11..2026-10"`` for a range of months (a single month prints once)."""
    if first == last:
        return str(Month(first))
    return f"{Month(first)}..{Month(last)}"


@lru_cache(maxsize=4096)
def _day(month: int, day: int) -> date:
    """Day `day` of the month `month` (a Month value), clamped to the month's length.
    Cached: a renewal month asks for the same few ends a million times (T1.9)."""
    year, number = month // 12, month % 12 + 1
    return date(year, number, min(day, calendar.monthrange(year, number)[1]))
