"""V1: VIP services counted per calendar year — free SIM replacement, airport lounge
visits — and every other benefit of the E table, as the agent's view lists them.

Who has a service: an E row's value for the tier (beyond standard), or for a service of
the quota table's own (the lounges), the levels it lists. How many uses a calendar year
(Asia/Shanghai): the quota table (``None``: unlimited). C2 holds here too: a service type
the policy limits to some rows (Henan fixed-network cards) has none of the others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from entitlements.benefits import benefit_value, benefits
from entitlements.model import Tier
from entitlements.policy import STANDARD_BENEFIT_VALUES, Place, Policy, QuotaRow


@dataclass(frozen=True, slots=True)
class Service:
    """One benefit or counted service of a tier: entitled or not, its yearly quota and use."""

    code: str
    name_zh: str
    name_en: str
    value: str | None  # the E value (None for a service of the quota table's own)
    entitled: bool
    counted: bool  # whether uses are counted against a yearly quota (a quota row)
    quota: int | None  # uses a calendar year (None: unlimited or not counted)
    used: int  # uses recorded this calendar year
    places: tuple[Place, ...]

    @property
    def remaining(self) -> int | None:
        """Uses left this year (None: no limit; 0 for a service the tier does not have)."""
        if not self.entitled:
            return 0
        if self.quota is None:
            return None
        return max(self.quota - self.used, 0)


def _row(policy: Policy, code: str) -> QuotaRow | None:
    return next((r for r in policy.quotas if r.code == code), None)


def _limited_out(policy: Policy, code: str, service_type: str | None) -> bool:
    """C2: the service type keeps only some rows of the table, and not this one."""
    limits = policy.service_benefits
    if limits is None or service_type is None or service_type not in limits.only:
        return False
    return code not in limits.only[service_type]


def service(
    policy: Policy, tier: Tier, code: str, used: int = 0, service_type: str | None = None
) -> Service | None:
    """V1: one benefit or counted service for ``tier`` (None: the policy has no such code)."""
    row = _row(policy, code)
    value = benefit_value(policy, tier, code, service_type)
    if row is None and value is None:
        return None
    if row is None:
        assert value is not None
        names = next((b for b in benefits(policy, tier, service_type) if b.code == code), None)
        zh, en = (names.name_zh, names.name_en) if names else (code, code)
        return Service(code, zh, en, value, value not in STANDARD_BENEFIT_VALUES, False, None, used, ())
    levels = row.quotas.get(tier.scheme, {})
    if row.benefit_row:
        entitled = value is not None and value not in STANDARD_BENEFIT_VALUES
    else:
        entitled = tier.level in levels and not _limited_out(policy, code, service_type)
    quota = levels.get(tier.level) if entitled else None
    return Service(code, row.zh, row.en, value, entitled, True, quota, used, row.places)


def services(
    policy: Policy, tier: Tier, used: Mapping[str, int], service_type: str | None = None
) -> tuple[Service, ...]:
    """V1: every benefit of the E table, then the quota table's own services, each with its
    yearly quota and what is left of it (the agent's view)."""
    codes = [b.code for b in benefits(policy, tier, service_type)]
    codes += [r.code for r in policy.quotas if r.code not in codes]
    found = (service(policy, tier, code, used.get(code, 0), service_type) for code in codes)
    return tuple(s for s in found if s is not None)


@dataclass(frozen=True, slots=True)
class UseDecision:
    """V1: whether one more use may be recorded, and what is left after it."""

    allowed: bool
    code: str | None  # not_entitled | quota_used
    remaining_after: int | None
    rules: tuple[str, ...]


def decide_use(found: Service) -> UseDecision:
    """V1: a use of a service the tier has, within its yearly quota."""
    if not found.entitled:
        return UseDecision(False, "not_entitled", 0, ("V1", "E"))
    if found.quota is None:
        return UseDecision(True, None, None, ("V1",))
    if found.used >= found.quota:
        return UseDecision(False, "quota_used", 0, ("V1",))
    return UseDecision(True, None, found.quota - found.used - 1, ("V1",))


def place_problem(found: Service, place: str | None) -> str | None:
    """V1: a service with listed places (the lounges) needs one of them; None when fine."""
    if not found.places:
        return None
    codes = [p.code for p in found.places]
    if place not in codes:
        return f"place must be one of: {', '.join(codes)}"
    return None
