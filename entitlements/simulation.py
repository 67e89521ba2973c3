"""Q5/Q6: a discrete-event simulation of the hotline's queues behind the IVR.

Calls arrive as a Poisson process; the IVR lookup routes each one to the VIP desk or the
general queue with a priority (Q1/Q2) and the agent star it needs (A3). Each queue has
its own agents and handling-time distribution, and groups of agents may serve several
desks (A1 ``desks``); callers hang up when their patience runs out. A free agent takes
the call the queue engine would give it: ``entitlements.matching.choose`` — the same
function ``POST /v1/agents/{id}/next`` calls — picks among the waiting calls whose
(relaxed) star requirement the agent meets the one with the highest score, seconds waited
+ priority × ``priority_seconds`` (A4; first come first served within a priority, so an
earlier caller is never overtaken by a later one of the same priority). When several
agents are free, the one of the lowest star that qualifies takes the call (saving higher
stars for callers who need them); a requirement relaxing (A3) is an event of its own, so
an idle agent takes a call the moment it may. Per queue the result is the service level
the Chinese way (Q5: answered by a person within 20 s ÷ all requests for a person,
abandoned calls in the denominator; the formula is a parameter), the average speed of
answer and the abandonment rate.

Pure and seeded: the same inputs and seed give the same result; no I/O, no clock.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from entitlements.matching import MS, Head, choose, relax_schedule
from entitlements.policy import Matching
from entitlements.staffing import measured_service_level

HOUR_S = 3600.0
#: The score alone (A4): one second of head start per priority point, no agent stars (every
#: call needs one star, every agent has five). Pass a policy's ``agents.matching`` to
#: simulate its star requirements and their relaxation (A3).
PLAIN_MATCHING = Matching(levels={}, unknown=1, relax=(), priority_seconds=1, rule="A3", score_rule="A4")


class Distribution(Protocol):
    """A non-negative random duration in seconds."""

    @property
    def mean(self) -> float:
        """The expected value (infinite for `Never`)."""
        ...

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        ...


@dataclass(frozen=True, slots=True)
class Exponential:
    """Memoryless durations with the given mean (Erlang C's assumption for handling times)."""

    mean: float

    def __post_init__(self) -> None:
        _check_positive("mean", self.mean)

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        return rng.expovariate(1.0 / self.mean)

    def __str__(self) -> str:
        return f"exp:{self.mean:g}"


@dataclass(frozen=True, slots=True)
class Constant:
    """Always the same duration."""

    value: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.value) and self.value >= 0):
            raise ValueError(f"a constant duration must be a finite number ≥ 0, not {self.value}")

    @property
    def mean(self) -> float:
        """The value itself."""
        return self.value

    def sample(self, rng: random.Random) -> float:
        """The value (no randomness)."""
        return self.value

    def __str__(self) -> str:
        return f"const:{self.value:g}"


@dataclass(frozen=True, slots=True)
class LogNormal:
    """Right-skewed durations with a given mean and coefficient of variation (sd ÷ mean)."""

    mean: float
    cv: float = 1.0

    def __post_init__(self) -> None:
        _check_positive("mean", self.mean)
        _check_positive("coefficient of variation", self.cv)

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        sigma2 = math.log1p(self.cv * self.cv)
        return rng.lognormvariate(math.log(self.mean) - sigma2 / 2, math.sqrt(sigma2))

    def __str__(self) -> str:
        return f"lognormal:{self.mean:g},{self.cv:g}"


@dataclass(frozen=True, slots=True)
class Uniform:
    """Durations spread evenly between two bounds."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (0 <= self.low <= self.high and math.isfinite(self.high)):
            raise ValueError(f"uniform bounds must satisfy 0 ≤ low ≤ high, not {self.low}, {self.high}")

    @property
    def mean(self) -> float:
        """The midpoint."""
        return (self.low + self.high) / 2

    def sample(self, rng: random.Random) -> float:
        """One draw."""
        return rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        return f"uniform:{self.low:g},{self.high:g}"


@dataclass(frozen=True, slots=True)
class Never:
    """Infinite patience: nobody hangs up (Erlang C's assumption)."""

    @property
    def mean(self) -> float:
        """Infinite."""
        return math.inf

    def sample(self, rng: random.Random) -> float:
        """Infinity (draws nothing from the generator)."""
        return math.inf

    def __str__(self) -> str:
        return "never"


def _check_positive(what: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"the {what} must be a finite number > 0, not {value}")


def parse_distribution(text: str, default_mean: float | None = None) -> Distribution:
    """`exp[:MEAN]`, `const[:VALUE]`, `lognormal[:MEAN[,CV]]`, `uniform:LOW,HIGH` or `never`.

    A bare number is an exponential mean. A missing mean is ``default_mean``.
    Raises ValueError with the accepted forms.
    """
    forms = "exp[:MEAN], const[:VALUE], lognormal[:MEAN[,CV]], uniform:LOW,HIGH or never"
    kind, _, rest = text.strip().lower().partition(":")
    try:
        args = [float(a) for a in rest.split(",")] if rest else []
        if not rest and kind and kind[0].isdigit():
            return Exponential(float(kind))
        if kind in ("never", "none", "inf") and not args:
            return Never()
        if kind == "uniform" and len(args) == 2:
            return Uniform(args[0], args[1])
        if kind in ("exp", "exponential", "const", "constant", "lognormal") and len(args) <= (
            2 if kind == "lognormal" else 1
        ):
            mean = args[0] if args else default_mean
            if mean is None:
                raise ValueError(f"{text!r} needs a mean (e.g. {kind}:180)")
            if kind.startswith("exp"):
                return Exponential(mean)
            if kind.startswith("const"):
                return Constant(mean)
            return LogNormal(mean, args[1] if len(args) == 2 else 1.0)
    except ValueError as exc:
        if "needs a mean" in str(exc) or "must" in str(exc):
            raise
        raise ValueError(f"{text!r}: numbers expected after the colon ({forms})") from None
    raise ValueError(f"{text!r} is not a distribution; write {forms}")


@dataclass(frozen=True, slots=True)
class Answer:
    """What the IVR lookup answered for one call, as the queues see it."""

    queue: str
    priority: int = 0
    latency_s: float = 0.0  # time the routing took; it counts against the caller's 20 s
    min_agent_star: int = 1  # A3: the agent star the caller needs before any waiting


@dataclass(frozen=True, slots=True)
class Call:
    """One request for a person: arrival time (s from the start) and the lookup's answer."""

    arrival_s: float
    answer: Answer


@dataclass(frozen=True, slots=True)
class QueueSetup:
    """One queue's own agents (all of ``star`` stars), handling time and its callers' patience.

    ``agents`` may be 0 when an ``AgentGroup`` serves the queue."""

    agents: int
    handling: Distribution = field(default_factory=lambda: Exponential(180.0))
    patience: Distribution = field(default_factory=Never)
    star: int = 5

    def __post_init__(self) -> None:
        if self.agents < 0:
            raise ValueError("a queue's agents are a count ≥ 0")
        _check_star(self.star)


@dataclass(frozen=True, slots=True)
class AgentGroup:
    """Agents of one star serving several desks (A1 ``desks``), e.g. ``{"vip", "general"}``."""

    agents: int
    desks: frozenset[str]
    star: int = 5

    def __post_init__(self) -> None:
        if self.agents < 1 or not self.desks:
            raise ValueError("an agent group has at least one agent and one desk")
        _check_star(self.star)


def _check_star(star: int) -> None:
    if not 1 <= star <= 5:
        raise ValueError(f"an agent star is 1 to 5, not {star}")


@dataclass(frozen=True, slots=True)
class ServiceLevelFormula:
    """Q5: how the service level is counted; the defaults are the Chinese convention.

    ``target_s``: answered within this many seconds (inclusive) counts as in service level.
    ``short_abandon_s``: calls abandoned in less than this many seconds leave the
    denominator (0: every abandoned call stays in it). ``count_abandons=False`` drops all
    abandoned calls from the denominator (answered within ÷ answered).
    """

    target_s: float = 20.0
    short_abandon_s: float = 0.0
    count_abandons: bool = True

    def __post_init__(self) -> None:
        if not (self.target_s >= 0 and self.short_abandon_s >= 0):
            raise ValueError("the target and the short-abandon limit are seconds ≥ 0")

    def __str__(self) -> str:
        if not self.count_abandons:
            return f"answered within {self.target_s:g} s ÷ answered calls"
        base = f"answered within {self.target_s:g} s ÷ all requests for a person"
        if self.short_abandon_s > 0:
            return f"{base} except abandons under {self.short_abandon_s:g} s"
        return f"{base} (abandons included)"


@dataclass(frozen=True, slots=True)
class Tally:
    """Outcome counts of a group of calls and the figures derived from them."""

    offered: int
    answered: int
    answered_within: int
    abandoned: int
    short_abandons: int
    total_wait_answered_s: float
    max_wait_s: float
    service_level: float
    average_speed_of_answer_s: float
    abandonment_rate: float


@dataclass(frozen=True, slots=True)
class QueueResult:
    """One queue over the measured window: the totals and each priority's share."""

    name: str
    agents: int
    total: Tally
    by_priority: Mapping[int, Tally]
    occupancy: float  # busy time on this queue's calls ÷ the time of the agents serving it

    @property
    def service_level(self) -> float:
        """Q5 service level of the queue."""
        return self.total.service_level


@dataclass(frozen=True, slots=True)
class SimulationResult:
    """Every queue's result; ``window_s`` is the measured stretch (after warm-up)."""

    queues: Mapping[str, QueueResult]
    formula: ServiceLevelFormula
    window_s: float
    calls: int
    occupancy: float = 0.0  # every agent's busy time ÷ every agent's time over the window


def pool(tallies: Sequence[Tally], formula: ServiceLevelFormula) -> Tally:
    """Several runs' tallies as one (e.g. independent hours): counts added, figures recomputed."""
    total = _Counter()
    for t in tallies:
        total.offered += t.offered
        total.answered += t.answered
        total.within += t.answered_within
        total.abandoned += t.abandoned
        total.short += t.short_abandons
        total.wait_sum += t.total_wait_answered_s
        total.max_wait = max(total.max_wait, t.max_wait_s)
    return total.tally(formula)


class _Counter:
    __slots__ = ("abandoned", "answered", "max_wait", "offered", "short", "wait_sum", "within")

    def __init__(self) -> None:
        self.offered = self.answered = self.within = self.abandoned = self.short = 0
        self.wait_sum = 0.0
        self.max_wait = 0.0

    def tally(self, formula: ServiceLevelFormula) -> Tally:
        if formula.count_abandons:
            sl = measured_service_level(
                self.within, self.offered, self.short, exclude_short_abandons=formula.short_abandon_s > 0
            )
        else:
            sl = measured_service_level(self.within, self.answered)
        return Tally(
            offered=self.offered,
            answered=self.answered,
            answered_within=self.within,
            abandoned=self.abandoned,
            short_abandons=self.short,
            total_wait_answered_s=self.wait_sum,
            max_wait_s=self.max_wait,
            service_level=sl,
            average_speed_of_answer_s=self.wait_sum / self.answered if self.answered else 0.0,
            abandonment_rate=self.abandoned / self.offered if self.offered else 0.0,
        )


# Event kinds, in the order they are handled at the same instant: an agent freed at t takes
# a caller who would hang up at t, and a call entering at t sees the agent freed at t; a
# requirement relaxing at t lets an idle agent take the call before it would hang up at t.
_FREE, _ENTER, _RELAX, _ABANDON = 0, 1, 2, 3
_WAITING, _ANSWERED, _ABANDONED = 0, 1, 2


class _Pool:
    """Free agents of one star serving some desks."""

    __slots__ = ("agents", "desks", "free", "star")

    def __init__(self, desks: frozenset[str], star: int, agents: int) -> None:
        self.desks = desks
        self.star = star
        self.agents = agents
        self.free = agents


def simulate(
    calls: Iterable[Call],
    queues: Mapping[str, QueueSetup],
    *,
    seed: int,
    formula: ServiceLevelFormula | None = None,
    warmup_s: float = 0.0,
    horizon_s: float | None = None,
    shared: Sequence[AgentGroup] = (),
    matching: Matching = PLAIN_MATCHING,
) -> SimulationResult:
    """Q5: run the queues over ``calls``; measure calls arriving in [warmup_s, horizon_s).

    Every call is followed to its end (answered or abandoned), also past the horizon.
    Handling times and patience are drawn per call in arrival order before the run, so
    the same calls and seed meet the same customers whatever the staffing (a fair
    comparison of N agents with N−1). Agents choose calls with ``matching.choose`` (A4)
    under ``matching`` (the policy's ``agents.matching`` for its star requirements; by
    default the plain score). Raises ValueError for a call routed to a queue that has
    no setup or no agent.
    """
    formula = formula or ServiceLevelFormula()
    ordered = sorted(calls, key=lambda c: c.arrival_s)
    names = sorted(queues)
    unknown = {c.answer.queue for c in ordered} - set(names)
    pools = [_Pool(frozenset({n}), queues[n].star, queues[n].agents) for n in names if queues[n].agents > 0]
    for group in shared:
        if group.desks - set(names):
            raise ValueError(
                f"agents serve desks without a setup: {', '.join(sorted(group.desks - set(names)))}"
            )
        pools.append(_Pool(group.desks, group.star, group.agents))
    unstaffed = {c.answer.queue for c in ordered} - {d for p in pools for d in p.desks}
    if unknown or unstaffed:
        raise ValueError(f"calls routed to queues without agents: {', '.join(sorted(unknown | unstaffed))}")
    end = horizon_s if horizon_s is not None else (ordered[-1].arrival_s if ordered else 0.0)
    if warmup_s < 0 or end < warmup_s:
        raise ValueError("the warm-up must be ≥ 0 and end before the horizon")

    rng = random.Random(f"callers:{seed}")  # a stream of its own, independent of the arrivals'
    n = len(ordered)
    queue_of = [names.index(c.answer.queue) for c in ordered]
    handling = [0.0] * n
    deadline = [0.0] * n
    for i, call in enumerate(ordered):
        setup = queues[call.answer.queue]
        handling[i] = setup.handling.sample(rng)
        deadline[i] = call.arrival_s + setup.patience.sample(rng)
    # The queue engine's clock: integer milliseconds (entitlements.matching).
    enqueued_ms = [round(c.arrival_s * MS) for c in ordered]

    # A bucket per desk, base requirement and priority: (arrival, index) heaps, oldest first.
    buckets: list[dict[tuple[int, int], list[tuple[float, int]]]] = [{} for _ in names]
    # The pools serving each queue, the lowest star first (it takes a call several could).
    serving = [sorted((p for p in range(len(pools)) if name in pools[p].desks), key=lambda p: pools[p].star)
               for name in names]  # fmt: skip
    capacity = [sum(pools[p].agents for p in serving[q]) for q in range(len(names))]
    desk_index = {name: q for q, name in enumerate(names)}
    state = [_WAITING] * n
    wait = [0.0] * n
    busy = [0.0] * len(names)
    events: list[tuple[float, int, int, int]] = []  # (time, kind, tie-break, call or pool index)
    relax_at: dict[int, int] = {}  # a relax event's tie-break → its millisecond
    seq = 0
    for i, call in enumerate(ordered):
        events.append((call.arrival_s + call.answer.latency_s, _ENTER, i, i))
    heapq.heapify(events)

    def heads(pool: _Pool) -> list[Head]:
        out = []
        for desk in sorted(pool.desks):
            q = desk_index[desk]
            for bucket_key in sorted(buckets[q]):
                line = buckets[q][bucket_key]
                while line and state[line[0][1]] != _WAITING:
                    heapq.heappop(line)  # answered elsewhere or hung up: dropped lazily
                if line:
                    i = line[0][1]
                    out.append(Head(desk, bucket_key[0], bucket_key[1], enqueued_ms[i], i))
        return out

    def answer(i: int, p: int, now: float) -> None:
        nonlocal seq
        q = queue_of[i]
        state[i] = _ANSWERED
        wait[i] = now - ordered[i].arrival_s
        pools[p].free -= 1
        # Busy time inside the window, for occupancy.
        busy[q] += max(0.0, min(now + handling[i], end) - max(now, warmup_s))
        seq += 1
        heapq.heappush(events, (now + handling[i], _FREE, n + seq, p))

    def take(p: int, now: float, now_ms: int) -> bool:
        """A free agent of pool ``p`` asks for its next call (A4): True if it took one."""
        pool = pools[p]
        head = choose(heads(pool), pool.star, pool.desks, now_ms, matching)
        if head is None:
            return False
        line = buckets[desk_index[head.desk]][(head.min_star, head.priority)]
        _, i = heapq.heappop(line)
        assert i == head.call
        answer(i, p, now)
        return True

    def offer(q: int, now: float, now_ms: int) -> None:
        """Idle agents serving queue ``q`` take what they may now."""
        for p in serving[q]:
            while pools[p].free > 0 and take(p, now, now_ms):
                pass

    while events:
        now, kind, tie, idx = heapq.heappop(events)
        if kind == _FREE:
            pools[idx].free += 1
            take(idx, now, round(now * MS))
        elif kind == _ENTER:
            i = idx
            q = queue_of[i]
            if deadline[i] < now:  # hung up while the IVR was still routing the call
                state[i] = _ABANDONED
                wait[i] = deadline[i] - ordered[i].arrival_s
                continue
            base = ordered[i].answer.min_agent_star
            heapq.heappush(
                buckets[q].setdefault((base, ordered[i].answer.priority), []), (ordered[i].arrival_s, i)
            )
            offer(q, now, round(now * MS))
            if state[i] != _WAITING:
                continue
            if math.isfinite(deadline[i]):
                heapq.heappush(events, (deadline[i], _ABANDON, i, i))
            for after_s, _ in relax_schedule(matching, base):
                # A3: each step that lowers the requirement is a moment an idle agent may take it.
                seq += 1
                relax_at[n + seq] = enqueued_ms[i] + after_s * MS
                heapq.heappush(events, (relax_at[n + seq] / MS, _RELAX, n + seq, i))
        elif state[idx] != _WAITING:
            continue
        elif kind == _RELAX:
            # On the step's own millisecond (the event time went through a float).
            offer(queue_of[idx], now, relax_at.pop(tie))
        else:  # _ABANDON of a caller still in the queue
            state[idx] = _ABANDONED
            wait[idx] = now - ordered[idx].arrival_s

    totals = [_Counter() for _ in names]
    per_priority: list[dict[int, _Counter]] = [{} for _ in names]
    for i, call in enumerate(ordered):
        if call.arrival_s < warmup_s or (horizon_s is not None and call.arrival_s >= horizon_s):
            continue
        q = queue_of[i]
        for counter in (totals[q], per_priority[q].setdefault(call.answer.priority, _Counter())):
            counter.offered += 1
            if state[i] == _ANSWERED:
                counter.answered += 1
                counter.wait_sum += wait[i]
                counter.max_wait = max(counter.max_wait, wait[i])
                if wait[i] <= formula.target_s:
                    counter.within += 1
            else:
                counter.abandoned += 1
                if wait[i] < formula.short_abandon_s:
                    counter.short += 1
    window = end - warmup_s
    results = {
        name: QueueResult(
            name=name,
            agents=queues[name].agents,
            total=totals[q].tally(formula),
            by_priority={p: c.tally(formula) for p, c in sorted(per_priority[q].items(), reverse=True)},
            occupancy=busy[q] / (capacity[q] * window) if window > 0 and capacity[q] else 0.0,
        )
        for q, name in enumerate(names)
    }
    staff = sum(p.agents for p in pools)
    occupancy = sum(busy) / (staff * window) if window > 0 and staff else 0.0
    return SimulationResult(queues=results, formula=formula, window_s=window, calls=n, occupancy=occupancy)


def _check_rate(calls_per_hour: float, horizon_s: float) -> None:
    if not (calls_per_hour >= 0 and math.isfinite(calls_per_hour)):
        raise ValueError("calls per hour must be a finite number ≥ 0")
    if not (horizon_s > 0 and math.isfinite(horizon_s)):
        raise ValueError("the horizon must be a finite number of seconds > 0")


def _arrival_times(rng: random.Random, calls_per_hour: float, horizon_s: float) -> list[float]:
    times: list[float] = []
    if calls_per_hour == 0:
        return times
    rate = calls_per_hour / HOUR_S
    t = rng.expovariate(rate)
    while t < horizon_s:
        times.append(t)
        t += rng.expovariate(rate)
    return times


def poisson_calls(
    calls_per_hour: float,
    horizon_s: float,
    mix: Sequence[tuple[Answer, float]],
    *,
    seed: int,
) -> list[Call]:
    """Poisson arrivals over ``horizon_s``, each routed by the weighted ``mix`` of answers.

    Routing a Poisson stream at random splits it into independent Poisson streams, one
    per queue and priority, with rates in proportion to the weights.
    """
    _check_rate(calls_per_hour, horizon_s)
    if not mix or any(w < 0 for _, w in mix) or sum(w for _, w in mix) <= 0:
        raise ValueError("the caller mix needs at least one answer with a positive weight")
    rng = random.Random(f"arrivals:{seed}")
    answers = [a for a, _ in mix]
    weights = [w for _, w in mix]
    times = _arrival_times(rng, calls_per_hour, horizon_s)
    picks = rng.choices(answers, weights, k=len(times))
    return [Call(t, a) for t, a in zip(times, picks, strict=True)]


def replay_answers(
    calls_per_hour: float,
    horizon_s: float,
    answers: Sequence[Answer],
    *,
    seed: int,
) -> list[Call]:
    """Poisson arrivals over ``horizon_s`` that take the real lookup answers in order.

    When the horizon needs more calls than there are answers, the answers are used again
    from the start (the report says how often).
    """
    _check_rate(calls_per_hour, horizon_s)
    if not answers:
        raise ValueError("no lookup answers to replay")
    rng = random.Random(f"arrivals:{seed}")
    times = _arrival_times(rng, calls_per_hour, horizon_s)
    return [Call(t, answers[k % len(answers)]) for k, t in enumerate(times)]


def mix_of(answers: Iterable[Answer]) -> list[tuple[Answer, float]]:
    """The empirical caller mix of some answers: each (queue, priority) with its share."""
    counts: dict[tuple[str, int], int] = {}
    for a in answers:
        counts[(a.queue, a.priority)] = counts.get((a.queue, a.priority), 0) + 1
    total = sum(counts.values())
    return [(Answer(q, p), c / total) for (q, p), c in sorted(counts.items())]


def queue_shares(mix: Sequence[tuple[Answer, float]]) -> dict[str, float]:
    """Each queue's share of the calls in a weighted mix."""
    total = sum(w for _, w in mix)
    shares: dict[str, float] = {}
    for a, w in mix:
        shares[a.queue] = shares.get(a.queue, 0.0) + w / total
    return shares
