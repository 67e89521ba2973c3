"""A1/A2: the hotline agents' own stars (客服一星到五星, S26–45, S160–179).

An agent holds one to five stars. The star imported with the agent (A1) is in force until
the first monthly rating; ``callgate agents rate --month M`` then rates every agent with
QA evaluations in M: the score is the weighted mean of that month's evaluations over the
five criteria of S168–172 (attitude, accuracy, speed, skill, teamwork; weights are policy
data, equal by default), cut into stars by the policy's thresholds (S278: ≥ 90 five,
≥ 80 four, ≥ 70 three, ≥ 60 two, else one). The star takes effect on the 1st of M+1; an
agent without an evaluation in M keeps the star they have. Every rating is explained in
Chinese and English, like a customer's tier, and kept (one row per agent and month).

Scores are exact: milli-points in, a fraction compared with the thresholds, rounded
half-up to two decimals only for display.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from fractions import Fraction
from typing import Any, Final

from entitlements.errors import EntitlementsError
from entitlements.months import Month, iso, zh_date
from entitlements.policy import AgentRatingRules

#: The QA criteria (S168–172), in the column order of `callgate import qa`.
CRITERIA: Final[tuple[str, ...]] = ("attitude", "accuracy", "speed", "skill", "teamwork")
CRITERION_NAMES: Final[dict[str, tuple[str, str]]] = {
    "attitude": ("服务态度", "attitude"),
    "accuracy": ("回答准确", "accuracy"),
    "speed": ("响应速度", "speed"),
    "skill": ("服务能力", "skill"),
    "teamwork": ("团队协作", "teamwork"),
}
STAR_NAMES: Final[dict[int, tuple[str, str]]] = {
    5: ("五星", "five stars"),
    4: ("四星", "four stars"),
    3: ("三星", "three stars"),
    2: ("二星", "two stars"),
    1: ("一星", "one star"),
}
FORMAT: Final = 1


@dataclass(frozen=True, slots=True)
class QaEvaluation:
    """One QA evaluation of an agent: each criterion's score in milli-points (0–100 000)."""

    agent_id: str
    evaluated_on: date
    scores: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class AgentRating:
    """The outcome of rating one agent for one month (A2)."""

    agent_id: str
    month: Month
    star: int
    previous_star: int
    score_hundredths: int
    evaluations: int
    effective_from: date
    explanation: dict[str, Any]

    @property
    def change(self) -> str:
        """``raised``, ``lowered`` or ``unchanged`` against the star held before."""
        if self.star > self.previous_star:
            return "raised"
        return "lowered" if self.star < self.previous_star else "unchanged"


def _hundredths(value: Fraction) -> int:
    """Milli-points as hundredths of a point, rounded half-up (display only)."""
    scaled = value / 10  # milli-points → hundredths
    return int(scaled + Fraction(1, 2)) if scaled >= 0 else -int(-scaled + Fraction(1, 2))


def _points(hundredths: int) -> str:
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _milli_points(milli: int) -> str:
    whole, frac = divmod(milli, 1000)
    return f"{whole}" if frac == 0 else f"{whole}.{frac:03d}".rstrip("0")


def rate_agent(
    rules: AgentRatingRules,
    month: Month,
    agent_id: str,
    evaluations: Sequence[QaEvaluation],
    previous_star: int,
) -> AgentRating | None:
    """A2: the agent's star from the QA evaluations of ``month``; ``None`` when there is none
    (the agent keeps ``previous_star``). Raises for an evaluation of another agent or month."""
    if not evaluations:
        return None
    weight_total = sum(rules.weights.values())
    numerator = 0
    sums = dict.fromkeys(CRITERIA, 0)
    for e in evaluations:
        if e.agent_id != agent_id or Month.of(e.evaluated_on) != month:
            raise EntitlementsError(
                f"an evaluation of {e.agent_id} on {e.evaluated_on} is not one of {month}"
            )
        for criterion in CRITERIA:
            score = e.scores[criterion]
            sums[criterion] += score
            numerator += rules.weights[criterion] * score
    denominator = weight_total * len(evaluations)
    level, _ = rules.ladder.level_of(numerator, denominator)
    star = int(level)
    score = _hundredths(Fraction(numerator, denominator))
    effective_from = (month + 1).first_day
    thresholds = {
        int(lvl): bound for lvl, bound in zip(rules.ladder.levels, rules.ladder.bounds, strict=True)
    }
    above = rules.ladder.next_above(level)
    explanation: dict[str, Any] = {
        "v": FORMAT,
        "agent_id": agent_id,
        "month": str(month),
        "evaluations": len(evaluations),
        "criteria": {c: _points(_hundredths(Fraction(sums[c], len(evaluations)))) for c in CRITERIA},
        "weights": {c: _milli_points(rules.weights[c]) for c in CRITERIA},
        "score": _points(score),
        "thresholds": {str(s): _milli_points(b) for s, b in thresholds.items()},
        "inclusive": rules.ladder.inclusive,
        "star": star,
        "previous_star": previous_star,
        "effective_from": iso(effective_from),
        "rules": [rules.rule, rules.ladder.rule] if rules.ladder.rule != rules.rule else [rules.rule],
    }
    if above is not None:
        next_level, bound = above
        # The gap to the next star (milli-points), shown in hundredths rounded up: reaching it is enough.
        gap = Fraction(bound) - Fraction(numerator, denominator)
        gap_hundredths = -(-gap.numerator // (gap.denominator * 10))
        explanation["next"] = {"star": int(next_level), "points": _points(max(gap_hundredths, 0))}
    return AgentRating(
        agent_id, month, star, previous_star, score, len(evaluations), effective_from, explanation
    )


def render(explanation: Mapping[str, Any] | None, star: int, lang: str = "zh") -> str:
    """A2: the plain-language reason for an agent's star (``None``: the imported star, A1)."""
    zh = lang != "en"
    if not explanation:
        if zh:
            return f"{STAR_NAMES[star][0]}：导入坐席时给定的星级（A1），在首次月度评定生效前有效。"
        return (
            f"{STAR_NAMES[star][1]}: the star given when the agent was imported (A1), "
            "until the first monthly rating."
        )
    if explanation.get("v") != FORMAT:
        raise EntitlementsError(f"unknown agent rating explanation format {explanation.get('v')!r}")
    month = Month.parse(str(explanation["month"]))
    effective = date.fromisoformat(str(explanation["effective_from"]))
    criteria = explanation["criteria"]
    weights = explanation["weights"]
    equal = len(set(weights.values())) == 1
    thresholds = explanation["thresholds"]
    cmp = "≥" if explanation.get("inclusive", True) else ">"
    given = int(explanation["star"])
    rules = "、".join(explanation["rules"]) if zh else ", ".join(explanation["rules"])
    if zh:
        parts = "、".join(f"{CRITERION_NAMES[c][0]} {criteria[c]}" for c in CRITERIA)
        weighting = (
            "各项权重相同"
            if equal
            else "权重 " + "、".join(f"{CRITERION_NAMES[c][0]} {weights[c]}" for c in CRITERIA)
        )
        cut = "，".join(f"{STAR_NAMES[int(s)][0]}{cmp}{v}" for s, v in thresholds.items())
        text = (
            f"{month.year}年{month.month}月共 {explanation['evaluations']} 次质检评估，"
            f"各项平均分：{parts}（{weighting}），加权平均分 {explanation['score']} 分。"
            f"按阈值（{cut}，其余一星）评为{STAR_NAMES[given][0]}，自{zh_date(effective)}起生效（{rules}）。"
        )
        nxt = explanation.get("next")
        if nxt:
            text += f"再提高 {nxt['points']} 分可评为{STAR_NAMES[int(nxt['star'])][0]}。"
        return text
    parts = ", ".join(f"{CRITERION_NAMES[c][1]} {criteria[c]}" for c in CRITERIA)
    weighting = (
        "equal weights"
        if equal
        else "weights " + ", ".join(f"{CRITERION_NAMES[c][1]} {weights[c]}" for c in CRITERIA)
    )
    cut = ", ".join(f"{STAR_NAMES[int(s)][1]} {cmp} {v}" for s, v in thresholds.items())
    text = (
        f"{explanation['evaluations']} QA evaluation(s) in {month}: mean scores {parts} ({weighting}); "
        f"weighted mean {explanation['score']}. Thresholds ({cut}, else one star) give "
        f"{STAR_NAMES[given][1]}, effective {iso(effective)} ({rules})."
    )
    nxt = explanation.get("next")
    if nxt:
        text += f" {nxt['points']} more points would give {STAR_NAMES[int(nxt['star'])][1]}."
    return text
