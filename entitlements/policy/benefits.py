"""The ``[benefits]`` section (E): the service table, one row per benefit, a value per level."""

from __future__ import annotations

from collections.abc import Iterable

from entitlements.model import LEVELS, SERVICE_TYPES
from entitlements.policy.reader import CODE, Node
from entitlements.policy.schema import (
    BENEFIT_VALUES,
    MANAGER_BENEFIT,
    REACTIVATION_BENEFIT,
    BenefitRow,
    ServiceBenefits,
)

#: The optional table of service types limited to some rows (C2), beside the schemes.
BY_SERVICE_TYPE = "by_service_type"


def read_benefits(
    node: Node, schemes: Iterable[str]
) -> tuple[dict[str, tuple[BenefitRow, ...]], ServiceBenefits | None]:
    """``[benefits]`` (E): every scheme's rows (each names every level; Q3's and R1's rows
    exist), and ``[benefits.by_service_type]`` (C2) when the policy has it."""
    node.rule("E")
    result: dict[str, tuple[BenefitRow, ...]] = {}
    for scheme in schemes:
        sub = node.table(scheme)
        sub.rule("E")
        rows = []
        for code in sub.remaining():
            if not CODE.match(code):
                sub.fail(code, "benefit codes are lower-case snake_case")
            row = sub.table(code)
            zh, en = row.text("zh"), row.text("en")
            assumed = row.codes("assumed", LEVELS[scheme], default=[])
            values: dict[str, str] = {}
            for level in LEVELS[scheme]:
                if not row.has(level):
                    row.fail(level, f"missing level {level!r}")
                values[level] = row.text(level, choices=sorted(BENEFIT_VALUES))
            row.done()
            rows.append(BenefitRow(code, zh, en, values, assumed))
        codes = {row.code for row in rows}
        for needed in (REACTIVATION_BENEFIT, MANAGER_BENEFIT):
            if needed not in codes:
                sub.fail(needed, f"missing benefit row {needed!r}")
        sub.done()
        result[scheme] = tuple(rows)
    limits = _service_benefits(node.table(BY_SERVICE_TYPE), result) if node.has(BY_SERVICE_TYPE) else None
    node.done()
    return result, limits


def _service_benefits(node: Node, rows: dict[str, tuple[BenefitRow, ...]]) -> ServiceBenefits:
    """C2: per service type, the benefit codes it keeps (rows every served scheme has)."""
    rule = node.rule()
    common = frozenset.intersection(*(frozenset(r.code for r in rs) for rs in rows.values()))
    only: dict[str, frozenset[str]] = {}
    for service_type in node.remaining():
        if service_type not in SERVICE_TYPES:
            node.fail(service_type, f"unknown service type (known: {', '.join(SERVICE_TYPES)})")
        only[service_type] = node.codes(service_type, common)
    if not only:
        node.fail(None, "no service type listed")
    node.done()
    return ServiceBenefits(only, rule)
