"""The combined run: the hotline simulation fed with the real lookup answers of a load test.

Locust sent lookups at the hour's peak call rate; each answer (queue, priority) and its
latency becomes one call of the simulation (``entitlements.simulation``), the latency counting
against the caller's 20 seconds. When the run was at least as long as the simulated
horizon the calls arrive at their real times; otherwise the answers are replayed in
order as Poisson arrivals at the same rate until the horizon is full (the report says how
many times each was used). Each queue is staffed by Erlang C for its own share of the
calls unless told otherwise. The report puts each queue's lookup latency next to the
service level it reached.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from entitlements.simulation import (
    HOUR_S,
    Answer,
    Call,
    Distribution,
    Exponential,
    Never,
    QueueSetup,
    ServiceLevelFormula,
    SimulationResult,
    pool,
    replay_answers,
    simulate,
)
from entitlements.staffing import agents_needed, offered_traffic, service_level
from gateway.cli.staffing import Target
from loadtests.report import LOOKUP, Sample, percentile

if TYPE_CHECKING:
    from matplotlib.figure import Figure

QUEUES = ("vip", "general")


@dataclass(frozen=True, slots=True)
class HotlineOptions:
    """The hotline behind the IVR during the combined run."""

    calls_per_hour: float
    target: Target = field(default_factory=lambda: Target(0.85, 20.0))
    aht_s: Mapping[str, float] = field(default_factory=lambda: {"vip": 240.0, "general": 180.0})
    agents: Mapping[str, int] = field(default_factory=dict)  # a queue left out is staffed by Erlang C
    patience: Distribution = field(default_factory=Never)
    horizon_s: float = HOUR_S
    warmup_s: float = 900.0
    hours: int = 10  # independent simulated hours when the answers are replayed
    seed: int = 1


@dataclass(frozen=True, slots=True)
class QueueLine:
    """One queue of the combined report."""

    queue: str
    calls: int  # real answers routed here
    share: float
    agents: int
    aht_s: float
    erlang_c_sl: float
    simulated_sl: float  # pooled over the simulated hours
    worst_hour: float
    hours_met: int
    asa_s: float
    abandonment: float
    lookup_p50_ms: float
    lookup_p99_ms: float
    degraded: int
    by_priority: tuple[tuple[int, int, float], ...]  # (priority, simulated calls, simulated SL)


@dataclass(frozen=True, slots=True)
class HotlineReport:
    """The combined run's result."""

    lines: tuple[QueueLine, ...]
    answers: int
    simulated_calls: int
    hours: int
    real_times: bool
    reuse: float  # simulated calls per real answer
    options: HotlineOptions
    formula: ServiceLevelFormula


def real_answers(samples: Sequence[Sample]) -> list[tuple[float, Answer, bool]]:
    """The answered lookups in start order: (start time, answer with its latency, degraded)."""
    out = []
    for s in samples:
        if s.name == LOOKUP and s.ok and s.status == 200 and s.queue in QUEUES and s.priority is not None:
            out.append((s.t, Answer(s.queue, s.priority, s.ms / 1000), s.degraded))
    return out


def staffing_for(options: HotlineOptions, shares: Mapping[str, float]) -> dict[str, int]:
    """Q6 per queue: Erlang C agents for the queue's share of the peak calls (or as given)."""
    agents = {}
    for q in QUEUES:
        if q in options.agents:
            agents[q] = options.agents[q]
        else:
            calls = options.calls_per_hour * shares.get(q, 0.0)
            agents[q] = (
                agents_needed(calls, HOUR_S, options.aht_s[q], options.target.share, options.target.seconds)
                if calls > 0
                else 1
            )
    return agents


def run_hotline(samples: Sequence[Sample], options: HotlineOptions) -> HotlineReport:
    """Q5/Q6: simulate the queues on the real answers and line the results up per queue.

    A run shorter than the simulated stretch is replayed over ``options.hours`` independent
    hours (each starting at a different answer), pooled; a long enough run is simulated once
    on its real arrival times.
    """
    answered = real_answers(samples)
    if not answered:
        raise ValueError("no answered lookups to feed the simulation")
    answers = [a for _, a, _ in answered]
    counts = {q: sum(1 for a in answers if a.queue == q) for q in QUEUES}
    shares = {q: counts[q] / len(answered) for q in QUEUES}
    agents = staffing_for(options, shares)
    start = answered[0][0]
    horizon = options.warmup_s + options.horizon_s
    real_times = answered[-1][0] - start >= horizon
    setup = {q: QueueSetup(agents[q], Exponential(options.aht_s[q]), options.patience) for q in QUEUES}
    formula = ServiceLevelFormula(target_s=options.target.seconds)
    runs: list[SimulationResult] = []
    for hour in range(1 if real_times else options.hours):
        seed = options.seed * 100_003 + hour
        if real_times:
            calls = [Call(t - start, a) for t, a, _ in answered if t - start < horizon]
        else:
            offset = hour * len(answers) // options.hours
            calls = replay_answers(
                options.calls_per_hour, horizon, answers[offset:] + answers[:offset], seed=seed
            )
        runs.append(
            simulate(calls, setup, seed=seed, formula=formula, warmup_s=options.warmup_s, horizon_s=horizon)
        )
    lines = []
    for q in QUEUES:
        latencies = sorted(a.latency_s * 1000 for a in answers if a.queue == q)
        traffic = offered_traffic(options.calls_per_hour * shares[q], HOUR_S, options.aht_s[q])
        hours = [r.queues[q].total for r in runs]
        total = pool(hours, formula)
        priorities = sorted({p for r in runs for p in r.queues[q].by_priority}, reverse=True)
        by_priority = []
        for p in priorities:
            tally = pool([r.queues[q].by_priority[p] for r in runs if p in r.queues[q].by_priority], formula)
            by_priority.append((p, tally.offered, tally.service_level))
        lines.append(
            QueueLine(
                queue=q,
                calls=counts[q],
                share=shares[q],
                agents=agents[q],
                aht_s=options.aht_s[q],
                erlang_c_sl=service_level(traffic, agents[q], options.aht_s[q], options.target.seconds)
                if traffic > 0
                else 1.0,
                simulated_sl=total.service_level,
                worst_hour=min(h.service_level for h in hours),
                hours_met=sum(h.service_level >= options.target.share for h in hours),
                asa_s=total.average_speed_of_answer_s,
                abandonment=total.abandonment_rate,
                lookup_p50_ms=percentile(latencies, 50),
                lookup_p99_ms=percentile(latencies, 99),
                degraded=sum(1 for _, a, d in answered if a.queue == q and d),
                by_priority=tuple(by_priority),
            )
        )
    simulated = sum(r.calls for r in runs)
    return HotlineReport(
        lines=tuple(lines),
        answers=len(answered),
        simulated_calls=simulated,
        hours=len(runs),
        real_times=real_times,
        reuse=simulated / len(answered),
        options=options,
        formula=formula,
    )


def _f(value: float, fmt: str) -> str:
    return "-" if math.isnan(value) else format(value, fmt)


def render_hotline(report: HotlineReport) -> str:
    """The per-queue table: lookup latency next to the service level reached."""
    o = report.options
    header = [
        "queue", "real calls", "share", "agents", "AHT", "lookup p50", "lookup p99", "degraded",
        "Erlang C SL", "simulated SL", "worst hour", "hours met", "ASA", "abandoned", "target",
    ]  # fmt: skip
    rows = [header]
    for line in report.lines:
        rows.append(
            [
                line.queue,
                f"{line.calls:,}",
                f"{line.share:.1%}",
                str(line.agents),
                f"{line.aht_s:g} s",
                f"{_f(line.lookup_p50_ms, '.2f')} ms",
                f"{_f(line.lookup_p99_ms, '.2f')} ms",
                str(line.degraded),
                f"{line.erlang_c_sl:.3f}",
                f"{line.simulated_sl:.3f}",
                f"{line.worst_hour:.3f}",
                f"{line.hours_met}/{report.hours}",
                f"{line.asa_s:.1f} s",
                f"{line.abandonment:.1%}",
                "met" if line.simulated_sl >= o.target.share else "missed",
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    for line in report.lines:
        if len(line.by_priority) > 1:
            parts = ", ".join(f"priority {p}: {sl:.3f} ({n:,} calls)" for p, n, sl in line.by_priority)
            lines.append(f"  {line.queue} by priority — {parts}")
    how = (
        "at their real arrival times"
        if report.real_times
        else f"replayed in order as Poisson arrivals over {report.hours} independent hours "
        f"(each answer used ~{report.reuse:.1f} times)"
    )
    lines += [
        "",
        f"peak {o.calls_per_hour:,.0f} calls/hour; {report.answers:,} real answers → "
        f"{report.simulated_calls:,} simulated calls, {o.horizon_s / 60:g} min measured "
        f"after a {o.warmup_s / 60:g}-minute warm-up, {how}",
        f"target {o.target} (Q5); service level = {report.formula}; patience {o.patience}; "
        f"handling exponential; seed {o.seed}; the lookup's latency counts against the caller's wait",
    ]
    return "\n".join(lines)


def draw_hotline(report: HotlineReport, path: Path) -> Path:
    """service_level.png: per queue, Erlang C's and the simulated service level against the
    target, with the lookup p99 written on each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig: Figure
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = [line.queue for line in report.lines]
    xs = list(range(len(names)))
    ax.bar([x - 0.2 for x in xs], [line.erlang_c_sl for line in report.lines], width=0.4, label="Erlang C")
    bars = ax.bar(
        [x + 0.2 for x in xs], [line.simulated_sl for line in report.lines], width=0.4, label="simulated"
    )
    for bar, line in zip(bars, report.lines, strict=True):
        ax.annotate(
            f"lookup p99 {line.lookup_p99_ms:.2f} ms",
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize="small",
        )
    ax.axhline(report.options.target.share, color="red", linestyle="--", linewidth=1, label="target")
    ax.set_xticks(xs, [f"{n} ({line.agents} agents)" for n, line in zip(names, report.lines, strict=True)])
    ax.set_ylim(0, 1.08)
    ax.set_ylabel(f"answered within {report.options.target.seconds:g} s")
    ax.set_title("Service level per queue on the real lookup answers")
    ax.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
