"""The ``[staffing]`` section (Q5, Q6): the VIP desk's service-level target and handling time."""

from __future__ import annotations

from entitlements.policy.reader import RULE_ID, Node
from entitlements.policy.schema import StaffingRules


def read_staffing(node: Node) -> StaffingRules:
    """``[staffing]`` (Q6, target Q5): ``service_level`` (a share), ``answer_within_s``, ``handling_s``."""
    rule = node.rule("Q")
    target_rule = node.text("target_rule", default="Q5")
    if not RULE_ID.match(target_rule):
        node.fail("target_rule", f"{target_rule!r} is not a SPEC rule ID")
    share = node.milli("service_level")
    if not 0 < share < 1000:
        node.fail("service_level", f"a share between 0 and 1 (0.85 is 85 %), got {share / 1000:g}")
    within = node.integer("answer_within_s", minimum=1)
    handling = node.integer("handling_s", minimum=1)
    node.done()
    return StaffingRules(share / 1000, within, handling, rule, target_rule)
