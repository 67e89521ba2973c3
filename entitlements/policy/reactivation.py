"""The ``[reactivation]`` (R1–R8, R12) and ``[verification]`` (R9) sections."""

from __future__ import annotations

from collections.abc import Mapping

from entitlements.model import LEVELS, SERVICE_TYPES
from entitlements.policy.reader import Node
from entitlements.policy.schema import (
    REACTIVATION_BENEFIT,
    BenefitRow,
    ReactivationRules,
    ReactivationTerms,
    VerificationRules,
)


def read_reactivation(node: Node, benefits: Mapping[str, tuple[BenefitRow, ...]]) -> ReactivationRules:
    """``[reactivation]`` (R1–R8, R12): terms per tier class, mapped from every level with R1 in E."""
    rule = node.rule("R")
    service_types = node.codes("service_types", SERVICE_TYPES)
    arrears = node.table("arrears")
    arrears.rule("R7")
    refuse_at = arrears.integer("refuse_at_months", minimum=1)
    arrears.done()
    terms_node = node.table("terms")
    terms_node.rule("R")
    terms: dict[str, ReactivationTerms] = {}
    for name in terms_node.remaining():
        entry = terms_node.table(name)
        terms[name] = ReactivationTerms(
            name=name,
            rule=entry.rule("R"),
            per_month=entry.integer("per_month", minimum=1),
            credit_fen=entry.fen("credit_yuan"),
            days=entry.integer("days", minimum=1),
            hours=entry.integer("hours", minimum=1),
        )
        if terms[name].credit_fen <= 0:
            entry.fail("credit_yuan", "the temporary credit must be positive (R4)")
        entry.done()
    if not terms:
        terms_node.fail(None, "no reactivation terms")
    levels_node = node.table("levels")
    levels_node.rule("R")
    levels: dict[str, dict[str, str]] = {}
    for scheme, rows in benefits.items():
        sub = levels_node.table(scheme)
        sub.rule("R")
        row = next(r for r in rows if r.code == REACTIVATION_BENEFIT)
        entitled = [level for level in LEVELS[scheme] if row.values[level] == "yes"]
        mapping: dict[str, str] = {}
        for level in entitled:
            if not sub.has(level):
                sub.fail(level, f"{level} has emergency reactivation in E, so it needs terms (R1)")
            name = sub.text(level)
            if name not in terms:
                sub.fail(level, f"unknown terms {name!r} (not in reactivation.terms)")
            mapping[level] = name
        for extra in sub.remaining():
            if extra in LEVELS[scheme]:
                sub.fail(extra, f"{extra} has no emergency reactivation in E (R1)")
        sub.done()
        levels[scheme] = mapping
    levels_node.done()
    node.done()
    return ReactivationRules(service_types, refuse_at, terms, levels, rule)


def read_verification(node: Node) -> VerificationRules:
    """``[verification]`` (R9): wrong passwords before the lock, and the lock's length."""
    verification = VerificationRules(
        max_failures=node.integer("max_failures", minimum=1),
        lock_minutes=node.integer("lock_minutes", minimum=1),
        rule=node.rule("R9"),
    )
    node.done()
    return verification
