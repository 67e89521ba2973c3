"""The ``[work_orders]`` section (W): when an unpaid reactivation's order is overdue."""

from __future__ import annotations

from entitlements.policy.reader import Node
from entitlements.policy.schema import WorkOrderRules


def read_work_orders(node: Node) -> WorkOrderRules:
    """``[work_orders]`` (W4): hours after the grant until an unpaid order is overdue."""
    work_orders = WorkOrderRules(node.integer("overdue_after_hours", minimum=1), node.rule("W"))
    node.done()
    return work_orders
