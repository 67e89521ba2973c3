"""The ``[benefits]`` section (E): the service table, one row per benefit, a value per level."""

from __future__ import annotations

from collections.abc import Iterable

from entitlements.model import LEVELS
from entitlements.policy.reader import CODE, Node
from entitlements.policy.schema import (
    BENEFIT_VALUES,
    MANAGER_BENEFIT,
    REACTIVATION_BENEFIT,
    BenefitRow,
)


def read_benefits(node: Node, schemes: Iterable[str]) -> dict[str, tuple[BenefitRow, ...]]:
    """``[benefits]`` (E): every scheme's rows; each names every level and Q3/R1's rows exist."""
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
    node.done()
    return result
