"""V2: clubs (S13–15). VIP members may join at once; everyone else after some months in
the network (policy data: 3, S14 "在网3个月以上")."""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from entitlements.model import Tier
from entitlements.policy import Club, Policy


def add_months(day: date, months: int) -> date:
    """``day`` plus whole calendar months (the 31st becomes the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def months_in_network(joined_on: date, day: date) -> int:
    """V2: whole months in the network on ``day`` (joined 2026-08-26 → 3 on 2026-11-26)."""
    months = (day.year - joined_on.year) * 12 + day.month - joined_on.month
    if add_months(joined_on, months) > day:
        months -= 1
    return max(months, 0)


def is_vip(policy: Policy, tier: Tier) -> bool:
    """V2: the tier is one of the policy's VIP levels (they join at once)."""
    return tier.level in policy.clubs.vip_levels.get(tier.scheme, frozenset())


@dataclass(frozen=True, slots=True)
class JoinDecision:
    """V2: whether the customer may join a club now, and from when otherwise."""

    allowed: bool
    code: str | None  # tenure_too_short
    eligible_from: date
    rules: tuple[str, ...]


def decide_join(policy: Policy, tier: Tier, joined_on: date, day: date) -> JoinDecision:
    """V2: a VIP joins at once; anyone else once ``min_tenure_months`` have passed."""
    if is_vip(policy, tier):
        return JoinDecision(True, None, joined_on, ("V2",))
    eligible_from = add_months(joined_on, policy.clubs.min_tenure_months)
    if day < eligible_from:
        return JoinDecision(False, "tenure_too_short", eligible_from, ("V2",))
    return JoinDecision(True, None, eligible_from, ("V2",))


@dataclass(frozen=True, slots=True)
class ClubStatus:
    """One club in the agent's view: member since, or whether joining is possible now."""

    club: Club
    member_since: date | None
    decision: JoinDecision


def clubs(
    policy: Policy, tier: Tier, joined_on: date, day: date, members: Mapping[str, date]
) -> tuple[ClubStatus, ...]:
    """V2: every club of the policy with the customer's membership."""
    decision = decide_join(policy, tier, joined_on, day)
    return tuple(ClubStatus(c, members.get(c.code), decision) for c in policy.clubs.clubs)


def find_club(policy: Policy, code: str) -> Club | None:
    """The policy's club of that code."""
    return next((c for c in policy.clubs.clubs if c.code == code), None)
