"""A3/A4 in the hotline simulation: agents choose calls with the queue engine's own function,
so the score keeps general callers from starving and star requirements relax on time."""

from __future__ import annotations

import itertools
from dataclasses import replace

from entitlements import matching, simulation
from entitlements.policy import load_policy
from entitlements.simulation import (
    AgentGroup,
    Answer,
    Call,
    Constant,
    Exponential,
    QueueSetup,
    poisson_calls,
    simulate,
)
from gateway.services import queue

MATCHING = load_policy("unicom-2015").agents.matching
BOTH = frozenset({"vip", "general"})


def test_the_simulation_and_the_service_choose_with_one_function() -> None:
    # rule A4: not a copy — the very function object the queue engine calls
    assert vars(simulation)["choose"] is matching.choose
    assert vars(queue)["choose"] is matching.choose


def test_no_starvation_at_95_percent_occupancy() -> None:
    # rule A4: a steady stream of five-star callers (priority 30, four-star agents needed) and a
    # few general callers, twenty five-star agents on both desks, 95 % occupancy. The score
    # orders calls by enqueued_at − priority × priority_seconds, so a general call is taken
    # before every VIP call that arrived more than 30 s after it: its wait is at most the
    # longest VIP wait + 30 s + the longest gap between two VIP arrivals.
    hours = 40
    vip = poisson_calls(360, hours * 3600, [(Answer("vip", 30, min_agent_star=4), 1.0)], seed=11)
    # General callers stop ten minutes before the VIP stream does: every one of them has
    # VIP calls arriving more than 30 s after it (the bound's argument needs one).
    general = poisson_calls(20, hours * 3600 - 600, [(Answer("general", 0), 1.0)], seed=12)
    setup = {"vip": QueueSetup(0, Exponential(180)), "general": QueueSetup(0, Exponential(180))}
    agents = [AgentGroup(20, BOTH, star=5)]
    sim = simulate(vip + general, setup, seed=5, shared=agents, matching=MATCHING)
    vip_waits, general_waits = sim.queues["vip"].total, sim.queues["general"].total
    arrivals = sorted(c.arrival_s for c in vip)
    gap = max(b - a for a, b in itertools.pairwise(arrivals))
    head_start = 30 * MATCHING.priority_seconds
    bound = vip_waits.max_wait_s + head_start + gap
    strict = (
        simulate(
            vip + general, setup, seed=5, shared=agents, matching=replace(MATCHING, priority_seconds=10**6)
        )
        .queues["general"]
        .total
    )
    print(
        f"\noccupancy {sim.occupancy:.1%}; general callers' longest wait {general_waits.max_wait_s:.0f} s "
        f"≤ bound {bound:.0f} s (longest VIP wait {vip_waits.max_wait_s:.0f} s + {head_start} s + "
        f"longest VIP gap {gap:.0f} s); with strict priority instead: {strict.max_wait_s:.0f} s"
    )
    assert 0.93 <= sim.occupancy <= 0.97
    assert general_waits.answered == len(general) and vip_waits.answered == len(vip)
    assert general_waits.max_wait_s <= bound
    assert strict.max_wait_s > bound  # strict priority starves them well past it


def test_a_star_requirement_relaxes_on_time_in_the_simulation() -> None:
    # rule A3: a five-star caller and only a three-star agent, idle: the call waits until its
    # requirement drops to three stars at exactly 20 s, then the agent takes it; a two-star
    # agent takes it at 40 s.
    call = [Call(0.0, Answer("vip", 30, min_agent_star=4))]
    for star, waited in ((3, 20.0), (2, 40.0), (4, 0.0)):
        sim = simulate(call, {"vip": QueueSetup(1, Constant(60), star=star)}, seed=1, matching=MATCHING)
        assert sim.queues["vip"].total.max_wait_s == waited


def test_agents_without_the_desk_never_take_its_calls() -> None:
    # rule A1 (desks) and rule A4: general-only agents leave VIP calls to the VIP-desk agent
    calls = [Call(0.0, Answer("vip", 30)), Call(1.0, Answer("vip", 30)), Call(2.0, Answer("general", 0))]
    setup = {"vip": QueueSetup(1, Constant(100)), "general": QueueSetup(5, Constant(100))}
    sim = simulate(calls, setup, seed=1, matching=MATCHING)
    assert sim.queues["vip"].total.max_wait_s == 99.0  # the second VIP call waits for the one VIP agent
    assert sim.queues["general"].total.max_wait_s == 0.0
