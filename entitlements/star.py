"""T1: China Unicom value stars — ARPU score × tenure score cut by national thresholds."""

from __future__ import annotations

from functools import lru_cache

from entitlements.bills import billed_total
from entitlements.model import RANK, BillHistory, Subscriber
from entitlements.money import half_up_div
from entitlements.months import Month, iso, months_between
from entitlements.policy import Ladder, StarRules, ThresholdSet
from entitlements.scored import Scalar, Scored, excluded, milli_text


def tenure_months(joined_on_month: int, evaluation_month: int) -> int:
    """T1.3: natural months in the network, the joining month being month 1."""
    return evaluation_month - joined_on_month + 1


def arpu_yuan(total_fen: int, months: int) -> int:
    """T1.4: the average of ``months`` bills in whole yuan, rounded half-up (312.5 → 313)."""
    if months <= 0:
        return 0
    return half_up_div(total_fen, months * 100)


def _next_step(ladder: Ladder, level: str, arpu: int, per_yuan_milli: int) -> dict[str, Scalar] | None:
    """T1.6/T1.7: the next level up and the ARPU it needs at today's tenure score."""
    step = ladder.next_above(level)
    if step is None or per_yuan_milli <= 0:
        return None
    target, bound = step
    # value = arpu × per_yuan_milli must reach the bound (or pass it when exclusive).
    needed = -(-bound // per_yuan_milli) if ladder.inclusive else bound // per_yuan_milli + 1
    return {"level": target, "arpu_yuan": needed, "arpu_yuan_more": max(needed - arpu, 0)}


@lru_cache(maxsize=512)
def _context(rules: StarRules, month: int) -> tuple[ThresholdSet, str, tuple[str, ...]] | None:
    """T1.7 for a month: the threshold set, its label and the rules that rate by value.

    Cached: the batch asks once per month and policy, not once per subscriber.
    """
    chosen = rules.thresholds_for(Month(month))
    if chosen is None:
        return None
    cited = (
        rules.eligibility.rule,
        rules.tenure_rule,
        rules.arpu_rule,
        rules.tenure_score.rule,
        "T1.6",
        chosen.ladder.rule,
    )
    return chosen, str(chosen.valid_from), cited


def rate_star(rules: StarRules, sub: Subscriber, bills: BillHistory, month: int) -> Scored:
    """T1.2–T1.8: the star level the figures (and the special rule) give in ``month``."""
    elig = rules.eligibility
    joined = sub.joined_on
    inputs: dict[str, Scalar] = {
        "service_type": sub.service_type,
        "network": sub.network,
        "joined_on": iso(joined),
    }
    flags = sub.flags
    if (
        sub.service_type not in elig.service_types
        or (elig.networks is not None and sub.network not in elig.networks)
        or sub.payment_mode in elig.excluded_payment_modes
        or (flags and not flags.isdisjoint(elig.excluded_flags))
    ):
        why = excluded(elig, sub) or "excluded"
        if why.startswith("flag:"):
            inputs["flags"] = why[5:]
        return Scored(False, "unrated", [elig.rule], inputs, {}, None, [why])

    tenure = month - (joined.year * 12 + joined.month - 1) + 1  # T1.3, as tenure_months()
    figures: dict[str, Scalar] = {"tenure_months": tenure}
    special = None
    if sub.flags:
        for level, flags in rules.special_levels:
            if sub.flags & flags:
                special = level
                inputs["flags"] = ";".join(sorted(sub.flags & flags))
                break

    if tenure < rules.min_tenure_months:
        # C3: VIP guests and loyal customers, like every star, start at tenure month 7.
        rule_ids = [elig.rule, rules.tenure_rule]
        if special is not None:
            rule_ids.append(rules.special_tenure_rule)
        return Scored(False, "unrated", rule_ids, inputs, figures, None, ["tenure"])

    # T1.4: the last 12 months before M, or from the joining month when shorter.
    n = min(rules.arpu_months, tenure - 1)
    total = billed_total(bills, month - n, month - 1)
    arpu = arpu_yuan(total, n)
    table = rules.tenure_score_by_month
    score = table[tenure] if tenure < len(table) else table[-1]
    per_yuan = rules.points_per_yuan * score
    value = arpu * per_yuan
    context = _context(rules, month)
    if context is None:
        return Scored(False, "unrated", [elig.rule, "T1.7"], inputs, figures, None, ["no_thresholds"])
    chosen, thresholds_from, cited = context
    ladder = chosen.ladder
    level, bound = ladder.level_of(value)
    figures = {
        "tenure_months": tenure,
        "months": months_between(month - n, month - 1),
        "n_months": n,
        "billed_fen": total,
        "arpu_yuan": arpu,
        "tenure_score": milli_text(score),
        "value": milli_text(value),
        "threshold": None if bound is None else milli_text(bound),
        "thresholds_from": thresholds_from,
    }
    rule_ids = list(cited)
    nxt = _next_step(ladder, level, arpu, per_yuan)
    if special is not None and _above(special, level):
        figures["special"] = special
        figures["value_level"] = level
        rule_ids.append(rules.special_rule)
        level = special
        nxt = None
    return Scored(True, level, rule_ids, inputs, figures, nxt, [])


def _above(special: str, value_level: str) -> bool:
    """T1.8 display order: a special level counts when it ranks above the value level."""
    star = RANK["star"]
    return star[special] > star[value_level]
