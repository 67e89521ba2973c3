"""The ``[work_orders]`` section (W): when an unpaid order is overdue, who may record what."""

from __future__ import annotations

from entitlements.model import BRANCH_LEVELS, WORK_ORDER_EVENTS
from entitlements.policy.reader import Node
from entitlements.policy.schema import WorkOrderRules

#: W6: only an admin closes an order, so no branch level may be given ``close``.
ADMIN_EVENTS = frozenset({"close"})


def read_work_orders(node: Node) -> WorkOrderRules:
    """``[work_orders]`` (W4, H9): the overdue window, ``auto_resuspend`` and the longest
    ``extend``; ``[work_orders.branch_events]`` (W2–W5, H8–H9)."""
    hours = node.integer("overdue_after_hours", minimum=1)
    rule = node.rule("W")
    auto_resuspend = node.boolean("auto_resuspend", default=False)  # H9
    extend_max_hours = node.integer("extend_max_hours", default=72, minimum=1)  # H9
    events = node.table("branch_events")
    branch_rule = events.rule("W")
    per_level: dict[str, frozenset[str]] = {}
    for level in events.remaining():
        if level not in BRANCH_LEVELS:
            events.fail(level, f"unknown branch level {level!r} (known: {', '.join(BRANCH_LEVELS)})")
        allowed = events.codes(level, WORK_ORDER_EVENTS)
        if allowed & ADMIN_EVENTS:
            events.fail(level, "only an admin closes an order (W6): 'close' is no branch event")
        per_level[level] = allowed
    if not per_level:
        events.fail(None, "no branch level may record any event")
    events.done()
    node.done()
    return WorkOrderRules(hours, rule, per_level, branch_rule, auto_resuspend, extend_max_hours)
