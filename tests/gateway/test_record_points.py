"""The points in the compact cache record (P3): whatever the ledger, the record written on a
day answers every later day up to its refresh_after exactly as the ledger would."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from entitlements.model import Tier
from entitlements.points import Grant, Holding, summary
from gateway.stores.record import BASE_SIZE, Record, RecordPoints, in_refresh_month, points_part

PROPERTY = settings(deadline=None, max_examples=300)
days = st.dates(min_value=date(2025, 1, 1), max_value=date(2028, 12, 31))


@st.composite
def holdings(draw: st.DrawFn) -> tuple[Holding, date]:
    today = draw(days)
    grants = []
    for gid in range(draw(st.integers(0, 8))):
        granted = today - timedelta(days=draw(st.integers(0, 700)))
        lasts = draw(st.none() | st.integers(0, 900))
        points = draw(st.integers(1, 300_000))
        grants.append(Grant(gid, granted, points, draw(st.integers(0, points)),
                            None if lasts is None else granted + timedelta(days=lasts)))  # fmt: skip
    reached = draw(st.none() | st.just(today - timedelta(days=3)))
    return Holding.of(grants, reached, today), today


def record(points: RecordPoints | None, refresh_after: date) -> Record:
    return Record(
        "unicom-2015", Tier("star", "four_star", date(2027, 10, 31)), None, None, "active", "postpaid",
        "mobile", 0, None, 0, False, None, refresh_after, points,
    )  # fmt: skip


@PROPERTY
@given(holdings(), st.integers(0, 400))
def test_the_record_answers_like_the_ledger_on_every_day_it_is_fresh(
    case: tuple[Holding, date], tier_days: int
) -> None:
    # rule P3 (and rule P1: expiry; rule P2: redeemable): points_part shortens refresh_after
    # so that balance, redeemable and expiring_next_month stay exact through it
    held, today = case
    tier_refresh = today + timedelta(days=tier_days)
    points, refresh_after = points_part(held, today, tier_refresh)
    assert points is not None
    assert today <= refresh_after <= tier_refresh
    raw = record(points, refresh_after).encode()
    assert BASE_SIZE < len(raw) <= BASE_SIZE + 8
    decoded = Record.decode(raw)
    assert decoded is not None and decoded.points == points and decoded.refresh_after == refresh_after
    day = today
    while day <= refresh_after:
        truth = summary(held, 2000, day).lookup_json()
        spoken = decoded.points.lookup_json(in_refresh_month(raw, day))
        assert spoken == b'{"balance":%d,"redeemable":%d,"expiring_next_month":%d}' % (
            truth["balance"], truth["redeemable"], truth["expiring_next_month"],
        )  # fmt: skip
        day += timedelta(days=1 if refresh_after - day < timedelta(days=70) else 17)


def test_no_ledger_keeps_the_21_bytes_and_a_bad_trailer_is_not_a_record() -> None:
    # rule P3: a subscriber without points costs nothing; bytes that are not a trailer are a miss
    plain = record(None, date(2026, 12, 31)).encode()
    assert len(plain) == BASE_SIZE
    assert Record.decode(plain) == record(None, date(2026, 12, 31))
    with_points = record(RecordPoints(5000, True, 1200), date(2026, 12, 31)).encode()
    assert len(with_points) == BASE_SIZE + 4
    for bad in (b"\x80", b"\xff\xff", b"\x01\x02\x03", b"\x80" * 12):
        assert RecordPoints.decode(bad) is None
        assert Record.decode(plain + bad) is None
