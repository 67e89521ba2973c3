"""E: what a tier is entitled to, from the policy's benefit matrix."""

from __future__ import annotations

from dataclasses import dataclass

from entitlements.model import Tier, bottom_level
from entitlements.policy import STANDARD_BENEFIT_VALUES, Policy


@dataclass(frozen=True, slots=True)
class Benefit:
    """One E-table cell: a benefit code and its value (``yes``, ``once_a_year``, …)."""

    code: str
    value: str
    name_zh: str
    name_en: str
    #: The source lost this cell; the value is an [assumption] (policy data).
    assumed: bool
    rule: str = "E"

    @property
    def beyond_standard(self) -> bool:
        """Whether this is more than every customer gets (not ``no``/``standard``)."""
        return self.value not in STANDARD_BENEFIT_VALUES


def _resolve(policy: Policy, tier: Tier | None) -> tuple[str, str] | None:
    if tier is None:
        return policy.scheme, bottom_level(policy.scheme)
    if tier.scheme not in policy.benefits:
        return None
    return tier.scheme, tier.level


def benefits(policy: Policy, tier: Tier | None) -> tuple[Benefit, ...]:
    """E: every benefit row with this tier's value (unknown callers: the bottom level's)."""
    key = _resolve(policy, tier)
    if key is None:
        return ()
    scheme, level = key
    out = []
    for row in policy.benefits[scheme]:
        value = row.values.get(level)
        if value is None:
            continue
        out.append(Benefit(row.code, value, row.zh, row.en, level in row.assumed))
    return tuple(out)


def benefit_value(policy: Policy, tier: Tier | None, code: str) -> str | None:
    """E: one benefit's value for a tier (``None`` if the policy has no such row)."""
    key = _resolve(policy, tier)
    if key is None:
        return None
    scheme, level = key
    for row in policy.benefits[scheme]:
        if row.code == code:
            return row.values.get(level)
    return None


def entitlement_codes(policy: Policy, tier: Tier | None) -> tuple[str, ...]:
    """E: the benefit codes this tier has beyond standard service (the lookup's list)."""
    return tuple(b.code for b in benefits(policy, tier) if b.beyond_standard)
