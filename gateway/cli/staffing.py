"""`callgate staffing`: Erlang C agents for a target service level, checked by simulation.

Q6 gives the agents needed; Q5 says how the service level is counted. The command
prints Erlang C's prediction for that staffing and for one agent fewer and, with
``--simulate``, the service level the hotline simulation reaches with each
(``entitlements.simulation``), so the planner sees both the average and how often an hour misses.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import dataclass

from entitlements.simulation import (
    HOUR_S,
    Answer,
    Distribution,
    Exponential,
    Never,
    QueueSetup,
    ServiceLevelFormula,
    parse_distribution,
    poisson_calls,
    pool,
    simulate,
)
from entitlements.staffing import (
    agents_needed,
    average_speed_of_answer,
    offered_traffic,
    service_level,
)

DEFAULT_TARGET = "0.85/20"  # Q5: 85 % answered by a person within 20 seconds
_TARGET = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*/\s*([0-9]*\.?[0-9]+)\s*s?\s*")


@dataclass(frozen=True, slots=True)
class Target:
    """A service-level target: ``share`` of calls answered within ``seconds``."""

    share: float
    seconds: float

    def __str__(self) -> str:
        return f"{self.share:.0%} answered within {self.seconds:g} s"


def parse_target(text: str) -> Target:
    """`0.85/20`, `85%/20` or `85%/20s` → Target(0.85, 20); argparse-friendly errors."""
    match = _TARGET.fullmatch(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: write the target as SHARE/SECONDS, e.g. 0.85/20")
    share = float(match.group(1)) / (100 if match.group(2) else 1)
    seconds = float(match.group(3))
    if not 0 < share < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the share must be between 0 and 1 (or 0% and 100%)")
    return Target(share, seconds)


def positive_number(text: str) -> float:
    """A finite number > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0")
    return value


def non_negative_number(text: str) -> float:
    """A finite number ≥ 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text!r} must be a number ≥ 0")
    return value


def handling_distribution(text: str) -> str:
    """A handling-time distribution whose mean may be left to --aht (argparse type)."""
    try:
        parse_distribution(text, default_mean=1.0)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def patience_distribution(text: str) -> Distribution:
    """A patience distribution, mean included, or `never` (argparse type)."""
    try:
        return parse_distribution(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Simulated:
    """The simulation of one staffing over several independent hours."""

    service_level: float  # pooled over every simulated hour
    worst_hour: float
    hours_met: int
    hours: int
    average_speed_of_answer_s: float
    abandonment_rate: float


@dataclass(frozen=True, slots=True)
class Row:
    """One staffing: Erlang C's prediction and, when asked for, the simulation's result."""

    agents: int
    predicted_sl: float
    predicted_asa_s: float
    occupancy: float
    simulated: Simulated | None


@dataclass(frozen=True, slots=True)
class Plan:
    """What `callgate staffing` prints."""

    calls_per_hour: float
    aht_s: float
    target: Target
    traffic: float
    needed: int
    rows: tuple[Row, ...]


@dataclass(frozen=True, slots=True)
class SimulationOptions:
    """How the staffing is simulated (Erlang C's own assumptions by default)."""

    hours: int = 50
    warmup_s: float = 900.0
    seed: int = 1
    handling: Distribution | None = None  # default: exponential with the AHT as mean
    patience: Distribution | None = None  # default: nobody hangs up
    formula: ServiceLevelFormula | None = None


def simulate_staffing(
    calls_per_hour: float, agents: int, aht_s: float, target: Target, options: SimulationOptions
) -> Simulated:
    """Q5: simulate ``options.hours`` independent hours, each after a warm-up, of one queue."""
    handling = options.handling or Exponential(aht_s)
    setup = {"desk": QueueSetup(agents, handling, options.patience or Never())}
    formula = options.formula or ServiceLevelFormula(target_s=target.seconds)
    hours = []
    for hour in range(options.hours):
        seed = options.seed * 100_003 + hour
        horizon = options.warmup_s + HOUR_S
        calls = poisson_calls(calls_per_hour, horizon, [(Answer("desk"), 1.0)], seed=seed)
        result = simulate(
            calls, setup, seed=seed, formula=formula, warmup_s=options.warmup_s, horizon_s=horizon
        )
        hours.append(result.queues["desk"].total)
    pooled = pool(hours, formula)
    return Simulated(
        service_level=pooled.service_level,
        worst_hour=min(h.service_level for h in hours),
        hours_met=sum(h.service_level >= target.share for h in hours),
        hours=options.hours,
        average_speed_of_answer_s=pooled.average_speed_of_answer_s,
        abandonment_rate=pooled.abandonment_rate,
    )


def plan(
    calls_per_hour: float,
    aht_s: float,
    target: Target,
    simulation: SimulationOptions | None = None,
) -> Plan:
    """Q6: the agents needed for ``target`` and the figures for that staffing and one fewer."""
    traffic = offered_traffic(calls_per_hour, HOUR_S, aht_s)
    needed = agents_needed(calls_per_hour, HOUR_S, aht_s, target.share, target.seconds)
    rows = []
    for agents in (needed, needed - 1):
        if agents < 1:
            continue
        rows.append(
            Row(
                agents=agents,
                predicted_sl=service_level(traffic, agents, aht_s, target.seconds),
                predicted_asa_s=average_speed_of_answer(traffic, agents, aht_s),
                occupancy=min(1.0, traffic / agents),
                simulated=(
                    simulate_staffing(calls_per_hour, agents, aht_s, target, simulation)
                    if simulation is not None
                    else None
                ),
            )
        )
    return Plan(calls_per_hour, aht_s, target, traffic, needed, tuple(rows))


def _verdict(level: float, target: Target) -> str:
    if level >= target.share:
        return "met"
    return f"missed by {(target.share - level) * 100:.1f} pts"


def _seconds(value: float) -> str:
    return "∞" if math.isinf(value) else f"{value:.2f} s"


def render(p: Plan, simulation: SimulationOptions | None = None) -> str:
    """The command's output: a header, the agents needed, then one row per staffing."""
    lines = [
        f"Erlang C (Q6): {p.calls_per_hour:g} calls/hour × AHT {p.aht_s:g} s = {p.traffic:.2f} Erlangs; "
        f"target {p.target} (Q5)",
        f"agents needed: {p.needed}",
        "",
    ]
    header = ["agents", "Erlang C SL", "Erlang C ASA", "occupancy", "Erlang C vs target"]
    if simulation is not None:
        header += ["simulated SL", "worst hour", "hours met", "sim ASA", "abandoned", "simulated vs target"]
    table = [header]
    for row in p.rows:
        cells = [
            str(row.agents),
            f"{row.predicted_sl:.3f}",
            _seconds(row.predicted_asa_s),
            f"{row.occupancy:.1%}",
            _verdict(row.predicted_sl, p.target),
        ]
        if row.simulated is not None:
            s = row.simulated
            cells += [
                f"{s.service_level:.3f}",
                f"{s.worst_hour:.3f}",
                f"{s.hours_met}/{s.hours}",
                _seconds(s.average_speed_of_answer_s),
                f"{s.abandonment_rate:.1%}",
                _verdict(s.service_level, p.target),
            ]
        table.append(cells)
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    # Words read better left-aligned, numbers right-aligned.
    text_columns = {i for i, name in enumerate(header) if name.endswith("vs target")}
    lines += [
        "  ".join(
            c.ljust(w) if i in text_columns else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in table
    ]
    if simulation is not None:
        handling = simulation.handling or Exponential(p.aht_s)
        formula = simulation.formula or ServiceLevelFormula(target_s=p.target.seconds)
        lines += [
            "",
            f"simulated: {simulation.hours} independent hours, each after a "
            f"{simulation.warmup_s / 60:g}-minute warm-up; seed {simulation.seed}; handling {handling}; "
            f"patience {simulation.patience or Never()}",
            f"service level = {formula}",
        ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Body of `callgate staffing` (arguments from gateway.cli.main): print the plan; 2 on bad input."""
    target: Target = args.target
    options: SimulationOptions | None = None
    if args.simulate:
        handling = parse_distribution(args.handling, default_mean=args.aht)
        if not math.isclose(handling.mean, args.aht, rel_tol=1e-9):
            print(
                f"callgate: the handling distribution's mean ({handling.mean:g} s) "
                f"differs from --aht ({args.aht:g} s); Erlang C and the simulation would disagree",
                file=sys.stderr,
            )
            return 2
        options = SimulationOptions(
            hours=args.hours,
            warmup_s=args.warmup * 60.0,  # minutes on the command line
            seed=args.seed,
            handling=handling,
            patience=args.patience,
            formula=ServiceLevelFormula(target_s=target.seconds, short_abandon_s=args.short_abandon),
        )
    print(render(plan(args.calls_per_hour, args.aht, target, options), options))
    return 0
