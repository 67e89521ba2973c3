"""T4: cumulative-spend membership — cumulative payments and this month's payments."""

from __future__ import annotations

from entitlements.bills import paid_in
from entitlements.model import BillHistory, Subscriber
from entitlements.money import format_fen
from entitlements.months import Month, iso
from entitlements.policy import MembershipRules
from entitlements.scored import Scalar, Scored, excluded


def rate_membership(rules: MembershipRules, sub: Subscriber, bills: BillHistory, month: int) -> Scored:
    """T4.1: the highest level whose cumulative and monthly payment conditions both hold.

    "This month" is the last closed month (M−1); the cumulative figure is everything the
    bill history says was paid through its end.
    """
    elig = rules.eligibility
    inputs: dict[str, Scalar] = {
        "service_type": sub.service_type,
        "joined_on": iso(sub.joined_on),
    }
    why = excluded(elig, sub)
    if why is not None:
        return Scored(False, "ordinary", [elig.rule], inputs, {}, None, [why])
    cumulative = bills.cumulative_paid_fen
    paid = paid_in(bills, month - 1)
    level = "ordinary"
    previous: tuple[str, int, int] | None = None
    target: tuple[str, int, int] | None = None
    for entry in rules.ladder:
        if cumulative >= entry[1] and paid >= entry[2]:
            level = entry[0]
            target = previous
            break
        previous = entry
    else:
        target = previous
    figures: dict[str, Scalar] = {
        "paid_month": str(Month(month - 1)),
        "cumulative_yuan": format_fen(cumulative),
        "month_paid_yuan": format_fen(paid),
    }
    nxt: dict[str, Scalar] | None = None
    if target is not None:
        nxt = {
            "level": target[0],
            "cumulative_yuan": format_fen(target[1]),
            "cumulative_yuan_more": format_fen(max(target[1] - cumulative, 0)),
            "month_paid_yuan": format_fen(target[2]),
        }
    return Scored(True, level, [elig.rule, rules.rule], inputs, figures, nxt, [])
