"""Q1–Q4: which queue (and priority) a caller's tier gets, and whether a manager serves it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from entitlements.benefits import benefit_value
from entitlements.model import Tier
from entitlements.policy import MANAGER_BENEFIT, Policy


@dataclass(frozen=True, slots=True)
class Route:
    """Where a call goes: the VIP desk or the general queue, with a priority (higher first)."""

    queue: Literal["vip", "general"]
    priority: int
    has_manager: bool
    rules: tuple[str, ...]


def default_route(policy: Policy) -> Route:
    """Q4: the route of a caller the lookup could not answer for in time (general queue)."""
    return Route("general", policy.routing.general_priority, False, ("Q4",))


def route(policy: Policy, tier: Tier | None, service_type: str | None = None) -> Route:
    """Q1–Q3: the route for a tier; unknown callers and unrated/one/two-star go general.

    A tier of a scheme the policy does not serve is routed like an unknown caller. With
    the subscriber's ``service_type``, Q3 follows C2 (no manager for a Henan fixed-network
    card: the customer-manager row is not one it keeps).
    """
    routing = policy.routing
    if tier is None:
        return Route("general", routing.general_priority, False, (routing.rule,))
    per_level = routing.levels.get(tier.scheme)
    rule = per_level.get(tier.level) if per_level is not None else None
    if rule is None:
        return Route("general", routing.general_priority, False, (routing.rule,))
    # Q3: the E table's customer-manager row is the single source for who has a manager.
    manager = benefit_value(policy, tier, MANAGER_BENEFIT, service_type) == "yes"
    rules = (routing.rule, routing.priority_rule) if rule.queue == "vip" else (routing.rule,)
    if manager:
        rules = (*rules, "Q3")
    return Route(rule.queue, rule.priority, manager, rules)
