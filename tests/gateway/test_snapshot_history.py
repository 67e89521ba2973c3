"""`Snapshot.history`: the engine's 13-month window cut from a subscriber's bill rows,
whatever months have rows (fast paths for a full window and for a run of months)."""

from __future__ import annotations

from datetime import date

from hypothesis import given
from hypothesis import strategies as st

from entitlements.bills import billed_total
from entitlements.model import Subscriber
from entitlements.months import Month
from gateway.stores.queries.snapshot import Snapshot

MONTH = Month.parse("2027-01")


def _snapshot(months: list[int]) -> Snapshot:
    return Snapshot(
        Subscriber("18600000001", "mobile", "4g", "postpaid", "", "", "active", date(2015, 1, 1)),
        "0371", None, None,
        tuple(months), tuple(1000 + m for m in months), tuple(500 + m for m in months),
        7, (), 0, None, 0, False,
    )  # fmt: skip


@given(st.sets(st.integers(int(MONTH) - 20, int(MONTH) + 2), max_size=24))
def test_history_puts_each_row_in_its_month_and_none_elsewhere(rows: set[int]) -> None:
    months = sorted(rows)
    history = _snapshot(months).history(MONTH)
    window = range(int(MONTH) - 13, int(MONTH))
    assert history.end == MONTH - 1
    assert history.billed_fen == tuple(1000 + m if m in rows else None for m in window)
    assert history.paid_fen == tuple(500 + m if m in rows else None for m in window)
    # cumulative paid: every payment through the window's last month, plus those outside bills
    assert history.cumulative_paid_fen == sum(500 + m for m in months if m < int(MONTH)) + 7
    assert billed_total(history, int(MONTH) - 12, int(MONTH) - 1) == sum(
        1000 + m for m in months if int(MONTH) - 12 <= m < int(MONTH)
    )
