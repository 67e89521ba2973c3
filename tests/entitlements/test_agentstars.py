"""A2 — the agents' monthly star from QA evaluations, explained in Chinese and English."""

from __future__ import annotations

from datetime import date

import pytest

from entitlements.agentstars import CRITERIA, QaEvaluation, rate_agent, render
from entitlements.errors import EntitlementsError
from entitlements.months import Month
from entitlements.policy import parse_policy
from tests.entitlements.helpers import P2015
from tests.entitlements.test_policy import edit

RULES = P2015.agents.rating
NOVEMBER = Month.parse("2026-11")


def qa(day: str, *scores: float, agent: str = "A1001") -> QaEvaluation:
    """One evaluation: the five criteria's scores in column order."""
    return QaEvaluation(
        agent, date.fromisoformat(day), {c: round(s * 1000) for c, s in zip(CRITERIA, scores, strict=True)}
    )


@pytest.mark.parametrize(
    ("evaluations", "star", "score"),
    [
        pytest.param([qa("2026-11-03", 90, 90, 90, 90, 90)], 5, 9000, id="exactly 90 is five stars (S278, bound inclusive)"),
        pytest.param([qa("2026-11-03", 90, 90, 90, 90, 89.95)], 4, 8999, id="89.99 is four stars"),
        pytest.param([qa("2026-11-03", 95, 85, 80, 82, 78)], 4, 8400, id="a mean of 84 is four stars"),
        pytest.param(
            [qa("2026-11-03", 80, 70, 70, 70, 70), qa("2026-11-28", 60, 60, 60, 60, 60)], 2, 6600,
            id="the month's evaluations are averaged: 72 and 60 give 66, two stars",
        ),
        pytest.param([qa("2026-11-10", 70, 70, 70, 70, 70)], 3, 7000, id="70 is three stars"),
        pytest.param(
            [qa("2026-11-10", 59.99, 60, 60, 60, 60)], 1, 6000,
            id="59.998 shows as 60.00 but is below 60: one star (the exact score decides)",
        ),
        pytest.param([qa("2026-11-10", 50, 55, 40, 60, 45)], 1, 5000, id="below 60 is one star"),
    ],
)  # fmt: skip
def test_stars_from_a_month_of_qa_rows(evaluations: list[QaEvaluation], star: int, score: int) -> None:
    # rule A2: weighted mean of the month's evaluations (equal weights by default), S278 thresholds
    rating = rate_agent(RULES, NOVEMBER, "A1001", evaluations, previous_star=3)
    assert rating is not None
    assert (rating.star, rating.score_hundredths) == (star, score)
    assert rating.effective_from == date(2026, 12, 1)  # the 1st of the next month
    assert rating.evaluations == len(evaluations)


def test_an_agent_without_an_evaluation_keeps_their_star() -> None:
    # rule A2: "an agent with no evaluation keeps their star"
    assert rate_agent(RULES, NOVEMBER, "A1001", [], previous_star=4) is None


def test_weights_are_policy_data() -> None:
    # rule A2: attitude counted three times as much as each other criterion
    text = edit(
        "unicom-2015",
        "weights = { attitude = 1, accuracy = 1, speed = 1, skill = 1, teamwork = 1 }",
        "weights = { attitude = 3, accuracy = 1, speed = 1, skill = 1, teamwork = 1 }",
    )
    rules = parse_policy(text).agents.rating
    evaluations = [qa("2026-11-03", 100, 80, 80, 80, 80)]
    equal = rate_agent(RULES, NOVEMBER, "A1001", evaluations, 3)
    weighted = rate_agent(rules, NOVEMBER, "A1001", evaluations, 3)
    assert equal is not None and weighted is not None
    assert (equal.star, equal.score_hundredths) == (4, 8400)
    assert (weighted.star, weighted.score_hundredths) == (4, 8857)  # (300 + 320) / 7 = 88.571…


def test_the_rating_is_explained_in_chinese_and_english() -> None:
    # rule A2: explained like a tier — inputs, figures, thresholds, effective date, what the next star needs
    rating = rate_agent(
        RULES, NOVEMBER, "A1001",
        [qa("2026-11-03", 90, 85, 88, 86, 88), qa("2026-11-20", 92, 80, 85.5, 90, 85)], previous_star=3,
    )  # fmt: skip
    assert rating is not None
    assert (rating.star, rating.change) == (4, "raised")
    zh = render(rating.explanation, rating.star, "zh")
    assert "2026年11月共 2 次质检评估" in zh
    assert "服务态度 91.00" in zh and "加权平均分 86.95 分" in zh
    assert "五星≥90，四星≥80，三星≥70，二星≥60，其余一星" in zh
    assert "评为四星，自2026年12月1日起生效（A2）" in zh
    assert "再提高 3.05 分可评为五星" in zh
    en = render(rating.explanation, rating.star, "en")
    assert "weighted mean 86.95" in en and "four stars, effective 2026-12-01 (A2)" in en
    assert "3.05 more points would give five stars" in en


def test_the_imported_star_is_explained_too() -> None:
    # rule A1: the star of the import holds until the first monthly rating
    assert "导入坐席时给定的星级（A1）" in render(None, 3, "zh")
    assert render(None, 3, "en").startswith("three stars: the star given when the agent was imported (A1)")


def test_an_evaluation_of_another_month_is_refused() -> None:
    # rule A2: "that month's evaluations" only
    with pytest.raises(EntitlementsError):
        rate_agent(RULES, NOVEMBER, "A1001", [qa("2026-10-31", 90, 90, 90, 90, 90)], 3)
