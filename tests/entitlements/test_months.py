"""Calendar months and the Asia/Shanghai day (the calendar every date rule uses)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from entitlements.months import Month, months_between, shanghai_today


def test_parse_and_print_round_trip() -> None:
    # rule T1.3: natural (calendar) months are the unit of tenure.
    month = Month.parse("2026-11")
    assert str(month) == "2026-11"
    assert f"{month}" == "2026-11"
    assert (month.year, month.month) == (2026, 11)
    assert repr(month) == "Month('2026-11')"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "26-11", "2026/11", "", "abcd-ef"])
def test_parse_rejects_bad_text(text: str) -> None:
    with pytest.raises(ValueError):
        Month.parse(text)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        pytest.param("2026-11-01", "2026-11", id="the first of a month is in that month"),
        pytest.param("2026-11-30", "2026-11", id="the last of a month is in that month"),
        pytest.param("2024-02-29", "2024-02", id="a leap day is in February"),
    ],
)
def test_of_date(day: str, expected: str) -> None:
    assert str(Month.of(date.fromisoformat(day))) == expected


def test_arithmetic() -> None:
    # rule T1.9: M+1 and M+12 are plain month arithmetic across years.
    m = Month.parse("2026-11")
    assert str(m + 1) == "2026-12"
    assert str(m + 2) == "2027-01"
    assert str(m + 12) == "2027-11"
    assert str(m - 11) == "2025-12"
    assert m - Month.parse("2026-05") == 6
    assert isinstance(m + 1, Month)
    assert isinstance(m - 1, Month)
    assert not isinstance(m - m, Month)
    assert Month.parse("2026-12") > m


def test_first_and_last_days() -> None:
    assert Month.parse("2026-11").first_day == date(2026, 11, 1)
    assert Month.parse("2026-11").last_day == date(2026, 11, 30)
    assert Month.parse("2028-02").last_day == date(2028, 2, 29)
    assert Month.parse("2027-02").last_day == date(2027, 2, 28)
    assert Month.parse("2013-01").day(8) == date(2013, 1, 8)


def test_months_between() -> None:
    assert months_between(Month.parse("2025-11"), Month.parse("2026-10")) == "2025-11..2026-10"
    assert months_between(Month.parse("2026-10"), Month.parse("2026-10")) == "2026-10"


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        pytest.param(
            datetime(2026, 11, 30, 15, 59, tzinfo=UTC),
            date(2026, 11, 30),
            id="23:59 in Shanghai is still the 30th",
        ),
        pytest.param(
            datetime(2026, 11, 30, 16, 0, tzinfo=UTC),
            date(2026, 12, 1),
            id="16:00 UTC is already the 1st in Shanghai",
        ),
        pytest.param(
            datetime(2026, 12, 1, 0, 30, tzinfo=timezone(timedelta(hours=8))),
            date(2026, 12, 1),
            id="an instant given in +08:00 keeps its day",
        ),
    ],
)
def test_shanghai_today(instant: datetime, expected: date) -> None:
    # rule T1.9: effective dates are Asia/Shanghai calendar days.
    assert shanghai_today(instant) == expected


def test_shanghai_today_needs_an_aware_datetime() -> None:
    with pytest.raises(ValueError):
        shanghai_today(datetime(2026, 11, 30, 12, 0))
