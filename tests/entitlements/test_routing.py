"""Q1–Q4 — queue, priority and customer manager per tier."""

from __future__ import annotations

import pytest

from entitlements.model import Tier
from entitlements.routing import default_route, route
from tests.entitlements.helpers import P2015, PCREDIT, PCUM, PVIP


@pytest.mark.parametrize(
    ("scheme", "level", "queue", "priority"),
    [
        pytest.param("star", "five_star", "vip", 30, id="five-star goes to the VIP desk"),
        pytest.param("star", "vip_guest", "vip", 30, id="a VIP guest goes to the VIP desk"),
        pytest.param("star", "loyal", "vip", 20, id="a loyal customer goes to the VIP desk"),
        pytest.param("star", "four_star", "vip", 20, id="four-star goes to the VIP desk"),
        pytest.param("star", "three_star", "vip", 10, id="three-star goes to the VIP desk"),
        pytest.param("star", "two_star", "general", 0, id="two-star goes to the general queue"),
        pytest.param("star", "one_star", "general", 0, id="one-star goes to the general queue"),
        pytest.param("star", "unrated", "general", 0, id="an unrated caller goes general"),
        pytest.param("vip_card", "supreme", "vip", 40, id="a legacy supreme card goes first"),
        pytest.param("vip_card", "diamond", "vip", 30, id="a legacy diamond card goes VIP"),
        pytest.param("vip_card", "gold", "vip", 20, id="a legacy gold card goes VIP"),
        pytest.param("vip_card", "silver", "vip", 10, id="a legacy silver card goes VIP"),
        pytest.param("vip_card", "none", "general", 0, id="no card goes general"),
    ],
)
def test_queue_and_priority(scheme: str, level: str, queue: str, priority: int) -> None:
    # rule Q1 and rule Q2 (unicom-2015 routes stars and the legacy cards of T1.11)
    r = route(P2015, Tier(scheme, level))
    assert (r.queue, r.priority) == (queue, priority)
    assert "Q1" in r.rules
    if queue == "vip":
        assert "Q2" in r.rules


def test_unknown_caller_goes_general_with_normal_priority() -> None:
    # rule Q2
    r = route(P2015, None)
    assert (r.queue, r.priority, r.has_manager) == ("general", 0, False)


def test_priority_order_inside_the_vip_desk() -> None:
    # rule Q2: supreme; diamond / five-star / VIP guest; gold / four-star / loyal; silver / three.
    p = {lvl: route(P2015, Tier(s, lvl)).priority for s, lvl in [
        ("vip_card", "supreme"), ("vip_card", "diamond"), ("star", "five_star"),
        ("star", "vip_guest"), ("vip_card", "gold"), ("star", "four_star"), ("star", "loyal"),
        ("vip_card", "silver"), ("star", "three_star"),
    ]}  # fmt: skip
    assert p["supreme"] > p["diamond"] == p["five_star"] == p["vip_guest"]
    assert p["vip_guest"] > p["gold"] == p["four_star"] == p["loyal"]
    assert p["loyal"] > p["silver"] == p["three_star"] > 0


@pytest.mark.parametrize(
    ("scheme", "level", "manager"),
    [
        pytest.param("vip_card", "diamond", True, id="diamond has a customer manager"),
        pytest.param("vip_card", "gold", True, id="gold has a customer manager"),
        pytest.param("star", "five_star", True, id="five-star has a customer manager"),
        pytest.param("star", "vip_guest", True, id="a VIP guest has a customer manager"),
        pytest.param("vip_card", "silver", False, id="silver has no customer manager"),
        pytest.param("star", "four_star", False, id="four-star has no customer manager"),
        pytest.param("star", "loyal", False, id="loyal has no customer manager"),
        pytest.param("star", "three_star", False, id="three-star has no customer manager"),
    ],
)
def test_customer_manager(scheme: str, level: str, manager: bool) -> None:
    # rule Q3
    r = route(P2015, Tier(scheme, level))
    assert r.has_manager is manager
    assert ("Q3" in r.rules) is manager


def test_the_default_route_when_the_lookup_cannot_answer() -> None:
    # rule Q4: the caller goes to the general queue (the gateway marks it degraded).
    r = default_route(P2015)
    assert (r.queue, r.priority, r.has_manager, r.rules) == ("general", 0, False, ("Q4",))


def test_a_scheme_the_policy_does_not_serve_goes_general() -> None:
    # rule Q2: a tier the policy cannot place is treated like an unknown caller.
    r = route(PVIP, Tier("star", "five_star"))
    assert (r.queue, r.priority) == ("general", 0)


@pytest.mark.parametrize(
    ("policy", "tier", "queue"),
    [
        pytest.param(PCUM, Tier("membership", "diamond"), "vip", id="a diamond member goes VIP"),
        pytest.param(PCUM, Tier("membership", "ordinary"), "general", id="ordinary goes general"),
        pytest.param(PCREDIT, Tier("credit_star", "three_star"), "vip", id="credit three-star VIP"),
        pytest.param(PCREDIT, Tier("credit_star", "two_star"), "general", id="credit two-star"),
    ],
)
def test_schemes_without_a_source_route_by_assumption(policy: object, tier: Tier, queue: str) -> None:
    # rule Q1 [assumption rows for membership and credit stars]
    assert route(policy, tier).queue == queue  # type: ignore[arg-type]  # Policy
