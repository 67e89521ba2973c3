"""T2 — China Unicom legacy VIP cards (policy unicom-vip)."""

from __future__ import annotations

import pytest

from entitlements.model import LEVELS, BillHistory
from entitlements.tiers import tier_in_force
from tests.entitlements.helpers import PVIP, bills, card, d, flat, run, sub

RUN = "2026-11-06"
M = "2026-11"


def six(avg_fen: int) -> BillHistory:
    """Six months at ``avg_fen`` before 2026-11 (and a big bill before them)."""
    return bills(M, [10**8, *([avg_fen] * 6)], months=7)


# ------------------------------------------------------------------------- T2.1


@pytest.mark.parametrize(
    ("billed", "level"),
    [
        pytest.param([15000] * 6, "silver", id="an average of 150.00 is silver"),
        pytest.param([14999] * 6, "none", id="an average of 149.99 is no card"),
        pytest.param([15000] * 5 + [14999], "none", id="149.998 is below 150 in exact cents (no rounding)"),
        pytest.param([15001] * 5 + [14995], "silver", id="exactly 900.00 over 6 months is silver"),
        pytest.param([29999] * 6, "silver", id="299.99 is silver"),
        pytest.param([30000] * 6, "gold", id="300.00 is gold"),
        pytest.param([44999] * 6, "gold", id="449.99 is gold"),
        pytest.param([45000] * 6, "diamond", id="450.00 is diamond"),
        pytest.param([0] * 5 + [90000], "silver", id="one 900-yuan month averages 150 over six"),
        pytest.param([None] * 5 + [90000], "silver", id="missing bill rows count as 0"),
    ],
)
def test_mobile_bands(billed: list[int | None], level: str) -> None:
    # rule T2.1
    ev = run(PVIP, RUN, sub(), bills(M, [10**8, *billed], months=7))
    assert ev.computed_level == level
    assert ev.explanation.figures["n_months"] == 6
    assert ev.explanation.figures["months"] == "2026-05..2026-10"
    assert "T2.1" in ev.explanation.rules


def test_average_is_shown_without_rounding_up() -> None:
    # rule T2.1: exact cents; the shown average never crosses a bound the exact one misses.
    ev = run(PVIP, RUN, sub(), bills(M, [15000] * 5 + [14999]))
    assert ev.explanation.figures["average_yuan"] == "149.99"


def test_a_new_user_averages_over_six_months() -> None:
    # rule T2.1: a plain 6-month average; months before joining count as 0 [assumption].
    ev = run(PVIP, RUN, sub("2026-09-10"), bills(M, [45000, 45000]))
    assert ev.computed_level == "silver"
    assert ev.explanation.figures["average_yuan"] == "150.00"


# ------------------------------------------------------------------------- T2.2


@pytest.mark.parametrize(
    ("service_type", "avg_fen", "level"),
    [
        pytest.param("fixed", 15000, "gold", id="a fixed line averaging 150.00 is gold"),
        pytest.param("fixed", 14999, "none", id="a fixed line averaging 149.99 has no card"),
        pytest.param("fixed", 29999, "gold", id="a fixed line averaging 299.99 is gold"),
        pytest.param("fixed", 30000, "diamond", id="a fixed line averaging 300.00 is diamond"),
        pytest.param("broadband", 15000, "gold", id="broadband averaging 150.00 is gold"),
        pytest.param("broadband", 30000, "diamond", id="broadband averaging 300.00 is diamond"),
        pytest.param("broadband", 10000, "none", id="there is no silver for broadband"),
    ],
)
def test_fixed_and_broadband_bands(service_type: str, avg_fen: int, level: str) -> None:
    # rule T2.2
    s = sub(service_type=service_type, network=None)
    ev = run(PVIP, RUN, s, six(avg_fen))
    assert ev.computed_level == level
    assert "T2.2" in ev.explanation.rules


# ------------------------------------------------------------------------- T2.3


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"payment_mode": "prepaid"}, id="prepaid users are excluded"),
        pytest.param({"flags": ["public_free"]}, id="public-free numbers are excluded"),
        pytest.param({"flags": ["test"]}, id="test numbers are excluded"),
        pytest.param({"flags": ["data_card"]}, id="wireless data cards are excluded"),
        pytest.param({"flags": ["wo_family"]}, id="wo family-plan members are excluded"),
        pytest.param({"flags": ["employee_2g"], "network": "2g"}, id="2G employee plans are excluded"),
        pytest.param({"flags": ["sms_card_2g"], "network": "2g"}, id="2G SMS cards are excluded"),
        pytest.param({"flags": ["high_data_2g"], "network": "2g"}, id="2G high-data plans are excluded"),
        pytest.param({"flags": ["public_phone"]}, id="public-phone plans are excluded"),
    ],
)
def test_exclusions(kwargs: dict[str, object]) -> None:
    # rule T2.3
    ev = run(PVIP, RUN, sub(**kwargs), six(60000))  # type: ignore[arg-type]  # test data
    assert (ev.level, ev.change, ev.rated) == ("none", "not_rated", False)
    assert ev.explanation.rules[0] == "T2.3"


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"flags": ["employee"]}, id="an employee outside a 2G employee plan is rated"),
        pytest.param({"flags": ["group"]}, id="a group customer's user is rated"),
    ],
)
def test_not_excluded(kwargs: dict[str, object]) -> None:
    # rule T2.3
    ev = run(PVIP, RUN, sub(**kwargs), six(60000))  # type: ignore[arg-type]  # test data
    assert ev.computed_level == "diamond"


# ------------------------------------------------------------------------- T2.4


def test_evaluated_after_billing_closes_over_the_closed_months() -> None:
    # rule T2.4: the run after billing closes (~5th) averages the months before M.
    ev = run(PVIP, RUN, sub(), six(30000))
    assert "T2.4" in ev.explanation.rules
    assert ev.explanation.figures["months"] == "2026-05..2026-10"
    assert "before_billing_close" not in ev.explanation.notes


def test_a_run_before_billing_closes_is_flagged() -> None:
    # rule T2.4
    ev = run(PVIP, "2026-11-03", sub(), six(30000))
    assert "before_billing_close" in ev.explanation.notes


# ------------------------------------------------------------------------- T2.5


@pytest.mark.parametrize(
    ("run_date", "until"),
    [
        pytest.param("2012-03-05", "2013-03-08", id="granted 2012-03-05 expires 2013-03-08"),
        pytest.param("2026-11-06", "2027-11-08", id="granted 2026-11-06 expires 2027-11-08"),
        pytest.param("2026-11-30", "2027-11-08", id="granted on the 30th still expires the 8th"),
        pytest.param("2027-02-05", "2028-02-08", id="granted in February expires the 8th"),
    ],
)
def test_first_grant_expires_on_the_8th_a_year_later(run_date: str, until: str) -> None:
    # rule T2.5
    month = run_date[:7]
    ev = run(PVIP, run_date, sub("2008-01-01"), flat(month, 30000))
    assert (ev.level, ev.change) == ("gold", "new")
    assert ev.effective_from == d(run_date)
    assert ev.valid_until == d(until)
    assert ev.valid_until is not None and ev.valid_until.day == 8


@pytest.mark.parametrize(
    ("avg_fen", "level", "change", "effective", "until"),
    [
        pytest.param(
            30000,
            "gold",
            "renewed",
            "2013-01-09",
            "2014-01-08",
            id="renewed for 2013-01…2013-12, expiring 2014-01-08",
        ),
        pytest.param(
            15000,
            "silver",
            "lowered",
            "2013-01-09",
            "2014-01-08",
            id="lowered at re-evaluation from the day after expiry",
        ),
        pytest.param(
            10000,
            "none",
            "expired",
            "2013-01-09",
            None,
            id="no card at re-evaluation: the card expires",
        ),
        pytest.param(
            45000,
            "diamond",
            "raised",
            "2012-12-05",
            "2013-12-08",
            id="a rise at re-evaluation is effective at once and restarts the 12 months (C4)",
        ),
    ],
)
def test_renewal_in_the_month_before_expiry(
    avg_fen: int, level: str, change: str, effective: str, until: str | None
) -> None:
    # rule T2.5
    current = card("gold", "2012-01-05", "2013-01-08")
    ev = run(PVIP, "2012-12-05", sub("2008-01-01"), flat("2012-12", avg_fen), current)
    assert (ev.level, ev.change) == (level, change)
    assert ev.effective_from == d(effective)
    assert ev.valid_until == (None if until is None else d(until))


def test_re_evaluation_is_not_earlier_than_the_month_before_expiry() -> None:
    # rule T2.5: in 2012-11 a card expiring 2013-01-08 is still within validity.
    current = card("gold", "2012-01-05", "2013-01-08")
    ev = run(PVIP, "2012-11-05", sub("2008-01-01"), flat("2012-11", 15000), current)
    assert (ev.level, ev.change) == ("gold", "held")


def test_the_old_card_serves_until_its_expiry_day() -> None:
    # rule T2.5: the renewal starts the day after the old card's expiry, no gap, no overlap.
    current = card("gold", "2012-01-05", "2013-01-08")
    ev = run(PVIP, "2012-12-05", sub("2008-01-01"), flat("2012-12", 15000), current)
    lowered = ev.assignment()
    assert tier_in_force([current, lowered], d("2013-01-08")) == current
    assert tier_in_force([current, lowered], d("2013-01-09")) == lowered


# ------------------------------------------------------------------------- T2.6


@pytest.mark.parametrize(
    "old_expiry",
    [
        pytest.param("2012-06-08", id="silver from 2011-06-01 (expiring the 8th) rises to gold"),
        pytest.param("2012-06-01", id="the source's literal 2012-06-01 expiry gives the same"),
    ],
)
def test_silver_evaluated_gold_on_2012_03_05(old_expiry: str) -> None:
    # rule T2.6: silver from 2011-06-01, evaluated gold on 2012-03-05 → gold until 2013-03-08.
    current = card("silver", "2011-06-01", old_expiry)
    ev = run(PVIP, "2012-03-05", sub("2008-01-01"), flat("2012-03", 30000), current)
    assert (ev.level, ev.change, ev.previous_level) == ("gold", "raised", "silver")
    assert ev.effective_from == d("2012-03-05")
    assert ev.valid_until == d("2013-03-08")
    assert "T2.6" in ev.explanation.rules


@pytest.mark.parametrize(
    ("held", "run_date", "avg_fen", "level", "change", "effective", "until"),
    [
        pytest.param(("silver", "2012-03-05", "2013-03-08"), "2013-02-05", 30000, "gold", "raised", "2013-02-05", "2014-02-08", id="silver expiring 2013-03-08 raised to gold on 2013-02-05 expires 2014-02-08"),
        pytest.param(("silver", "2012-03-05", "2013-03-08"), "2013-02-05", 15000, "silver", "renewed", "2013-03-09", "2014-03-08", id="the same silver renewed on 2013-02-05 expires 2014-03-08"),
        pytest.param(("silver", "2012-03-05", "2013-03-08"), "2012-12-05", 30000, "gold", "raised", "2012-12-05", "2013-12-08", id="silver raised to gold on 2012-12-05 expires 2013-12-08"),
        pytest.param(("silver", "2011-06-01", "2012-06-08"), "2012-03-05", 30000, "gold", "raised", "2012-03-05", "2013-03-08", id="silver from 2011-06-01 raised to gold on 2012-03-05 expires 2013-03-08"),
        pytest.param(("gold", "2012-03-05", "2013-03-08"), "2013-02-05", 45000, "diamond", "raised", "2013-02-05", "2014-02-08", id="gold raised to diamond in its re-evaluation month restarts from the rise"),
    ],
)  # fmt: skip
def test_c4_a_rise_restarts_the_12_months_from_the_rise(
    held: tuple[str, str, str],
    run_date: str,
    avg_fen: int,
    level: str,
    change: str,
    effective: str,
    until: str,
) -> None:
    # rule C4 (rule T2.6, rule T2.5): S108 "从新级别晋升之日重新计算会员有效期".
    ev = run(PVIP, run_date, sub("2008-01-01"), flat(run_date[:7], avg_fen), card(*held))
    assert (ev.level, ev.change, ev.previous_level) == (level, change, held[0])
    assert (ev.effective_from, ev.valid_until) == (d(effective), d(until))
    assert ("T2.6" in ev.explanation.rules) is (change == "raised")


def test_within_validity_a_card_never_falls() -> None:
    # rule T2.6
    current = card("gold", "2012-03-05", "2013-03-08")
    ev = run(PVIP, "2012-06-05", sub("2008-01-01"), flat("2012-06", 0), current)
    assert (ev.level, ev.change) == ("gold", "held")
    assert ev.valid_until == d("2013-03-08")


# ------------------------------------------------------------------------- T2.7


def test_cancellation_ends_the_card_at_once() -> None:
    # rule T2.7
    current = card("diamond", "2026-03-05", "2027-03-08")
    ev = run(PVIP, RUN, sub(status="cancelled"), six(60000), current)
    assert (ev.level, ev.change) == ("none", "ended")
    assert ev.effective_from == d(RUN)
    assert "T2.7" in ev.explanation.rules
    assert tier_in_force([current, ev.assignment()], d(RUN)) == ev.assignment()


# ------------------------------------------------------------------------- T2.8


@pytest.mark.parametrize(
    ("flags", "avg_fen", "level"),
    [
        pytest.param(["group"], 100000, "supreme", id="a group customer at 1000.00 is supreme"),
        pytest.param(["group"], 99999, "diamond", id="a group customer at 999.99 is diamond"),
        pytest.param([], 500000, "diamond", id="supreme exists only for group customers"),
    ],
)
def test_supreme_card(flags: list[str], avg_fen: int, level: str) -> None:
    # rule T2.8
    ev = run(PVIP, RUN, sub(flags=flags), six(avg_fen))
    assert ev.computed_level == level
    if level == "supreme":
        assert "T2.8" in ev.explanation.rules


def test_supreme_is_above_diamond() -> None:
    # rule T2.8
    assert LEVELS["vip_card"][:2] == ("supreme", "diamond")
