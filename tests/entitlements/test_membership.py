"""T4 — cumulative-spend membership (policy unicom-cumulative)."""

from __future__ import annotations

import pytest

from entitlements.model import BillHistory
from tests.entitlements.helpers import PCUM, bills, d, run, sub

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


def test_monthly_levels_replace_each_other_from_the_next_month() -> None:
    # rule T4.1 [assumption: recomputed monthly, effective the 1st of the next month]
    from tests.entitlements.helpers import assignment

    current = assignment("membership", "gold", "2026-11-01", None, policy="unicom-cumulative")
    up = run(PCUM, RUN, sub(), history(2000000, 200000), current)
    down = run(PCUM, RUN, sub(), history(300000, 0), current)
    same = run(PCUM, RUN, sub(), history(300000, 50000), current)
    assert (up.level, up.change, up.effective_from) == ("diamond", "raised", d("2026-12-01"))
    assert (down.level, down.change) == ("ordinary", "lowered")
    assert (same.level, same.change, same.effective_from) == ("gold", "unchanged", d("2026-11-01"))


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
