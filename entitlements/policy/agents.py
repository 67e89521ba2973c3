"""The ``[agents]`` section (SPEC §9): the hotline's own agents — their monthly star rating
(A2), the agent star each customer level needs and how it relaxes while a call waits (A3),
the queue's score (A4) and how its service level is counted (Q5)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from entitlements.model import LEVELS
from entitlements.policy.reader import Node
from entitlements.policy.schema import (
    AgentRatingRules,
    AgentRules,
    Ladder,
    Matching,
    RelaxStep,
    ServiceLevelRules,
)

#: The five QA criteria of the seed (S168–172), the columns of `callgate import qa`.
CRITERIA = ("attitude", "accuracy", "speed", "skill", "teamwork")
#: Agent stars, one to five (S26–45).
STARS = (1, 2, 3, 4, 5)
#: The rating ladder's levels (highest first) and its bottom, as the threshold keys name them.
_LADDER = (("five", "5"), ("four", "4"), ("three", "3"), ("two", "2"))


def _star(node: Node, key: str) -> int:
    value = node.integer(key, minimum=1)
    if value > 5:
        node.fail(key, f"an agent star is 1 to 5, got {value}")
    return value


def read_rating(node: Node) -> AgentRatingRules:
    """``[agents.rating]`` (A2): criterion weights and ``[agents.rating.thresholds]``."""
    rule = node.rule("A2")
    weights_node = node.table("weights")
    weights: dict[str, int] = {}
    for criterion in CRITERIA:
        weight = weights_node.milli(criterion)
        if weight < 0:
            weights_node.fail(criterion, "a weight is ≥ 0")
        weights[criterion] = weight
    weights_node.done()
    if sum(weights.values()) <= 0:
        node.fail("weights", "at least one criterion needs a positive weight")
    thresholds = node.table("thresholds")
    threshold_rule = thresholds.rule("A2")
    inclusive = thresholds.boolean("lower_bound_inclusive")
    bounds = []
    for key, _ in _LADDER:
        bound = thresholds.milli(key)
        if not 0 <= bound <= 100_000:
            thresholds.fail(key, "a threshold is a score between 0 and 100")
        bounds.append(bound)
    thresholds.done()
    if any(a <= b for a, b in itertools.pairwise(bounds)):
        node.fail("thresholds", "thresholds must fall from five stars to two")
    node.done()
    ladder = Ladder(tuple(level for _, level in _LADDER), tuple(bounds), inclusive, "1", threshold_rule)
    return AgentRatingRules(weights, ladder, rule)


def read_matching(node: Node, queue: Node, schemes: Iterable[str]) -> Matching:
    """``[agents.matching]`` (A3): per scheme and level the minimum agent star, ``unknown``
    for callers without a level, the ``relax`` steps; ``[agents.queue]`` (A4) the score."""
    rule = node.rule("A3")
    unknown = _star(node, "unknown")
    steps: list[RelaxStep] = []
    for step in node.tables("relax"):
        after = step.integer("after_s", minimum=1)
        has_drop, has_to = step.has("drop"), step.has("to")
        if has_drop == has_to:
            step.fail(None, "a relax step has exactly one of drop (stars) or to (a star)")
        drop = step.integer("drop", minimum=1) if has_drop else None
        to = _star(step, "to") if has_to else None
        step.done()
        steps.append(RelaxStep(after, drop, to))
    if any(a.after_s >= b.after_s for a, b in itertools.pairwise(steps)):
        node.fail("relax", "relax steps come in rising order of after_s")
    levels: dict[str, dict[str, int]] = {}
    for scheme in schemes:
        sub = node.table(scheme)
        sub.rule("A3")
        per_level: dict[str, int] = {}
        for level in LEVELS[scheme]:
            if not sub.has(level):
                sub.fail(level, f"missing level {level!r}")
            per_level[level] = _star(sub, level)
        ranks = [per_level[level] for level in LEVELS[scheme]]
        if any(a < b for a, b in itertools.pairwise(ranks)):
            sub.fail(None, "a lower customer level must not need a higher agent star (A3)")
        sub.done()
        levels[scheme] = per_level
    node.done()
    score_rule = queue.rule("A4")
    priority_seconds = queue.integer("priority_seconds", minimum=0)
    queue.done()
    return Matching(levels, unknown, tuple(steps), priority_seconds, rule, score_rule)


def read_service_level(node: Node) -> ServiceLevelRules:
    """``[agents.service_level]`` (Q5): threshold, short-abandon limit, the desk's target."""
    rule = node.rule("Q5")
    threshold = node.integer("threshold_s", minimum=1)
    short = node.integer("short_abandon_s", minimum=0)
    target = node.milli("target")
    if not 0 < target < 1000:
        node.fail("target", "the target is a share between 0 and 1 (0.85 = 85 %)")
    node.done()
    return ServiceLevelRules(threshold, short, target, rule)


def read_agents(node: Node, schemes: Iterable[str]) -> AgentRules:
    """``[agents]`` (SPEC §9) with its sub-tables rating, matching, queue and service_level."""
    rule = node.rule("A1")
    rating = read_rating(node.table("rating"))
    matching = read_matching(node.table("matching"), node.table("queue"), schemes)
    service_level = read_service_level(node.table("service_level"))
    node.done()
    return AgentRules(rating, matching, service_level, rule)
