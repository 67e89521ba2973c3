"""T5: China Mobile credit stars — brand, tenure and spend points minus suspensions."""

from __future__ import annotations

from datetime import date

from entitlements.bills import average_window, billed_total
from entitlements.model import BillHistory, Subscriber
from entitlements.money import format_ratio_fen
from entitlements.months import iso, months_between
from entitlements.policy import CreditRules
from entitlements.scored import Scalar, Scored, excluded


def completed_years(joined_on: date, on: date) -> int:
    """T5.2: whole years in the network on ``on`` (an anniversary completes a year)."""
    years = on.year - joined_on.year
    if (on.month, on.day) < (joined_on.month, joined_on.day):
        years -= 1
    return max(years, 0)


def rate_credit(
    rules: CreditRules, sub: Subscriber, bills: BillHistory, month: int, run_date: date
) -> Scored:
    """T5.1–T5.5: the credit-star score and level."""
    elig = rules.eligibility
    inputs: dict[str, Scalar] = {
        "service_type": sub.service_type,
        "brand": sub.brand,
        "joined_on": iso(sub.joined_on),
        "suspensions": sub.suspensions,
    }
    why = excluded(elig, sub)
    if why is not None:
        return Scored(False, "no_star", [elig.rule], inputs, {}, None, [why])
    brand = sub.brand.strip().lower()
    brand_points = rules.brand_points.get(brand, rules.other_brand_points)
    years = completed_years(sub.joined_on, run_date)
    tenure_band = rules.tenure_points.lookup(years)
    tenure_points = 0 if tenure_band is None else tenure_band.value
    join_month = sub.joined_on.year * 12 + sub.joined_on.month - 1
    first, last = average_window(rules.spend_months, month, join_month, rules.before_joining == "skip")
    count = max(last - first + 1, 0)
    total = billed_total(bills, first, last)
    spend_band = rules.spend_points.lookup(total, count) if count else rules.spend_points.lookup(0)
    spend_points = 0 if spend_band is None else spend_band.value
    suspension_points = sub.suspensions * rules.suspension_points
    score = brand_points + tenure_points + spend_points + suspension_points
    ladder = rules.ladder
    level, _bound = ladder.level_of(score)
    figures: dict[str, Scalar] = {
        "brand_points": brand_points,
        "tenure_years": years,
        "tenure_points": tenure_points,
        "months": months_between(first, last) if count else None,
        "n_months": count,
        "billed_fen": total,
        "average_yuan": format_ratio_fen(total, count),
        "spend_points": spend_points,
        "suspension_points": suspension_points,
        "score": score,
    }
    nxt: dict[str, Scalar] | None = None
    step = ladder.next_above(level)
    if step is not None:
        needed = step[1] + (0 if ladder.inclusive else 1)
        nxt = {"level": step[0], "score": needed, "points_more": max(needed - score, 0)}
    rule_ids = [
        elig.rule,
        rules.brand_rule,
        rules.tenure_points.rule,
        rules.spend_points.rule,
        rules.suspension_rule,
        ladder.rule,
    ]
    return Scored(True, level, rule_ids, inputs, figures, nxt, [])
