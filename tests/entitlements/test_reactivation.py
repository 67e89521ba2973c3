"""R1–R12 — emergency reactivation, temporary credit and the refusal codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from entitlements.errors import InvalidAmount
from entitlements.model import Tier
from entitlements.policy import load_policy
from entitlements.reactivation import (
    REFUSAL_CODES,
    AccountState,
    decide_credit,
    decide_reactivation,
)
from tests.entitlements.helpers import P2015

NOW = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)


def account(
    payment_mode: str = "postpaid",
    status: str = "suspended",
    arrears: int = 1,
    grants: int = 0,
    unpaid: bool = False,
    service_type: str = "mobile",
) -> AccountState:
    """A suspended postpaid mobile account one month in arrears."""
    return AccountState(service_type, payment_mode, status, arrears, grants, unpaid)


GOLD = Tier("vip_card", "gold")


@pytest.mark.parametrize(
    ("tier", "acct", "verified", "code"),
    [
        pytest.param(
            GOLD, account(arrears=2), True, "arrears_too_long",
            id="gold in arrears for two months gets no reactivation",
        ),
        pytest.param(
            GOLD, account(arrears=5), True, "arrears_too_long",
            id="gold in arrears for five months gets no reactivation",
        ),
        pytest.param(
            GOLD, account(unpaid=True), True, "previous_unpaid",
            id="gold who has not paid after the last reactivation gets no other",
        ),
        pytest.param(
            GOLD, account(grants=1), True, "monthly_limit",
            id="a second reactivation in the same month is refused",
        ),
        pytest.param(
            GOLD, account(status="active"), True, "not_suspended",
            id="a customer who is not suspended needs no reactivation",
        ),
        pytest.param(
            Tier("star", "two_star"), account(), True, "not_entitled",
            id="two-star has no emergency reactivation",
        ),
        pytest.param(
            Tier("star", "one_star"), account(), True, "not_entitled",
            id="one-star has no emergency reactivation",
        ),
        pytest.param(
            Tier("star", "unrated"), account(), True, "not_entitled",
            id="an unrated customer has no emergency reactivation",
        ),
        pytest.param(
            Tier("vip_card", "none"), account(), True, "not_entitled",
            id="a customer without a card has no emergency reactivation",
        ),
        pytest.param(
            GOLD, account(service_type="fixed"), True, "not_entitled",
            id="a fixed line has no mobile emergency reactivation",
        ),
        pytest.param(
            GOLD, account(), False, "identity_not_verified",
            id="an unverified caller is refused",
        ),
        pytest.param(
            GOLD, account(status="cancelled"), True, "cancelled",
            id="a cancelled number is refused",
        ),
        pytest.param(None, account(), True, "unknown_subscriber", id="an unknown caller"),
        pytest.param(GOLD, None, True, "unknown_subscriber", id="a number without an account"),
    ],
)  # fmt: skip
def test_refusals(tier: Tier | None, acct: AccountState | None, verified: bool, code: str) -> None:
    # rule R1, rule R2, rule R3, rule R7, rule R8, rule R9
    decision = decide_reactivation(P2015, tier, acct, verified)
    assert not decision.eligible
    assert decision.code == code
    assert decision.mode is None
    assert decision.rules


@pytest.mark.parametrize(
    ("tier", "limit_fen", "days"),
    [
        pytest.param(Tier("vip_card", "diamond"), 30000, 5, id="diamond prepaid gets 300 for 5 days"),
        pytest.param(Tier("vip_card", "gold"), 10000, 3, id="gold prepaid gets 100 for 3 days"),
        pytest.param(Tier("vip_card", "silver"), 5000, 2, id="silver prepaid gets 50 for 2 days"),
        pytest.param(Tier("star", "five_star"), 30000, 5, id="five-star gets diamond terms"),
        pytest.param(Tier("star", "vip_guest"), 30000, 5, id="a VIP guest gets diamond terms"),
        pytest.param(Tier("star", "four_star"), 10000, 3, id="four-star gets gold terms"),
        pytest.param(Tier("star", "loyal"), 10000, 3, id="loyal gets gold terms"),
        pytest.param(Tier("star", "three_star"), 5000, 2, id="three-star gets silver terms"),
    ],
)
def test_prepaid_grants_reactivation_and_temporary_credit(tier: Tier, limit_fen: int, days: int) -> None:
    # rule R4 (and rule R1: the levels with "emergency reactivation: yes" in E)
    decision = decide_reactivation(P2015, tier, account(payment_mode="prepaid"), True)
    assert decision.eligible and decision.code is None
    assert decision.mode == "prepaid_credit"
    assert (decision.credit_limit_fen, decision.days, decision.hours) == (limit_fen, days, None)
    assert "R4" in decision.rules
    assert decision.expires_at(NOW) == NOW + timedelta(days=days)


def test_prepaid_arrears_do_not_block_reactivation() -> None:
    # rule R7: the arrears limit is for postpaid customers.
    decision = decide_reactivation(P2015, GOLD, account(payment_mode="prepaid", arrears=3), True)
    assert decision.eligible


@pytest.mark.parametrize(
    "tier",
    [
        pytest.param(Tier("vip_card", "diamond"), id="diamond postpaid gets 48 hours"),
        pytest.param(Tier("vip_card", "silver"), id="silver postpaid gets 48 hours"),
        pytest.param(Tier("star", "three_star"), id="three-star postpaid gets 48 hours"),
    ],
)
def test_postpaid_grants_48_hours(tier: Tier) -> None:
    # rule R6
    decision = decide_reactivation(P2015, tier, account(), True)
    assert decision.eligible
    assert decision.mode == "postpaid_48h"
    assert (decision.hours, decision.credit_limit_fen, decision.days) == (48, None, None)
    assert decision.expires_at(NOW) == NOW + timedelta(hours=48)


def test_postpaid_one_month_in_arrears_is_still_served() -> None:
    # rule R7: two or more months block; one does not.
    assert decide_reactivation(P2015, GOLD, account(arrears=1), True).eligible


def test_suspended_without_arrears_is_not_reactivated() -> None:
    # rule H6: both arrears and suspension (S197: 欠费且已经停机)
    for mode in ("postpaid", "prepaid"):
        decision = decide_reactivation(P2015, GOLD, account(arrears=0, payment_mode=mode), True)
        assert not decision.eligible and decision.code == "not_in_arrears" and decision.rules == ("H6",)


def test_a_stopped_number_is_not_suspended() -> None:
    # rule H6: an emergency stop (H5) is no suspension
    decision = decide_reactivation(P2015, GOLD, account(status="stopped"), True)
    assert decision.code == "not_suspended" and "H6" in decision.rules


def test_a_postpaid_grant_creates_a_work_order() -> None:
    # rule R10
    postpaid = decide_reactivation(P2015, GOLD, account(), True)
    prepaid = decide_reactivation(P2015, GOLD, account(payment_mode="prepaid"), True)
    refused = decide_reactivation(P2015, GOLD, account(arrears=2), True)
    assert postpaid.creates_work_order
    assert not prepaid.creates_work_order
    assert not refused.creates_work_order
    assert "R10" in postpaid.rules


def test_every_decision_has_a_reason() -> None:
    # rule R11: granted or refused, every decision returns a reason code or a mode, and rules.
    for tier in (GOLD, Tier("star", "two_star"), None):
        for acct in (account(), account(arrears=2), account(payment_mode="prepaid"), None):
            for verified in (True, False):
                decision = decide_reactivation(P2015, tier, acct, verified)
                assert decision.rules
                assert (decision.code is None) is decision.eligible
                assert (decision.mode is not None) is decision.eligible


@pytest.mark.parametrize(
    ("tier", "acct", "verified", "code"),
    [
        pytest.param(
            Tier("star", "two_star"), account(status="active"), False, "identity_not_verified",
            id="identity is checked before anything about the account",
        ),
        pytest.param(
            Tier("star", "two_star"), account(status="cancelled"), True, "cancelled",
            id="cancellation is reported before entitlement",
        ),
        pytest.param(
            Tier("star", "two_star"), account(status="active"), True, "not_entitled",
            id="entitlement is checked before suspension",
        ),
        pytest.param(
            GOLD, account(grants=1, arrears=3, unpaid=True), True, "monthly_limit",
            id="the monthly limit is checked before arrears",
        ),
        pytest.param(
            GOLD, account(arrears=3, unpaid=True), True, "arrears_too_long",
            id="arrears are checked before an unpaid earlier grant",
        ),
    ],
)  # fmt: skip
def test_check_order(tier: Tier, acct: AccountState, verified: bool, code: str) -> None:
    # rule R9, rule R1, rule R2, rule R3, rule R7, rule R8: a documented order of checks.
    assert decide_reactivation(P2015, tier, acct, verified).code == code


def test_refusal_codes_are_the_contract_vocabulary() -> None:
    # rule R11
    assert set(REFUSAL_CODES) == {
        "not_entitled", "not_suspended", "monthly_limit", "arrears_too_long",
        "previous_unpaid", "identity_not_verified", "cancelled", "unknown_subscriber",
        "not_in_arrears",
    }  # fmt: skip


PROVINCE_R12 = """
[reactivation.terms.five_star_twice]
rule = "R12"
per_month = 2
credit_yuan = "300.00"
days = 5
hours = 48

[reactivation.terms.four_star_twice]
rule = "R12"
per_month = 2
credit_yuan = "30.00"
days = 3
hours = 48

[reactivation.terms.three_star_once]
rule = "R12"
per_month = 1
credit_yuan = "10.00"
days = 1
hours = 24

[reactivation.levels.star]
five_star = "five_star_twice"
vip_guest = "five_star_twice"
four_star = "four_star_twice"
loyal = "four_star_twice"
three_star = "three_star_once"
"""


def test_terms_are_per_tier_policy_data(tmp_path: Path) -> None:
    # rule R12: five-star twice a month for 5 days; four-star twice, 3 days, +30 yuan;
    # three-star once, 24 h, +10 yuan.
    override = tmp_path / "province.toml"
    override.write_text(PROVINCE_R12, "utf-8")
    policy = load_policy("unicom-2015", override)
    five = Tier("star", "five_star")
    four = Tier("star", "four_star")
    three = Tier("star", "three_star")
    assert decide_reactivation(policy, five, account(grants=1), True).eligible
    assert decide_reactivation(policy, five, account(grants=2), True).code == "monthly_limit"
    prepaid_four = decide_reactivation(policy, four, account(payment_mode="prepaid"), True)
    assert (prepaid_four.credit_limit_fen, prepaid_four.days) == (3000, 3)
    postpaid_three = decide_reactivation(policy, three, account(), True)
    assert postpaid_three.hours == 24
    assert decide_reactivation(policy, three, account(grants=1), True).code == "monthly_limit"


# ------------------------------------------------------------------------- R5

EXPIRES = NOW + timedelta(days=2)


@pytest.mark.parametrize(
    ("limit", "used", "expires", "amount", "approved", "remaining", "code"),
    [
        pytest.param(None, 0, None, 100, False, 0, "no_credit", id="no grant means no credit"),
        pytest.param(5000, 0, EXPIRES, 3000, True, 2000, None, id="30 of 50 leaves 20"),
        pytest.param(5000, 3000, EXPIRES, 2000, True, 0, None, id="a charge may use the rest"),
        pytest.param(
            5000, 3000, EXPIRES, 2001, False, 2000, "credit_exhausted",
            id="a charge larger than what is left is declined without ending the credit",
        ),
        pytest.param(
            5000, 5000, EXPIRES, 1, False, 0, "credit_exhausted",
            id="a used-up credit declines every charge",
        ),
        pytest.param(
            5000, 0, NOW, 100, False, 0, "credit_expired", id="at its expiry the credit has ended"
        ),
        pytest.param(
            5000, 0, NOW + timedelta(seconds=1), 100, True, 4900, None,
            id="a second before expiry it still serves",
        ),
        pytest.param(5000, 0, None, 5000, True, 0, None, id="no expiry means no time limit"),
    ],
)  # fmt: skip
def test_credit_ends_when_either_limit_is_reached(
    limit: int | None,
    used: int,
    expires: datetime | None,
    amount: int,
    approved: bool,
    remaining: int,
    code: str | None,
) -> None:
    # rule R5
    decision = decide_credit(limit, used, expires, amount, NOW)
    assert (decision.approved, decision.remaining_fen, decision.code) == (
        approved,
        remaining,
        code,
    )


def test_after_a_declined_charge_a_smaller_one_uses_the_rest() -> None:
    # rule R5
    assert decide_credit(5000, 4000, EXPIRES, 1500, NOW).code == "credit_exhausted"
    assert decide_credit(5000, 4000, EXPIRES, 1000, NOW).approved


@pytest.mark.parametrize("amount", [0, -1], ids=["a zero charge", "a negative charge"])
def test_charges_are_positive(amount: int) -> None:
    # rule R5
    with pytest.raises(InvalidAmount):
        decide_credit(5000, 0, EXPIRES, amount, NOW)
