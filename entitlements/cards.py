"""T2/T3: VIP cards by the exact average billed amount, with the Henan special rules."""

from __future__ import annotations

from entitlements.bills import average_window, billed_total
from entitlements.model import RANK, BillHistory, Subscriber
from entitlements.money import format_fen, format_ratio_fen
from entitlements.months import iso, months_between
from entitlements.policy import CardRules, Segment
from entitlements.scored import Scalar, Scored, excluded


def segment_for(rules: CardRules, sub: Subscriber) -> Segment | None:
    """T2.1/T2.2/T3.1: the band set for the subscriber's service type and network."""
    for segment in rules.segments:
        if sub.service_type in segment.service_types and (
            segment.networks is None or sub.network in segment.networks
        ):
            return segment
    return None


def contract_card(rules: CardRules, plan: int | None) -> str | None:
    """T3.3: the card a contract plan's monthly fee gives at joining (``None``: no card)."""
    if plan is None:
        return None
    for minimum, level in rules.contract_at_least:
        if plan >= minimum:
            return level
    return rules.contract_exact.get(plan)


def lucky_card(rules: CardRules, lucky_class: int | None) -> str | None:
    """T3.2: the card a lucky-number class gives at joining (``None``: no card)."""
    if lucky_class is None:
        return None
    return rules.lucky_classes.get(lucky_class)


def lucky_network_ok(rules: CardRules, sub: Subscriber) -> bool:
    """C1 (T3.2): whether the subscriber's network may have a lucky-number card (3G only)."""
    return rules.lucky_networks is None or sub.network in rules.lucky_networks


def contract_network_ok(rules: CardRules, sub: Subscriber) -> bool:
    """C1 (T3.3): whether the subscriber's network may have a contract-plan card (3G only)."""
    return rules.contract_networks is None or sub.network in rules.contract_networks


def rate_card(rules: CardRules, sub: Subscriber, bills: BillHistory, month: int) -> Scored:
    """T2.1–T2.3, T2.8, T3.1–T3.3, T3.6, C1: the card the figures give in ``month``."""
    elig = rules.eligibility
    joined = sub.joined_on
    inputs: dict[str, Scalar] = {
        "service_type": sub.service_type,
        "network": sub.network,
        "payment_mode": sub.payment_mode,
        "joined_on": iso(joined),
    }
    why = excluded(elig, sub)
    if why is not None:
        if why.startswith("flag:"):
            inputs["flags"] = why[5:]
        rule = elig.rule if why.startswith("service_type") else elig.exclusion_rule
        return Scored(False, "none", [rule], inputs, {}, None, [why])

    ranks = RANK["vip_card"]
    join_month = joined.year * 12 + joined.month - 1
    tenure = month - join_month + 1
    figures: dict[str, Scalar] = {"tenure_months": tenure}
    rule_ids = [elig.exclusion_rule] if elig.exclusion_rule != elig.rule else []
    rule_ids.insert(0, elig.rule)
    best = "none"
    rated = False
    nxt: dict[str, Scalar] | None = None
    notes: list[str] = []

    # T3.2 / T3.3: cards at joining, whatever the tenure; C1: for 3G users only, the others
    # are rated by the average bill (T3.1) like everyone else.
    if sub.service_type == "mobile":
        lucky = lucky_card(rules, sub.lucky_class)
        if lucky is not None:
            inputs["lucky_class"] = sub.lucky_class
            if lucky_network_ok(rules, sub):
                figures["lucky_level"] = lucky
                rule_ids.append(rules.lucky_rule)
                rated = True
                best = lucky
            else:
                rule_ids.append(rules.lucky_network_rule)
                notes.append("lucky_network")
        contract = contract_card(rules, sub.contract_plan)
        if contract is not None:
            inputs["contract_plan"] = sub.contract_plan
            if contract_network_ok(rules, sub):
                figures["contract_level"] = contract
                rule_ids.append(rules.contract_rule)
                rated = True
                if ranks[contract] > ranks[best]:
                    best = contract
            else:
                rule_ids.append(rules.contract_network_rule)
                notes.append("contract_network")

    segment = segment_for(rules, sub)
    if tenure < rules.min_tenure_months:
        notes.append("tenure")
        rule_ids.append(rules.tenure_rule)
    elif segment is None:
        notes.append(f"segment:{sub.service_type}")
    else:
        rated = True
        skip = rules.before_joining == "skip"
        first, last = average_window(rules.average_months, month, join_month, skip)
        count = last - first + 1
        total = billed_total(bills, max(first, join_month), last)
        ladder = segment.ladder
        level, bound = ladder.level_of(total, count) if count > 0 else ("none", None)
        figures["segment"] = segment.name
        figures["months"] = months_between(first, last)
        figures["n_months"] = count
        figures["billed_fen"] = total
        figures["average_yuan"] = format_ratio_fen(total, count)
        figures["threshold_yuan"] = None if bound is None else format_fen(bound)
        figures["average_level"] = level
        if rules.min_tenure_months:
            rule_ids.append(rules.tenure_rule)
        rule_ids.append(rules.average_rule)
        rule_ids.append(ladder.rule)
        supreme = rules.supreme
        if (
            supreme is not None
            and count > 0
            and supreme.required_flags <= sub.flags
            and total >= supreme.min_average_fen * count
        ):
            level = "supreme"
            figures["supreme"] = True
            rule_ids.append(supreme.rule)
        if ranks[level] > ranks[best]:
            best = level
        step = ladder.next_above(best) if count > 0 and best in ranks else None
        if step is not None and best != "supreme":
            target, target_bound = step
            needed_total = target_bound * count + (0 if ladder.inclusive else 1)
            more = max(needed_total - total, 0)
            nxt = {
                "level": target,
                "average_yuan": format_fen(target_bound),
                "average_yuan_more": format_fen(-(-more // count)),
            }
    return Scored(rated, best, rule_ids, inputs, figures, nxt, notes)
