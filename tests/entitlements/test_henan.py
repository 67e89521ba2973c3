"""T3 — Henan Unicom 2011 VIP cards (policy unicom-henan-2011)."""

from __future__ import annotations

import pytest

from entitlements.benefits import benefits, entitlement_codes
from entitlements.model import Assignment, BillHistory
from entitlements.reactivation import AccountState, decide_reactivation
from entitlements.routing import route
from tests.entitlements.helpers import PHENAN, bills, card, d, run, sub

RUN = "2026-11-06"
M = "2026-11"


def six(avg_fen: int) -> BillHistory:
    """Six months at ``avg_fen`` before 2026-11."""
    return bills(M, [avg_fen] * 6)


def held_card(level: str, until: str = "2027-05-08") -> Assignment:
    """A card granted 2026-05-06 under the Henan policy."""
    return card(level, "2026-05-06", until, policy="unicom-henan-2011")


# ------------------------------------------------------------------------- T3.1


@pytest.mark.parametrize(
    ("network", "avg_fen", "level"),
    [
        pytest.param("3g", 50000, "diamond", id="a 3G user averaging 500.00 is diamond"),
        pytest.param("3g", 49999, "gold", id="a 3G user averaging 499.99 is gold"),
        pytest.param("3g", 30000, "gold", id="a 3G user averaging 300.00 is gold"),
        pytest.param("3g", 29999, "silver", id="a 3G user averaging 299.99 is silver"),
        pytest.param("3g", 15000, "silver", id="a 3G user averaging 150.00 is silver"),
        pytest.param("3g", 14999, "none", id="a 3G user averaging 149.99 has no card"),
        pytest.param("2g", 20000, "silver", id="a 2G user averaging 200.00 is silver"),
        pytest.param("2g", 19999, "none", id="a 2G user averaging 199.99 has no card"),
        pytest.param("2g", 15000, "none", id="a 2G user averaging 150.00 has no card"),
        pytest.param("4g", 15000, "silver", id="a 4G user counts as 3G for silver"),
        pytest.param(None, 20000, "silver", id="a fixed line averaging 200.00 is silver"),
        pytest.param(None, 19999, "none", id="a fixed line averaging 199.99 has no card"),
    ],
)
def test_bands(network: str | None, avg_fen: int, level: str) -> None:
    # rule T3.1
    s = sub(network=network, service_type="mobile" if network else "fixed")
    ev = run(PHENAN, RUN, s, six(avg_fen))
    assert ev.computed_level == level
    assert "T3.1" in ev.explanation.rules


@pytest.mark.parametrize(
    ("joined", "rated"),
    [
        pytest.param("2026-05-20", True, id="rated after 6 months in the network (month 7)"),
        pytest.param("2026-06-01", False, id="not rated in month 6"),
    ],
)
def test_rated_after_six_months(joined: str, rated: bool) -> None:
    # rule T3.1
    ev = run(PHENAN, RUN, sub(joined, network="3g"), six(60000))
    assert ev.rated is rated
    assert ev.level == ("diamond" if rated else "none")


# ------------------------------------------------------------------------- T3.2


@pytest.mark.parametrize(
    ("lucky_class", "level"),
    [
        pytest.param(1, "diamond", id="a class 1 lucky number (AAAAA) is diamond at joining"),
        pytest.param(2, "diamond", id="a class 2 lucky number (AAAA, ABCDE) is diamond at joining"),
        pytest.param(3, "gold", id="a class 3 lucky number (ABCD, AAA) is gold at joining"),
    ],
)
def test_lucky_numbers_at_joining(lucky_class: int, level: str) -> None:
    # rule T3.2
    s = sub("2026-11-02", network="3g", lucky_class=lucky_class)
    ev = run(PHENAN, RUN, s, bills(M, []))
    assert (ev.level, ev.change) == (level, "new")
    assert ev.effective_from == d(RUN)
    assert "T3.2" in ev.explanation.rules


def test_without_the_commitment_the_normal_rule_applies_after_six_months() -> None:
    # rule T3.2: no lucky_class in the import = no deposit / minimum spend in force.
    young = run(PHENAN, RUN, sub("2026-09-02", network="3g"), bills(M, [90000, 90000]))
    assert (young.level, young.change) == ("none", "not_rated")


def test_a_lucky_number_with_higher_spend_gets_the_higher_card() -> None:
    # rule T3.2 with rule T3.1: the better of the lucky card and the spend card.
    s = sub("2025-01-10", network="3g", lucky_class=3)
    ev = run(PHENAN, RUN, s, six(60000))
    assert ev.computed_level == "diamond"


# ------------------------------------------------------------------------- T3.3


@pytest.mark.parametrize(
    ("plan", "level"),
    [
        pytest.param(586, "diamond", id="contract plan 586 is diamond at joining"),
        pytest.param(886, "diamond", id="contract plan 886 (above 586) is diamond"),
        pytest.param(386, "gold", id="contract plan 386 is gold at joining"),
        pytest.param(156, "silver", id="contract plan 156 is silver at joining"),
        pytest.param(186, "silver", id="contract plan 186 is silver at joining"),
        pytest.param(226, "silver", id="contract plan 226 is silver at joining"),
        pytest.param(286, "silver", id="contract plan 286 is silver at joining"),
        pytest.param(96, "none", id="contract plan 96 gives no card"),
        pytest.param(400, "none", id="contract plan 400 is not in the table"),
    ],
)
def test_contract_plans_at_joining(plan: int, level: str) -> None:
    # rule T3.3
    s = sub("2026-11-02", network="3g", contract_plan=plan)
    ev = run(PHENAN, RUN, s, bills(M, []))
    assert ev.level == level
    if level != "none":
        assert ev.change == "new"
        assert "T3.3" in ev.explanation.rules
    else:
        assert ev.change == "not_rated"


# ------------------------------------------------------------------------- T3.4


def test_migration_to_a_higher_contract_card_takes_it_at_once() -> None:
    # rule T3.4: the new plan's card is higher → it replaces the old 2G card at once.
    s = sub("2015-03-01", network="3g", contract_plan=586)
    ev = run(PHENAN, RUN, s, six(20000), held_card("gold"))
    assert (ev.level, ev.change) == ("diamond", "raised")
    assert ev.effective_from == d(RUN)
    assert ev.valid_until == d("2027-11-08")
    assert "T3.4" in ev.explanation.rules
    assert "migration" in ev.explanation.notes


def test_migration_to_a_lower_contract_card_keeps_the_old_card() -> None:
    # rule T3.4: a lower new card keeps the old one until it expires.
    s = sub("2015-03-01", network="3g", contract_plan=156)
    ev = run(PHENAN, RUN, s, six(10000), held_card("gold"))
    assert (ev.level, ev.change) == ("gold", "held")
    assert ev.valid_until == d("2027-05-08")
    assert "T3.4" in ev.explanation.rules


def test_after_the_old_card_the_contract_card_is_rated() -> None:
    # rule T3.4: at the old card's re-evaluation the higher of contract and spend decides.
    s = sub("2015-03-01", network="3g", contract_plan=156)
    current = held_card("gold", until="2026-12-08")
    ev = run(PHENAN, RUN, s, six(10000), current)
    assert (ev.level, ev.change) == ("silver", "lowered")
    assert ev.effective_from == d("2026-12-09")


# ------------------------------------------------------------------------- T3.5


def test_a_new_card_counts_as_this_months_new_vip() -> None:
    # rule T3.5: evaluated at the start of the month, issued before the month ends.
    ev = run(PHENAN, RUN, sub(network="3g"), six(30000))
    assert ev.change == "new"
    assert "T3.5" in ev.explanation.rules
    assert ev.effective_from.month == 11


# ------------------------------------------------------------------------- T3.6


@pytest.mark.parametrize(
    ("kwargs", "rated"),
    [
        pytest.param({"flags": ["data_card"]}, False, id="wireless data cards are excluded"),
        pytest.param({"flags": ["public_free"]}, False, id="public-free numbers are excluded"),
        pytest.param({"flags": ["test"]}, False, id="test cards are excluded"),
        pytest.param({"flags": ["employee"]}, False, id="employee cards are excluded"),
        pytest.param({"flags": ["wo_family"]}, False, id="converged wo-family customers are left out"),
        pytest.param({"payment_mode": "prepaid"}, True, id="prepaid users are not excluded"),
        pytest.param({"flags": ["group"]}, True, id="a group customer's individual user is rated"),
        pytest.param({"service_type": "fixed", "network": None}, True, id="individual fixed lines are rated"),
        pytest.param(
            {"service_type": "broadband", "network": None},
            True,
            id="individual broadband users are rated too (C2: the fixed network)",
        ),
    ],
)
def test_who_is_rated(kwargs: dict[str, object], rated: bool) -> None:
    # rule T3.6
    ev = run(PHENAN, RUN, sub(**kwargs), six(60000))  # type: ignore[arg-type]  # test data
    assert ev.rated is rated
    if not rated:
        assert (ev.level, ev.change) == ("none", "not_rated")
        assert "T3.6" in ev.explanation.rules


# ------------------------------------------------------------------------- C1


@pytest.mark.parametrize(
    ("network", "lucky_class", "plan", "joined", "avg_fen", "level"),
    [
        pytest.param("3g", 1, None, "2026-11-02", 0, "diamond", id="a 3G user with a class 1 lucky number is diamond at joining"),
        pytest.param("3g", 3, None, "2026-11-02", 0, "gold", id="a 3G user with a class 3 lucky number is gold at joining"),
        pytest.param("2g", 1, None, "2026-11-02", 0, "none", id="a 2G user with a class 1 lucky number gets no card at joining"),
        pytest.param("4g", 2, None, "2026-11-02", 0, "none", id="a 4G user with a class 2 lucky number gets no card at joining"),
        pytest.param("5g", 3, None, "2026-11-02", 0, "none", id="a 5G user with a class 3 lucky number gets no card at joining"),
        pytest.param("2g", 1, None, "2025-01-10", 20000, "silver", id="a 2G user with a class 1 lucky number averaging 200.00 is silver by T3.1"),
        pytest.param("4g", 1, None, "2025-01-10", 30000, "gold", id="a 4G user with a class 1 lucky number averaging 300.00 is gold by T3.1"),
        pytest.param("3g", None, 586, "2026-11-02", 0, "diamond", id="a 3G user on contract plan 586 is diamond at joining"),
        pytest.param("3g", None, 156, "2026-11-02", 0, "silver", id="a 3G user on contract plan 156 is silver at joining"),
        pytest.param("4g", None, 586, "2026-11-02", 0, "none", id="a 4G user on contract plan 586 gets no card at joining"),
        pytest.param("2g", None, 386, "2026-11-02", 0, "none", id="a 2G user on contract plan 386 gets no card at joining"),
        pytest.param("2g", None, 386, "2025-01-10", 50000, "diamond", id="a 2G user on contract plan 386 averaging 500.00 is diamond by T3.1"),
        pytest.param("4g", None, 156, "2025-01-10", 14999, "none", id="a 4G user on contract plan 156 averaging 149.99 has no card"),
    ],
)  # fmt: skip
def test_c1_joining_cards_are_for_3g_users_only(
    network: str, lucky_class: int | None, plan: int | None, joined: str, avg_fen: int, level: str
) -> None:
    # rule C1 (rule T3.2, rule T3.3): S243 "186靓号3G用户", S245 "合约计划的3G用户"; other users by rule T3.1.
    s = sub(joined, network=network, lucky_class=lucky_class, contract_plan=plan)
    ev = run(PHENAN, RUN, s, six(avg_fen) if avg_fen else bills(M, []))
    assert ev.computed_level == level
    rules = ev.explanation.rules
    figures = ev.explanation.figures
    if network == "3g":
        assert "C1" not in rules
        assert ("T3.2" if lucky_class else "T3.3") in rules
        assert (ev.level, ev.change, ev.effective_from) == (level, "new", d(RUN))
    else:
        assert "C1" in rules
        assert "T3.2" not in rules and "T3.3" not in rules
        assert "lucky_level" not in figures and "contract_level" not in figures
        assert ("lucky_network" if lucky_class else "contract_network") in ev.explanation.notes
        assert "3G users only" in ev.explanation.render("en")
        assert ev.rated is (joined < "2026-05")  # young non-3G users wait for month 7 (T3.1)


@pytest.mark.parametrize(
    ("network", "level", "change", "migrated"),
    [
        pytest.param("3g", "diamond", "raised", True, id="a 2G gold card moving to a 3G 586 contract becomes diamond"),
        pytest.param("4g", "gold", "held", False, id="a gold card on a 4G 586 contract is no 3G migration and stays gold"),
    ],
)  # fmt: skip
def test_c1_a_migration_is_one_onto_3g(network: str, level: str, change: str, migrated: bool) -> None:
    # rule C1 with rule T3.4: "2G转3G" — the contract card of a non-3G plan does not apply.
    s = sub("2015-03-01", network=network, contract_plan=586)
    ev = run(PHENAN, RUN, s, six(20000), held_card("gold"))
    assert (ev.level, ev.change) == (level, change)
    assert ("T3.4" in ev.explanation.rules) is migrated


# ------------------------------------------------------------------------- C2

MOBILE_TABLE = (
    "priority_access", "priority_hall", "customer_manager", "emergency_reactivation",
    "free_sim_replacement", "roaming_without_deposit", "appointment", "do_not_disturb",
    "birthday_greeting",
)  # fmt: skip
FIXED_NETWORK = ("priority_access", "priority_hall")


@pytest.mark.parametrize(
    ("service_type", "avg_fen", "level", "entitlements"),
    [
        pytest.param("fixed", 50000, "diamond", FIXED_NETWORK, id="a fixed line averaging 500.00 is diamond with priority access and halls only"),
        pytest.param("fixed", 49999, "gold", FIXED_NETWORK, id="a fixed line averaging 499.99 is gold"),
        pytest.param("fixed", 30000, "gold", FIXED_NETWORK, id="a fixed line averaging 300.00 is gold"),
        pytest.param("fixed", 20000, "silver", FIXED_NETWORK, id="a fixed line averaging 200.00 is silver (non-3G)"),
        pytest.param("fixed", 19999, "none", (), id="a fixed line averaging 199.99 has no card"),
        pytest.param("broadband", 50000, "diamond", FIXED_NETWORK, id="broadband averaging 500.00 is diamond with priority access and halls only"),
        pytest.param("broadband", 30000, "gold", FIXED_NETWORK, id="broadband averaging 300.00 is gold"),
        pytest.param("broadband", 20000, "silver", FIXED_NETWORK, id="broadband averaging 200.00 is silver"),
        pytest.param("broadband", 15000, "none", (), id="broadband averaging 150.00 has no card (silver is 200 off 3G)"),
        pytest.param("mobile", 50000, "diamond", MOBILE_TABLE, id="a 3G mobile diamond keeps the whole mobile service table"),
    ],
)  # fmt: skip
def test_c2_the_fixed_network_is_graded_but_gets_no_mobile_benefits(
    service_type: str, avg_fen: int, level: str, entitlements: tuple[str, ...]
) -> None:
    # rule C2 (rule T3.6 with rule T3.1, rule E, rule Q3, rule R1): S239 "固网个人客户", S240 "VIP服务内容另行通知".
    s = sub(service_type=service_type, network="3g" if service_type == "mobile" else None)
    ev = run(PHENAN, RUN, s, six(avg_fen))
    assert (ev.level, ev.rated) == (level, True)
    tier = ev.tier()
    assert entitlement_codes(PHENAN, tier, service_type) == entitlements
    fixed_network = service_type != "mobile" and level != "none"
    limited = {b.code for b in benefits(PHENAN, tier, service_type) if b.rule == "C2"}
    every_row = {row.code for row in PHENAN.benefits["vip_card"]}
    assert limited == (every_row - set(FIXED_NETWORK) if fixed_network else set())
    routed = route(PHENAN, tier, service_type)
    assert routed.queue == ("vip" if level != "none" else "general")  # priority access stays (Q1)
    assert routed.has_manager is (level in ("diamond", "gold") and not fixed_network)
    account = AccountState(service_type, "prepaid", "suspended", 1, 0, False)
    decision = decide_reactivation(PHENAN, tier, account, verified=True)
    assert decision.code == (None if service_type == "mobile" else "not_entitled")


def test_c2_without_a_service_type_the_table_is_the_levels_own() -> None:
    # rule C2 with rule E: callers that do not say the service type get the E table as it is.
    tier = run(PHENAN, RUN, sub(service_type="fixed", network=None), six(50000)).tier()
    assert entitlement_codes(PHENAN, tier) == MOBILE_TABLE
    assert entitlement_codes(PHENAN, tier, "fixed") == FIXED_NETWORK
