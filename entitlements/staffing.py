"""Q5/Q6: service level of the VIP desk and Erlang C staffing.

Floats are fine here: these are planning figures, not money.
"""

from __future__ import annotations

import math


def _check(traffic: float, agents: int) -> None:
    if traffic < 0 or not math.isfinite(traffic):
        raise ValueError("traffic must be a finite number of Erlangs ≥ 0")
    if agents < 1:
        raise ValueError("at least one agent")


def erlang_b(traffic: float, agents: int) -> float:
    """The Erlang B blocking probability (the stable recurrence)."""
    _check(traffic, agents)
    b = 1.0
    for k in range(1, agents + 1):
        b = traffic * b / (k + traffic * b)
    return b


def erlang_c(traffic: float, agents: int) -> float:
    """Q6: the probability a call waits (1.0 when the agents cannot carry the traffic)."""
    _check(traffic, agents)
    if agents <= traffic:
        return 1.0
    b = erlang_b(traffic, agents)
    return agents * b / (agents - traffic * (1 - b))


def offered_traffic(calls: float, interval_s: float, aht_s: float) -> float:
    """Q6: offered load in Erlangs (calls × handling time ÷ interval)."""
    if interval_s <= 0 or aht_s <= 0 or calls < 0:
        raise ValueError("interval and handling time must be positive, calls ≥ 0")
    return calls * aht_s / interval_s


def service_level(traffic: float, agents: int, aht_s: float, target_s: float) -> float:
    """Q6: the share of calls answered within ``target_s`` seconds."""
    if aht_s <= 0 or target_s < 0:
        raise ValueError("handling time must be positive and the target ≥ 0")
    c = erlang_c(traffic, agents)
    if agents <= traffic:
        return 0.0
    return 1.0 - c * math.exp(-(agents - traffic) * target_s / aht_s)


def average_speed_of_answer(traffic: float, agents: int, aht_s: float) -> float:
    """Q6: the mean wait in seconds (infinite when the agents cannot carry the traffic)."""
    if agents <= traffic:
        return math.inf
    return erlang_c(traffic, agents) * aht_s / (agents - traffic)


def agents_needed(calls: float, interval_s: float, aht_s: float, target_sl: float, target_s: float) -> int:
    """Q6: the fewest agents whose service level within ``target_s`` reaches ``target_sl``."""
    if not 0 < target_sl < 1:
        raise ValueError("the target service level is a share between 0 and 1")
    traffic = offered_traffic(calls, interval_s, aht_s)
    agents = max(1, math.floor(traffic) + 1)
    while service_level(traffic, agents, aht_s, target_s) < target_sl:
        agents += 1
    return agents


def measured_service_level(
    answered_within: int,
    offered: int,
    short_abandons: int = 0,
    exclude_short_abandons: bool = False,
) -> float:
    """Q5: answered within the target ÷ all requests for a person (abandons included).

    The Chinese convention keeps abandoned calls in the denominator; a site may exclude
    calls abandoned within a few seconds (``exclude_short_abandons``).
    """
    if min(answered_within, offered, short_abandons) < 0 or answered_within > offered:
        raise ValueError("counts must be ≥ 0 and answered ≤ offered")
    denominator = offered - short_abandons if exclude_short_abandons else offered
    if denominator <= 0:
        return 1.0
    return answered_within / denominator
