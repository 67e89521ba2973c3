"""A3/A4 — which agent star a caller needs, how it relaxes, and which call a free agent takes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from entitlements.errors import PolicyError
from entitlements.matching import (
    Head,
    choose,
    latest_enqueued,
    min_agent_star,
    relax_schedule,
    required_star,
    score_ms,
    skill,
)
from entitlements.model import Tier
from entitlements.policy import parse_policy
from tests.entitlements.helpers import P2015, PCREDIT, PCUM
from tests.entitlements.test_policy import edit

MATCHING = P2015.agents.matching
S = 1000  # milliseconds


@pytest.mark.parametrize(
    ("policy", "scheme", "level", "star"),
    [
        pytest.param(P2015, "star", "five_star", 4, id="a five-star customer needs a four-star agent"),
        pytest.param(P2015, "star", "vip_guest", 4, id="a VIP guest needs a four-star agent"),
        pytest.param(P2015, "vip_card", "supreme", 4, id="a supreme card needs a four-star agent"),
        pytest.param(P2015, "vip_card", "diamond", 4, id="a diamond card needs a four-star agent"),
        pytest.param(P2015, "vip_card", "gold", 3, id="a gold card needs a three-star agent"),
        pytest.param(P2015, "star", "four_star", 3, id="a four-star customer needs a three-star agent"),
        pytest.param(P2015, "star", "loyal", 3, id="a loyal customer needs a three-star agent"),
        pytest.param(P2015, "star", "three_star", 1, id="a three-star customer takes any agent"),
        pytest.param(P2015, "star", "unrated", 1, id="an unrated customer takes any agent"),
        pytest.param(P2015, "vip_card", "silver", 1, id="a silver card takes any agent"),
        pytest.param(PCUM, "membership", "diamond", 4, id="a diamond member needs a four-star agent"),
        pytest.param(PCREDIT, "credit_star", "five_star", 4, id="a China Mobile five-star needs four stars"),
        pytest.param(PCREDIT, "credit_star", "no_star", 1, id="no credit star takes any agent"),
    ],
)
def test_minimum_agent_star_per_customer_level(policy: object, scheme: str, level: str, star: int) -> None:
    # rule A3 (policy data, default supreme/diamond/five-star/VIP-guest 4, gold/four-star/loyal 3)
    assert min_agent_star(policy, Tier(scheme, level, None)) == star  # type: ignore[arg-type]  # a Policy


def test_unknown_callers_and_foreign_schemes_need_the_unknown_star() -> None:
    # rule A3: callers without a level (unknown, or the default route of Q4) take any agent
    assert min_agent_star(P2015, None) == 1
    assert min_agent_star(P2015, Tier("membership", "diamond", None)) == 1


@pytest.mark.parametrize(
    ("base", "waited_ms", "star"),
    [
        pytest.param(4, 0, 4, id="a fresh five-star call needs four stars"),
        pytest.param(4, 20 * S - 1, 4, id="still four stars a millisecond before 20 s"),
        pytest.param(4, 20 * S, 3, id="one star less at exactly 20 s"),
        pytest.param(4, 40 * S - 1, 3, id="still three stars just before 40 s"),
        pytest.param(4, 40 * S, 1, id="one star at exactly 40 s"),
        pytest.param(3, 20 * S, 2, id="a gold call needs two stars at 20 s"),
        pytest.param(3, 40 * S, 1, id="and one star at 40 s"),
        pytest.param(1, 60 * S, 1, id="never below one star"),
    ],
)
def test_requirement_relaxes_while_the_call_waits(base: int, waited_ms: int, star: int) -> None:
    # rule A3: the requirement drops by 1 star at 20 s of waiting and to 1 at 40 s
    assert required_star(MATCHING, base, waited_ms) == star


def test_the_lookup_skill_carries_desk_requirement_and_relaxation() -> None:
    # rule A3: "skill": {"desk", "min_agent_star", "relax": [[20, 3], [40, 1]]}
    five = skill(P2015, Tier("star", "five_star", None), "vip").to_dict()
    assert five == {"desk": "vip", "min_agent_star": 4, "relax": [[20, 3], [40, 1]]}
    assert relax_schedule(MATCHING, 3) == ((20, 2), (40, 1))
    assert relax_schedule(MATCHING, 2) == ((20, 1),)  # the 40 s step lowers nothing more
    assert skill(P2015, None, "general").to_dict() == {"desk": "general", "min_agent_star": 1, "relax": []}


def head(desk: str, priority: int, enqueued_s: float, min_star: int = 1, call: str = "") -> Head:
    return Head(desk, min_star, priority, round(enqueued_s * S), call or f"{desk}-{priority}-{enqueued_s}")


VIP_GENERAL = ("vip", "general")


@pytest.mark.parametrize(
    ("heads", "star", "desks", "now_s", "chosen"),
    [
        pytest.param(
            [head("vip", 10, 100), head("vip", 30, 100)], 5, VIP_GENERAL, 100, "vip-30-100",
            id="a higher priority goes first when both arrive together",
        ),
        pytest.param(
            [head("general", 0, 69), head("vip", 30, 100)], 5, VIP_GENERAL, 100, "general-0-69",
            id="a general call that waited 31 s beats a fresh priority-30 VIP call (aging)",
        ),
        pytest.param(
            [head("general", 0, 71), head("vip", 30, 100)], 5, VIP_GENERAL, 100, "vip-30-100",
            id="a general call that waited 29 s does not",
        ),
        pytest.param(
            [head("vip", 30, 100), head("general", 0, 70)], 5, VIP_GENERAL, 100, "general-0-70",
            id="equal scores (30 s waited vs 30 s head start) go to the earlier arrival",
        ),
        pytest.param(
            [head("vip", 20, 50, call="late"), head("vip", 20, 40, call="early")], 5, VIP_GENERAL, 60, "early",
            id="within a priority, first come first served",
        ),
        pytest.param(
            [head("vip", 30, 100, 4), head("vip", 10, 95, 1)], 3, VIP_GENERAL, 100, "vip-10-95",
            id="a three-star agent cannot take a fresh five-star call and takes the silver one",
        ),
        pytest.param(
            [head("vip", 30, 80, 4), head("vip", 10, 95, 1)], 3, VIP_GENERAL, 100, "vip-30-80",
            id="after 20 s the five-star call needs three stars and goes first",
        ),
        pytest.param(
            [head("vip", 30, 81, 4)], 2, VIP_GENERAL, 100, None,
            id="a two-star agent waits for the 40 s relaxation",
        ),
        pytest.param(
            [head("vip", 30, 60, 4)], 1, VIP_GENERAL, 100, "vip-30-60",
            id="at 40 s any agent may take it",
        ),
        pytest.param(
            [head("vip", 40, 0), head("general", 0, 99)], 5, ("general",), 100, "general-0-99",
            id="an agent without the VIP desk never gets a VIP call",
        ),
        pytest.param([head("vip", 40, 0)], 5, ("general",), 100, None, id="nothing on the agent's desks: no call"),
        pytest.param([], 5, VIP_GENERAL, 100, None, id="nothing waiting: no call"),
    ],
)  # fmt: skip
def test_choice(
    heads: list[Head], star: int, desks: tuple[str, ...], now_s: float, chosen: str | None
) -> None:
    # rule A4 (score = waited + priority × priority_seconds, ties by enqueued_at) and rule A3
    got = choose(heads, star, desks, round(now_s * S), MATCHING)
    assert (got.call if got else None) == chosen


def test_priority_seconds_is_policy_data() -> None:
    # rule A4: priority_seconds = 0 in an override makes the desk first come first served
    fifo = replace(MATCHING, priority_seconds=0)
    heads = [head("vip", 30, 100), head("general", 0, 99)]
    assert choose(heads, 5, VIP_GENERAL, 100 * S, fifo).call == "general-0-99"  # type: ignore[union-attr]
    text = edit("unicom-2015", "priority_seconds = 1", "priority_seconds = 2")
    assert parse_policy(text).agents.matching.priority_seconds == 2
    assert score_ms(MATCHING, head("vip", 30, 90), 100 * S) == 40 * S


@pytest.mark.parametrize(
    ("old", "new", "key", "problem"),
    [
        pytest.param("five_star = 4\nvip_guest = 4", "five_star = 6\nvip_guest = 4", "agents.matching.star.five_star", "1 to 5", id="a six-star agent"),
        pytest.param("three_star = 1\ntwo_star = 1\none_star = 1\nunrated = 1", "three_star = 1\ntwo_star = 3\none_star = 1\nunrated = 1", "agents.matching.star", "must not need a higher", id="a lower level needing more"),
        pytest.param("{ after_s = 40, to = 1 }", "{ after_s = 10, to = 1 }", "agents.matching.relax", "rising order", id="relax steps out of order"),
        pytest.param("{ after_s = 20, drop = 1 }", "{ after_s = 20, drop = 1, to = 2 }", "agents.matching.relax[0]", "exactly one", id="a step that drops and sets"),
        pytest.param("four = 80\n", "four = 95\n", "agents.rating.thresholds", "must fall", id="thresholds that rise"),
        pytest.param("teamwork = 1 }", "teamwork = 1, smile = 1 }", "agents.rating.weights.smile", "unknown key", id="a criterion the QA import lacks"),
        pytest.param("target = 0.85", "target = 1.2", "agents.service_level.target", "between 0 and 1", id="a target above 100 %"),
    ],
)  # fmt: skip
def test_agent_policy_validation(old: str, new: str, key: str, problem: str) -> None:
    # rule A2 and rule A3 and rule Q5: the [agents] section is validated like every section
    with pytest.raises(PolicyError) as caught:
        parse_policy(edit("unicom-2015", old, new), label="p.toml")
    assert caught.value.key == key
    assert problem in caught.value.problem


calls = st.lists(
    st.tuples(
        st.sampled_from(VIP_GENERAL), st.sampled_from([0, 10, 20, 30, 40]),
        st.integers(0, 125_000), st.sampled_from([1, 3, 4]),  # a few "after now" (clock skew)
    ),
    min_size=1, max_size=12, unique_by=lambda c: (c[0], c[1], c[3]),
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(calls, st.integers(1, 5), st.integers(0, 60_000))
def test_choice_is_the_best_eligible_score_and_the_order_never_changes(
    spec: list[tuple[str, int, int, int]], star: int, later_ms: int
) -> None:
    # rule A4: the chosen head has the highest score among the heads the agent may take, and
    # two calls the agent may take keep their order while both wait (no call overtakes another)
    heads = [Head(d, m, p, e, i) for i, (d, p, e, m) in enumerate(spec)]
    now = 120_000
    got = choose(heads, star, VIP_GENERAL, now, MATCHING)
    ok = [h for h in heads if required_star(MATCHING, h.min_star, now - h.enqueued_ms) <= star]
    if not ok:
        assert got is None
        return
    assert got is not None
    best = max(score_ms(MATCHING, h, now) for h in ok)
    assert score_ms(MATCHING, got, now) == best
    assert got.enqueued_ms == min(h.enqueued_ms for h in ok if score_ms(MATCHING, h, now) == best)
    if len(ok) >= 2:
        later = choose(ok[:2], 5, VIP_GENERAL, now + later_ms, MATCHING)
        first = choose(ok[:2], 5, VIP_GENERAL, now, MATCHING)
        assert later == first


@settings(max_examples=200, deadline=None)
@given(calls, st.integers(1, 5), st.integers(0, 30_000))
@example([("vip", 0, 0, 1), ("general", 0, 0, 1)], 1, 0)  # a full tie: the chosen is given first
@example([("general", 0, 1, 1), ("vip", 0, 0, 1)], 1, 1)  # the successor ties a head given before
def test_the_bound_for_concurrent_agents_keeps_the_choice_right(
    spec: list[tuple[str, int, int, int]], star: int, younger_ms: int
) -> None:
    # rule A4 under concurrency: when other agents took the chosen head first, the next call of
    # the same bucket is taken only if it is still this agent's choice — exactly when it is not
    # younger than latest_enqueued; a full tie (same score, same enqueued_ms) goes to the head
    # given first, in choose and in the bound alike
    heads = [Head(d, m, p, e, i) for i, (d, p, e, m) in enumerate(spec)]
    now = 120_000
    chosen = choose(heads, star, VIP_GENERAL, now, MATCHING)
    if chosen is None:
        return
    bound = latest_enqueued(chosen, heads, star, VIP_GENERAL, now, MATCHING)
    assert bound is not None and bound >= chosen.enqueued_ms  # no race: the head itself
    successor = replace(chosen, enqueued_ms=min(chosen.enqueued_ms + younger_ms, now), call="next")
    in_place = [successor if h is chosen else h for h in heads]
    still_best = choose(in_place, star, VIP_GENERAL, now, MATCHING) is successor
    assert still_best == (successor.enqueued_ms <= bound)
