"""A4/Q5 — what a call's outcome counts and the live figures a set of counters gives."""

from __future__ import annotations

from datetime import datetime

import pytest

from entitlements.policy import parse_policy
from entitlements.queuestats import (
    INTERVAL_MS,
    Counts,
    figures,
    interval_of,
    meets_target,
    minute_of,
    outcome,
    window_minutes,
)
from tests.entitlements.helpers import P2015
from tests.entitlements.test_policy import edit

RULES = P2015.agents.service_level
S = 1000


@pytest.mark.parametrize(
    ("kind", "waited_ms", "counts"),
    [
        pytest.param("answered", 5 * S, Counts(1, 1, 1, 0, 0, 5 * S), id="answered at 5 s is within 20 s"),
        pytest.param("answered", 20 * S, Counts(1, 1, 1, 0, 0, 20 * S), id="answered at exactly 20 s is within"),
        pytest.param("answered", 20 * S + 1, Counts(1, 1, 0, 0, 0, 20 * S + 1), id="answered a millisecond later is not"),
        pytest.param("abandoned", 4999, Counts(1, 0, 0, 1, 1, 0), id="hung up before 5 s: a short abandon"),
        pytest.param("abandoned", 5 * S, Counts(1, 0, 0, 1, 0, 0), id="hung up at 5 s: an abandon that counts"),
        pytest.param("answered", -300, Counts(1, 1, 1, 0, 0, 0), id="a negative wait (clock skew) counts as zero"),
    ],
)  # fmt: skip
def test_one_outcome(kind: str, waited_ms: int, counts: Counts) -> None:
    # rule Q5 (threshold 20 s, inclusive) and rule A4 (short abandons under 5 s)
    assert outcome(kind, waited_ms, RULES) == counts  # type: ignore[arg-type]  # the two kinds


def test_the_chinese_service_level_formula() -> None:
    # rule Q5 and rule A4: answered at 5, 19 and 21 s, abandoned at 3 s (short) and 30 s:
    # offered 5, within 2, SL = 2 / (5 − 1) = 50 %; answered-only SL 2/3; ASA 15 s; abandon rate 2/5
    total = Counts()
    for kind, seconds in (
        ("answered", 5),
        ("answered", 19),
        ("answered", 21),
        ("abandoned", 3),
        ("abandoned", 30),
    ):
        total = total + outcome(kind, seconds * S, RULES)  # type: ignore[arg-type]
    got = figures(total, RULES)
    assert got == {
        "offered": 5, "answered": 3, "abandoned": 2, "short_abandoned": 1, "answered_within": 2,
        "service_level": 0.5, "service_level_answered": 2 / 3, "asa_s": 15.0, "abandon_rate": 0.4,
    }  # fmt: skip
    assert meets_target(got["service_level"], RULES) is False


def test_nothing_offered_gives_no_figures() -> None:
    # rule A4: service_level is null when nothing was offered (and when only short abandons were)
    assert figures(Counts(), RULES)["service_level"] is None
    only_short = figures(outcome("abandoned", 1000, RULES), RULES)
    assert (only_short["service_level"], only_short["asa_s"], only_short["abandon_rate"]) == (None, None, 1.0)
    assert meets_target(None, RULES) is None
    assert meets_target(0.85, RULES) is True


def test_threshold_and_short_abandon_limit_are_policy_data() -> None:
    # rule Q5: "the formula (short-abandon exclusion, etc.) is configurable"
    text = edit(
        "unicom-2015", "threshold_s = 20\nshort_abandon_s = 5", "threshold_s = 30\nshort_abandon_s = 0"
    )
    rules = parse_policy(text).agents.service_level
    assert outcome("answered", 25 * S, rules).answered_within == 1
    assert outcome("abandoned", 1 * S, rules).short_abandoned == 0


def test_window_and_interval_boundaries() -> None:
    # rule A4: the window is the current minute and the 29 before it; intervals are 15 minutes
    now = int(datetime.fromisoformat("2026-11-26T10:07:30+08:00").timestamp() * S)
    minutes = window_minutes(now)
    assert len(minutes) == 30 and minutes[-1] == minute_of(now)
    start = interval_of(now)
    assert datetime.fromisoformat("2026-11-26T10:00:00+08:00").timestamp() * S == start
    assert (
        interval_of(start + INTERVAL_MS - 1) == start
        and interval_of(start + INTERVAL_MS) == start + INTERVAL_MS
    )
