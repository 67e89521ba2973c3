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


def _kept(policy: Policy, service_type: str | None) -> frozenset[str] | None:
    """C2: the rows a service type keeps (``None``: every row, the E table as it is)."""
    limits = policy.service_benefits
    if limits is None or service_type is None:
        return None
    return limits.only.get(service_type)


def benefits(policy: Policy, tier: Tier | None, service_type: str | None = None) -> tuple[Benefit, ...]:
    """E: every benefit row with this tier's value (unknown callers: the bottom level's).

    C2: for a ``service_type`` the policy limits (Henan fixed line and broadband) a row it
    does not keep has the bottom level's value, cited ``C2``.
    """
    key = _resolve(policy, tier)
    if key is None:
        return ()
    scheme, level = key
    kept = _kept(policy, service_type)
    bottom = bottom_level(scheme)
    out = []
    for row in policy.benefits[scheme]:
        cell = level if kept is None or row.code in kept else bottom
        value = row.values.get(cell)
        if value is None:
            continue
        rule = "E" if cell == level or policy.service_benefits is None else policy.service_benefits.rule
        out.append(Benefit(row.code, value, row.zh, row.en, cell in row.assumed, rule))
    return tuple(out)


def benefit_value(
    policy: Policy, tier: Tier | None, code: str, service_type: str | None = None
) -> str | None:
    """E: one benefit's value for a tier (``None`` if the policy has no such row); C2 as ``benefits``."""
    key = _resolve(policy, tier)
    if key is None:
        return None
    scheme, level = key
    kept = _kept(policy, service_type)
    if kept is not None and code not in kept:
        level = bottom_level(scheme)
    for row in policy.benefits[scheme]:
        if row.code == code:
            return row.values.get(level)
    return None


def entitlement_codes(policy: Policy, tier: Tier | None, service_type: str | None = None) -> tuple[str, ...]:
    """E: the benefit codes this tier has beyond standard service (the lookup's list).

    C2: pass the subscriber's ``service_type`` — a Henan fixed-network card lists only
    ``priority_access`` and ``priority_hall``.
    """
    return tuple(b.code for b in benefits(policy, tier, service_type) if b.beyond_standard)
