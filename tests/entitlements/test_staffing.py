"""Q5/Q6 — service level and Erlang C staffing of the VIP desk."""

from __future__ import annotations

import math

import pytest

from entitlements.staffing import (
    agents_needed,
    average_speed_of_answer,
    erlang_c,
    measured_service_level,
    offered_traffic,
    service_level,
)


def test_spec_check_vector() -> None:
    # rule Q6: 100 calls per 30 min, AHT 180 s (A = 10 E): 13 agents → SL(20 s) 0.7956;
    # 14 agents → 0.88835, ASA 7.84 s.
    traffic = offered_traffic(100, 1800, 180)
    assert traffic == 10
    assert round(service_level(traffic, 13, 180, 20), 4) == 0.7956
    assert round(service_level(traffic, 14, 180, 20), 5) == 0.88835
    assert round(average_speed_of_answer(traffic, 14, 180), 2) == 7.84


def test_agents_needed_for_85_percent_in_20_seconds() -> None:
    # rule Q6 with the Q5 target
    assert agents_needed(100, 1800, 180, 0.85, 20) == 14
    assert agents_needed(100, 1800, 180, 0.75, 20) == 13


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        pytest.param(10, 1.0, id="agents equal to the traffic all wait"),
        pytest.param(5, 1.0, id="too few agents all wait"),
    ],
)
def test_overloaded_desk(agents: int, expected: float) -> None:
    # rule Q6
    assert erlang_c(10, agents) == expected
    assert service_level(10, agents, 180, 20) == 0.0
    assert math.isinf(average_speed_of_answer(10, agents, 180))


def test_invalid_inputs() -> None:
    # rule Q6
    with pytest.raises(ValueError):
        erlang_c(10, 0)
    with pytest.raises(ValueError):
        offered_traffic(100, 0, 180)
    with pytest.raises(ValueError):
        agents_needed(100, 1800, 180, 1.5, 20)


@pytest.mark.parametrize(
    ("answered", "offered", "short", "exclude", "level"),
    [
        pytest.param(85, 100, 0, False, 0.85, id="85 of 100 answered within 20 s is 85 %"),
        pytest.param(85, 100, 5, False, 0.85, id="abandoned calls stay in the denominator by default"),
        pytest.param(85, 100, 5, True, 85 / 95, id="short abandons may be excluded by configuration"),
        pytest.param(0, 0, 0, False, 1.0, id="no calls is full service"),
    ],
)
def test_measured_service_level(answered: int, offered: int, short: int, exclude: bool, level: float) -> None:
    # rule Q5
    assert measured_service_level(answered, offered, short, exclude) == pytest.approx(level)
