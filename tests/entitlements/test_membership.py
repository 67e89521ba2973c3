"""T4 — cumulative-spend membership (policy unicom-cumulative)."""

from __future__ import annotations

import pytest

from entitlements.model import BillHistory
from tests.entitlements.helpers import PCUM, assignment, bills, d, run, sub

RUN = "2026-11-06"
M = "2026-11"


def history(cumulative_fen: int, month_paid_fen: int) -> BillHistory:
    """Bills whose last closed month (2026-10) paid ``month_paid_fen``."""
    return bills(M, [5000, 5000, 5000], paid=[0, 0, month_paid_fen], cumulative_paid_fen=cumulative_fen)


@pytest.mark.parametrize(
    ("cumulative", "month_paid", "level"),
    [
        pytest.param(0, 0, "ordinary", id="a real-name user with no payments is ordinary"),
        pytest.param(100000, 5000, "silver", id="1000 cumulative and 50 this month is silver"),
        pytest.param(99999, 5000, "ordinary", id="999.99 cumulative is not silver"),
        pytest.param(100000, 4999, "ordinary", id="49.99 this month is not silver"),
        pytest.param(300000, 50000, "gold", id="3000 and 500 is gold"),
        pytest.param(300000, 49999, "silver", id="3000 and 499.99 is silver"),
        pytest.param(1000000, 100000, "platinum", id="10000 and 1000 is platinum"),
        pytest.param(2000000, 200000, "diamond", id="20000 and 2000 is diamond"),
        pytest.param(2000000, 199999, "platinum", id="20000 and 1999.99 is platinum"),
        pytest.param(5000000, 6000, "silver", id="the highest level whose both conditions hold"),
    ],
)
def test_levels(cumulative: int, month_paid: int, level: str) -> None:
    # rule T4.1
    ev = run(PCUM, RUN, sub(), history(cumulative, month_paid))
    assert ev.computed_level == level
    assert ev.level == level
    assert "T4.1" in ev.explanation.rules
    assert ev.explanation.figures["paid_month"] == "2026-10"


def test_monthly_levels_rise_from_the_next_month() -> None:
    # rule T4.1 [assumption: evaluated monthly, effective the 1st of the next month]; rule C5
    current = assignment("membership", "gold", "2026-11-01", None, policy="unicom-cumulative")
    up = run(PCUM, RUN, sub(), history(2000000, 200000), current)
    down = run(PCUM, RUN, sub(), history(300000, 0), current)
    same = run(PCUM, RUN, sub(), history(300000, 50000), current)
    assert (up.level, up.change, up.effective_from) == ("diamond", "raised", d("2026-12-01"))
    assert (down.level, down.change, down.effective_from) == ("gold", "held", d("2026-11-01"))
    assert (same.level, same.change, same.effective_from) == ("gold", "unchanged", d("2026-11-01"))


@pytest.mark.parametrize(
    ("held", "cumulative", "month_paid", "status", "level", "change"),
    [
        pytest.param("gold", 300000, 0, "active", "gold", "held", id="a gold member paying nothing this month stays gold"),
        pytest.param("gold", 300000, 5000, "active", "gold", "held", id="a gold member whose month meets only silver's 50 stays gold"),
        pytest.param("diamond", 2000000, 199999, "active", "diamond", "held", id="a diamond member paying 1999.99 this month stays diamond"),
        pytest.param("platinum", 900000, 100000, "active", "platinum", "held", id="a platinum member below 10000 cumulative stays platinum"),
        pytest.param("gold", 1000000, 100000, "active", "platinum", "raised", id="a gold member meeting 10000 and 1000 rises to platinum"),
        pytest.param("silver", 2000000, 200000, "active", "diamond", "raised", id="a silver member meeting 20000 and 2000 rises to diamond"),
        pytest.param("gold", 999999, 100000, "active", "gold", "unchanged", id="9999.99 cumulative is still gold, not platinum"),
        pytest.param(None, 100000, 5000, "active", "silver", "new", id="1000 cumulative and 50 this month make a new silver member"),
        pytest.param("gold", 300000, 0, "cancelled", "ordinary", "ended", id="a gold member who leaves loses the level at once"),
    ],
)  # fmt: skip
def test_c5_membership_levels_never_fall_while_the_customer_stays(
    held: str | None, cumulative: int, month_paid: int, status: str, level: str, change: str
) -> None:
    # rule C5 (rule T4.1): S2–9 "即可升级" are upgrade rules; policy data downgrade = false.
    current = (
        None
        if held is None
        else assignment("membership", held, "2026-06-01", None, policy="unicom-cumulative")
    )
    ev = run(PCUM, RUN, sub(status=status), history(cumulative, month_paid), current)
    assert (ev.level, ev.change) == (level, change)
    if change == "held":
        assert ev.effective_from == d("2026-06-01")  # nothing new to store
        assert not ev.changed
        assert ev.computed_level != level
    if change in ("raised", "new"):
        assert ev.effective_from == d("2026-12-01")
    assert "C5" in ev.explanation.rules or change == "ended"
    assert PCUM.rating.validity.downgrade is False


def test_next_step_names_what_is_missing() -> None:
    # rule T4.1
    ev = run(PCUM, RUN, sub(), history(250000, 60000))
    assert ev.level == "silver"
    assert ev.explanation.next == {
        "level": "gold",
        "cumulative_yuan": "3000.00",
        "cumulative_yuan_more": "500.00",
        "month_paid_yuan": "500.00",
    }
