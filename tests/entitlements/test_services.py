"""VIP services with yearly quotas (V1) and clubs (V2) as pure rules, and their policy data."""

from __future__ import annotations

from datetime import date

import pytest

from entitlements.clubs import add_months, clubs, decide_join, months_in_network
from entitlements.errors import PolicyError
from entitlements.model import Tier
from entitlements.policy import load_policy, parse_policy
from entitlements.quotas import decide_use, place_problem, service, services
from tests.entitlements.test_policy import edit

POLICY = load_policy("unicom-2015")
HENAN = load_policy("unicom-henan-2011")
TODAY = date(2026, 11, 26)


def star(level: str) -> Tier:
    return Tier("star", level, None)


def card(level: str) -> Tier:
    return Tier("vip_card", level, None)


# --- V1 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tier", "code", "used", "outcome", "remaining_after"),
    [
        pytest.param(card("gold"), "free_sim_replacement", 0, None, 0, id="gold: the one free SIM replacement of the year"),
        pytest.param(card("gold"), "free_sim_replacement", 1, "quota_used", 0, id="gold: a second one the same year is refused"),
        pytest.param(card("silver"), "free_sim_replacement", 0, None, 0, id="silver too gets one a year"),
        pytest.param(star("five_star"), "free_sim_replacement", 40, None, None, id="five-star: unlimited, still counted"),
        pytest.param(star("four_star"), "free_sim_replacement", 3, None, None, id="four-star: unlimited"),
        pytest.param(star("three_star"), "free_sim_replacement", 0, "not_entitled", 0, id="three-star: standard service, no free replacement"),
        pytest.param(card("diamond"), "airport_lounge", 5, None, 0, id="diamond: the sixth lounge visit of the year"),
        pytest.param(card("diamond"), "airport_lounge", 6, "quota_used", 0, id="diamond: a seventh is refused"),
        pytest.param(card("gold"), "airport_lounge", 3, None, 0, id="gold: four visits a year"),
        pytest.param(star("loyal"), "airport_lounge", 2, "quota_used", 0, id="loyal: two visits a year"),
        pytest.param(star("vip_guest"), "airport_lounge", 0, None, 5, id="VIP guest: six visits a year"),
        pytest.param(card("silver"), "airport_lounge", 0, "not_entitled", 0, id="silver: no lounge"),
        pytest.param(star("unrated"), "airport_lounge", 0, "not_entitled", 0, id="unrated: no lounge"),
    ],
)  # fmt: skip
def test_uses_within_the_yearly_quota(
    tier: Tier, code: str, used: int, outcome: str | None, remaining_after: int | None
) -> None:
    # rule V1: yearly quotas per level (defaults of SPEC §10); refusals not_entitled (rule E), quota_used.
    found = service(POLICY, tier, code, used)
    assert found is not None and found.counted
    decision = decide_use(found)
    assert decision.allowed == (outcome is None)
    assert decision.code == outcome
    assert decision.remaining_after == remaining_after


def test_the_six_lounges_are_policy_data_and_a_visit_names_one() -> None:
    # rule V1: the six airport lounges of S20 (Urumqi, Kashgar, Ili, Bayingolin, Hotan, Aksu).
    lounge = service(POLICY, card("diamond"), "airport_lounge")
    assert lounge is not None
    assert [p.zh for p in lounge.places] == ["乌鲁木齐", "喀什", "伊犁", "巴州", "和田", "阿克苏"]
    assert place_problem(lounge, "kashgar") is None
    assert place_problem(lounge, None) is not None
    assert place_problem(lounge, "beijing") is not None
    sim = service(POLICY, card("gold"), "free_sim_replacement")
    assert sim is not None and place_problem(sim, None) is None


def test_every_benefit_is_listed_with_its_remaining_quota() -> None:
    # rule V1 and rule E: the agent's view lists every E row and the lounge, counted or not.
    listed = {
        s.code: s for s in services(POLICY, card("gold"), {"airport_lounge": 1, "free_sim_replacement": 1})
    }
    assert list(listed)[-1] == "airport_lounge"
    assert {row.code for row in POLICY.benefits["vip_card"]} < set(listed)
    assert (listed["airport_lounge"].quota, listed["airport_lounge"].remaining) == (4, 3)
    assert listed["free_sim_replacement"].remaining == 0
    assert (listed["priority_access"].counted, listed["priority_access"].remaining) == (False, None)
    assert listed["customer_manager"].entitled and listed["appointment"].entitled
    assert not listed["broadband_repair"].entitled and listed["broadband_repair"].remaining == 0


def test_a_fixed_network_card_gets_no_lounge() -> None:
    # rule V1 and rule C2 (T3.6): Henan fixed-network cards keep priority access and halls only.
    mobile = service(HENAN, card("gold"), "airport_lounge", 0, "mobile")
    assert mobile is not None and mobile.entitled
    for code in ("airport_lounge", "free_sim_replacement"):
        found = service(HENAN, card("gold"), code, 0, "fixed")
        assert found is not None
        assert decide_use(found).code == "not_entitled"


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        pytest.param(
            'vip_card = { supreme = 1, diamond = 1, gold = 1, silver = 1 }',
            'vip_card = { supreme = 1, diamond = 2, gold = 1, silver = 1 }',
            "quotas.free_sim_replacement.vip_card.diamond", "E says once_a_year: the quota must be 1",
            id="a quota that contradicts the E row",
        ),
        pytest.param(
            'vip_card = { supreme = 1, diamond = 1, gold = 1, silver = 1 }',
            'vip_card = { supreme = 1, diamond = 1, gold = 1 }',
            "quotas.free_sim_replacement.vip_card.silver", "its yearly quota is missing",
            id="a level E gives the service without a quota",
        ),
        pytest.param(
            'star = { five_star = "unlimited", vip_guest = "unlimited", loyal = "unlimited", four_star = "unlimited" }',
            'star = { five_star = "unlimited", vip_guest = "unlimited", loyal = "unlimited", four_star = "unlimited", three_star = 1 }',
            "quotas.free_sim_replacement.star.three_star", "no quota",
            id="a quota for a level E gives only standard service",
        ),
        pytest.param(
            'vip_card = { supreme = 6, diamond = 6, gold = 4 }', 'vip_card = { supreme = 6, diamond = 0, gold = 4 }',
            "quotas.airport_lounge.vip_card.diamond", "whole number ≥ 1", id="a zero quota",
        ),
        pytest.param(
            'vip_card = { supreme = 6, diamond = 6, gold = 4 }', 'vip_card = { supreme = 6, emerald = 6, gold = 4 }',
            "quotas.airport_lounge.vip_card.emerald", "unknown vip_card level", id="an unknown level",
        ),
        pytest.param(
            'min_tenure_months = 3', 'min_tenure_months = -1',
            "clubs.min_tenure_months", "at least 0", id="a negative tenure for clubs",
        ),
        pytest.param(
            'vip_card = ["supreme", "diamond", "gold", "silver"]', 'vip_card = ["supreme", "platinum"]',
            "clubs.vip_levels.vip_card", "'platinum' is not one of", id="a VIP level the scheme does not have",
        ),
        pytest.param(
            "threshold = 2000", "threshold = 0", "points.threshold", "at least 1", id="a zero threshold",
        ),
        pytest.param(
            'topup_30 = { points = 3000,', 'topup_30 = { points = -5,',
            "points.catalogue.topup_30.points", "at least 1", id="a catalogue item with negative points",
        ),
        pytest.param(
            'short_code = "10011"', 'short_code = "100-11"',
            "points.sms.short_code", "3 to 12 digits", id="a short code that is not digits",
        ),
        pytest.param(
            '[points]\nrule = "P2"', '[points]\nrule = "V1"',
            "points.rule", "expected a P… rule ID", id="a points table citing another family",
        ),
    ],
)  # fmt: skip
def test_bad_points_quotas_and_clubs_are_refused_with_their_key(
    old: str, new: str, key: str, problem: str
) -> None:
    # rule V1, rule V2 and rule P2: the sections are validated like every other policy table.
    with pytest.raises(PolicyError) as caught:
        parse_policy(edit("unicom-2015", old, new), label="unicom-2015.toml")
    assert caught.value.key == key
    assert problem in caught.value.problem


# --- V2 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("joined", "months"),
    [("2026-08-26", 3), ("2026-08-27", 2), ("2026-11-26", 0), ("2026-11-30", 0), ("2020-01-10", 82)],
)
def test_months_in_the_network(joined: str, months: int) -> None:
    # rule V2: whole months since joining.
    assert months_in_network(date.fromisoformat(joined), TODAY) == months


@pytest.mark.parametrize(
    ("tier", "joined", "code", "eligible_from"),
    [
        pytest.param(star("five_star"), "2026-11-20", None, "2026-11-20", id="a VIP joins at once, even in the first week"),
        pytest.param(card("silver"), "2026-11-01", None, "2026-11-01", id="silver is a VIP level too"),
        pytest.param(star("two_star"), "2026-08-26", None, "2026-11-26", id="three months in the network to the day"),
        pytest.param(star("two_star"), "2026-08-27", "tenure_too_short", "2026-11-27", id="one day short of three months"),
        pytest.param(star("unrated"), "2026-11-30", "tenure_too_short", "2027-02-28", id="joined on the 30th: eligible at February's end"),
    ],
)  # fmt: skip
def test_joining_a_club(tier: Tier, joined: str, code: str | None, eligible_from: str) -> None:
    # rule V2: VIPs join at once; others after 3 months in the network (tenure_too_short).
    decision = decide_join(POLICY, tier, date.fromisoformat(joined), TODAY)
    assert decision.allowed == (code is None)
    assert decision.code == code
    assert decision.eligible_from == date.fromisoformat(eligible_from)


def test_every_club_is_listed_with_the_membership() -> None:
    # rule V2: the clubs of S13 as policy data, with the customer's membership.
    listed = clubs(POLICY, star("two_star"), date(2020, 1, 1), TODAY, {"car": date(2026, 1, 2)})
    assert [c.club.code for c in listed] == [
        "car", "health", "beauty", "sports", "parenting", "film", "photography", "iphone",
    ]  # fmt: skip
    assert listed[0].member_since == date(2026, 1, 2)
    assert all(c.member_since is None for c in listed[1:])
    assert add_months(date(2024, 1, 31), 1) == date(2024, 2, 29)
