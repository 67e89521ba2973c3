"""The ``[routing]`` section (Q1, Q2): queue and priority per scheme and level."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from entitlements.model import LEVELS
from entitlements.policy.reader import Node
from entitlements.policy.schema import RouteRule, Routing


def read_routing(node: Node, schemes: Iterable[str]) -> Routing:
    """``[routing]`` (Q1, Q2): the queue and priority of every level of every served scheme."""
    rule = node.rule("Q")
    priority_rule = node.text("priority_rule", default="Q2")
    general = node.integer("general_priority")
    levels: dict[str, dict[str, RouteRule]] = {}
    for scheme in schemes:
        sub = node.table(scheme)
        sub.rule("Q")
        per_level: dict[str, RouteRule] = {}
        for level in LEVELS[scheme]:
            if not sub.has(level):
                sub.fail(level, f"missing level {level!r}")
            entry = sub.table(level)
            queue = entry.text("queue", choices=("vip", "general"))
            priority = entry.integer("priority")
            entry.done()
            if queue == "general" and priority != general:
                entry.fail("priority", f"the general queue has normal priority {general} (Q2)")
            if queue == "vip" and priority <= general:
                entry.fail("priority", f"VIP desk priority must be above {general} (Q2)")
            per_level[level] = RouteRule(queue, priority)  # type: ignore[arg-type]  # choices
        if per_level[LEVELS[scheme][-1]].queue != "general":
            sub.fail(LEVELS[scheme][-1], "the bottom level goes to the general queue (Q2)")
        ranks = [per_level[level].priority for level in LEVELS[scheme]]
        if any(a < b for a, b in itertools.pairwise(ranks)):
            sub.fail(None, "priorities must not rise from a higher level to a lower one (Q2)")
        sub.done()
        levels[scheme] = per_level
    node.done()
    return Routing(general, levels, rule, priority_rule)
