"""The ``[membership]`` section (T4): cumulative and this-month payment conditions."""

from __future__ import annotations

from entitlements.model import LEVELS
from entitlements.policy.common import read_eligibility, read_validity
from entitlements.policy.reader import Node
from entitlements.policy.schema import MembershipRules


def read_membership(node: Node) -> MembershipRules:
    """``[membership]`` (T4): two payment conditions per level, falling from diamond to silver."""
    eligibility = read_eligibility(node.table("eligibility"), "T4")
    ladder_node = node.table("ladder")
    rule = ladder_node.rule("T4")
    ladder: list[tuple[str, int, int]] = []
    for level in LEVELS["membership"][:-1]:
        if not ladder_node.has(level):
            ladder_node.fail(level, f"missing level {level!r}")
        entry = ladder_node.table(level)
        cumulative = entry.fen("cumulative_yuan")
        month = entry.fen("month_yuan")
        entry.done()
        if ladder and (cumulative > ladder[-1][1] or month > ladder[-1][2]):
            ladder_node.fail(level, f"conditions must not rise from {ladder[-1][0]} down to {level}")
        if ladder and (cumulative, month) == ladder[-1][1:]:
            ladder_node.fail(level, f"same conditions as {ladder[-1][0]}")
        ladder.append((level, cumulative, month))
    ladder_node.done()
    validity = read_validity(node.table("validity"))
    node.done()
    return MembershipRules(eligibility, tuple(ladder), rule, validity)
