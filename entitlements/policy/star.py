"""The ``[star]`` section (T1): eligibility, tenure, ARPU, tenure score, yearly thresholds."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from entitlements.model import FLAGS, LEVELS
from entitlements.policy.common import read_bands, read_eligibility, read_validity, whole_points
from entitlements.policy.reader import RULE_ID, Node
from entitlements.policy.schema import Ladder, StarRules, ThresholdSet


def read_star(node: Node) -> StarRules:
    """``[star]`` (T1): eligibility, tenure, ARPU, tenure scores, threshold sets, special levels."""
    eligibility = read_eligibility(node.table("eligibility"), "T1")
    tenure = node.table("tenure")
    tenure_rule = tenure.rule("T1")
    min_tenure = tenure.integer("min_months", minimum=1)
    tenure.done()
    arpu = node.table("arpu")
    arpu_rule = arpu.rule("T1")
    arpu_months = arpu.integer("months", minimum=1)
    points_per_yuan = arpu.integer("points_per_yuan", minimum=1)
    arpu.done()
    score_node = node.table("tenure_score")
    score = read_bands(
        score_node,
        "bands",
        "score",
        whole_points,
        lambda n, k: n.milli(k),
        floor=min_tenure,
    )
    score_node.done()
    top = max(b.lo for b in score.bands if b.lo is not None)
    by_month = []
    for months in range(top + 1):
        band = score.lookup(max(months, min_tenure))
        by_month.append(0 if band is None else band.value)
    th_node = node.table("thresholds")
    th_rule = th_node.rule("T1")
    inclusive = th_node.boolean("lower_bound_inclusive")
    sets: list[ThresholdSet] = []
    value_levels = ("five_star", "four_star", "three_star", "two_star", "one_star")
    for set_node in th_node.tables("sets"):
        valid_from = set_node.month("valid_from")
        if set_node.has("rule"):
            set_node.rule("T1")
        ladder = _ladder_plain(
            set_node, "star", value_levels[:-1], lambda n, k: n.milli(k), inclusive, th_rule
        )
        if sets and valid_from <= sets[-1].valid_from:
            set_node.fail("valid_from", "threshold sets must be in increasing valid_from order")
        sets.append(ThresholdSet(valid_from, _with_bottom(ladder, "one_star")))
        set_node.done()
    th_node.done()
    special = node.table("special_levels")
    special_rule = special.rule("T1")
    special_tenure_rule = special.text("tenure_rule", default=tenure_rule)
    if not RULE_ID.match(special_tenure_rule):
        special.fail("tenure_rule", f"{special_tenure_rule!r} is not a SPEC rule ID")
    specials = []
    for level in ("vip_guest", "loyal"):
        if special.has(level):
            criteria = special.table(level)
            specials.append((level, criteria.codes("flags_any", FLAGS)))
            criteria.done()
    special.done()
    validity = read_validity(node.table("validity"), "star")
    node.done()
    return StarRules(
        eligibility=eligibility,
        min_tenure_months=min_tenure,
        tenure_rule=tenure_rule,
        arpu_months=arpu_months,
        points_per_yuan=points_per_yuan,
        arpu_rule=arpu_rule,
        tenure_score=score,
        tenure_score_by_month=tuple(by_month),
        threshold_sets=tuple(sets),
        special_levels=tuple(specials),
        special_rule=special_rule,
        special_tenure_rule=special_tenure_rule,
        validity=validity,
    )


def _ladder_plain(
    node: Node,
    scheme: str,
    levels: Iterable[str],
    read: Callable[[Node, str], int],
    inclusive: bool,
    rule: str,
) -> Ladder:
    """Like ``read_ladder`` for a table whose rule and inclusivity live on its parent."""
    names: list[str] = []
    bounds: list[int] = []
    for level in levels:
        if not node.has(level):
            node.fail(level, f"missing level {level!r}")
        bound = read(node, level)
        if bounds and bound >= bounds[-1]:
            node.fail(
                level,
                f"thresholds must fall from level to level: {level} ({bound}) is not below "
                f"{names[-1]} ({bounds[-1]})",
            )
        names.append(level)
        bounds.append(bound)
    return Ladder(tuple(names), tuple(bounds), inclusive, LEVELS[scheme][-1], rule)


def _with_bottom(ladder: Ladder, bottom: str) -> Ladder:
    return Ladder(ladder.levels, ladder.bounds, ladder.inclusive, bottom, ladder.rule)
