"""A4/A5: the queue engine — the ACD hands callgate its waiting calls and asks it which call
each free agent takes; callgate measures the service level live.

One unit of work per method: enqueue a call (the lookup decides its desk, priority and the
agent star it needs, Q1–Q4 and A3; a lookup that fails still queues, on the general desk,
degraded), record an agent's state, give a free agent its next call, record an outcome
(answered, abandoned, completed), and read the figures. Which call an agent takes is
``entitlements.matching.choose``, the function the hotline simulation calls too; what an
outcome counts is ``entitlements.queuestats.outcome``. Redis (``gateway.stores.queuestore``)
holds the waiting calls, agent states and live counters, behind a circuit breaker: when it
does not answer within the lookup budget the endpoints answer ``queue_unavailable`` and
the ACD falls back to its own queue.

Taking a call is atomic without a cross-slot transaction: the agent first turns from
available to busy (a script on the agent's key: one `next` per agent at a time), then
removes the chosen call from its bucket (a script on the desk's keys: a call leaves its
bucket once, so it goes to exactly one agent). An agent that lost the race for a call
chooses again from the heads the losing script returned.

Finished 15-minute intervals are copied to PostgreSQL (``queue_intervals``) by every
process, as upserts of absolute counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import time
import uuid
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import asyncpg
import orjson

from entitlements.matching import Head, choose, latest_enqueued, required_star, score_ms
from entitlements.policy import Matching
from entitlements.queuestats import (
    INTERVAL_MS,
    WINDOW_MINUTES,
    Counts,
    figures,
    interval_of,
    meets_target,
    outcome,
    window_minutes,
)
from gateway.logs import get_logger
from gateway.metrics import Metrics
from gateway.numbers import InvalidNumber, is_withheld, normalise
from gateway.services.agents import Agent, AgentDirectory
from gateway.services.errors import ServiceError
from gateway.services.lookup import Answer, LookupService
from gateway.services.policies import PolicyHolder
from gateway.settings import Settings
from gateway.stores import queuestore as store
from gateway.stores.breaker import CircuitBreaker
from gateway.stores.fastredis import PipelinedRedis, ReplyError
from gateway.stores.queries import queue_intervals
from gateway.stores.queries.queue_intervals import StoredInterval
from gateway.stores.replica import ReadPools

log = get_logger("queue")
SHANGHAI = ZoneInfo("Asia/Shanghai")  # the stored intervals are shown in the hotline's time
MS: Final = 1000
#: States the agent or the ACD may report (A4).
STATES: Final[tuple[str, ...]] = store.AGENT_STATES
OUTCOMES: Final[tuple[str, ...]] = ("answered", "abandoned", "completed")
#: A `next` that keeps losing races gives up after this many choices (each lost race means
#: another agent took a call, so the desk moved on).
MAX_CHOICES: Final = 64
#: Before any call on a desk was completed, its expected wait assumes Q6's check-vector AHT.
DEFAULT_AHT_S: Final = 180
#: Finished intervals are copied this often, and this far back (late events update them).
FLUSH_EVERY_S: Final = 30.0
FLUSH_BACK: Final = 8
POINTERS_MAX: Final = 100_000
STATS_EVERY_S: Final = 1.0
STATS_MIN_S: Final = 0.2
#: Agent views and the agent's call are written this soon after the answer, batched.
OUTBOX_DELAY_S: Final = 0.002
OUTBOX_BATCH: Final = 200
MIRROR_BATCH: Final = 50
#: The longest a round trip waits while Redis keeps answering other requests (a burst).
HARD_TIMEOUT_S: Final = 2.0


def to_ms(at: datetime) -> int:
    """An aware instant as integer milliseconds since the epoch."""
    return int(at.timestamp() * MS)


_second: list[Any] = [None, ""]  # the last second formatted, and its text (most times repeat it)


def iso_ms(ms: int) -> str:
    """Milliseconds since the epoch as an ISO 8601 instant (UTC), e.g. 2026-11-26T02:00:00.000Z."""
    second, milli = divmod(ms, MS)
    if second != _second[0]:
        _second[0], _second[1] = second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{_second[1]}.{milli:03d}Z"


def unavailable(detail: str) -> ServiceError:
    """503: Redis did not answer in time; the ACD falls back to its own queue (A4)."""
    return ServiceError(
        "queue_unavailable", f"the queue engine's store is unavailable ({detail}); use the ACD's own queue"
    )


class QueueService:
    """The queue engine of one process (every piece of state is in Redis, X3)."""

    def __init__(
        self,
        settings: Settings,
        policies: PolicyHolder,
        pool: asyncpg.Pool,
        lookup: LookupService,
        directory: AgentDirectory,
        metrics: Metrics,
        fast: PipelinedRedis | None = None,
    ) -> None:
        self.settings = settings
        self.policies = policies
        self.pool = pool
        #: X2: the stored intervals are read from the replica when the app configures one.
        self.reads = ReadPools(pool, None, metrics)
        self.lookup = lookup
        self.directory = directory
        self.metrics = metrics
        self.budget = settings.lookup_budget_ms / MS
        self.fast = fast or PipelinedRedis(settings.redis_url or "", connections=2)
        self.breaker = CircuitBreaker("redis_queue", self.fast.ping, metrics)
        self.pointers: OrderedDict[str, tuple[str, int]] = OrderedDict()  # call id → (desk, enqueued ms)
        self.watchers: set[asyncio.Queue[bytes]] = set()
        self.latest: bytes | None = None
        self._dirty = asyncio.Event()
        self._outbox: list[bytes] = []
        #: Agents' state changes not yet mirrored on each desk: (agent, state, since ms).
        self._mirroring: dict[str, list[tuple[str, str, int]]] = {desk: [] for desk in store.DESKS}
        self._outbox_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[bool]] = set()  # the timer's flushes under way
        # Claim tokens: unique to this process (a random prefix) and to each `next` in it.
        prefix = uuid.uuid4().hex[:12]
        self._tokens = (f"{prefix}.{n}" for n in itertools.count())

    # ------------------------------------------------------------------ plumbing

    def now_ms(self) -> int:
        """The injectable clock in milliseconds."""
        return to_ms(self.settings.clock())

    def _timeout(self) -> float:
        """One round trip's budget: the lookup budget."""
        return self.budget

    async def _run(self, commands: list[bytes]) -> list[Any]:
        """One round trip (the commands in one write); any failure of the store is
        `queue_unavailable`. A Redis silent for the lookup budget fails the round trip (503
        within the budget); while it keeps sending this engine replies, a burst on this
        process waits for its own (up to HARD_TIMEOUT_S)."""
        if not self.breaker.allow():
            raise unavailable("circuit open")
        for attempt in (1, 2):
            try:
                replies = await self.fast.execute_raw(
                    b"".join(commands), len(commands), self.budget, hard_timeout=HARD_TIMEOUT_S
                )
            except ReplyError as exc:
                if "NOSCRIPT" in str(exc) and attempt == 1:
                    await self._load_scripts()
                    continue
                self.breaker.success()  # Redis answered: a bug of ours, not an outage
                raise
            except TimeoutError:
                self.breaker.failure("timeout")
                raise unavailable("timeout") from None
            except OSError as exc:  # RedisUnavailable: refused, lost, out of step
                self.breaker.failure(type(exc).__name__)
                raise unavailable(type(exc).__name__) from None
            self.breaker.success()
            return replies
        raise unavailable("scripts could not be loaded")  # pragma: no cover - the loop returns or raises

    async def _load_scripts(self) -> None:
        try:
            await self.fast.execute([(b"SCRIPT", b"LOAD", s.source) for s in store.SCRIPTS], self._timeout())
        except TimeoutError:
            self.breaker.failure("timeout")
            raise unavailable("timeout") from None
        except OSError as exc:
            self.breaker.failure(type(exc).__name__)
            raise unavailable(type(exc).__name__) from None

    async def close(self) -> None:
        """Send what is pending, stop the probe and close the connections."""
        await self._settle()
        while self._outbox and await self.flush_outbox():  # more than one write's worth
            pass
        if self._outbox_timer is not None:
            self._outbox_timer.cancel()
            self._outbox_timer = None
        await self.breaker.close()
        await self.fast.close()

    def _changed(self) -> None:
        """Figures moved: a watching wallboard gets them soon."""
        if self.watchers:
            self._dirty.set()

    def _later(self, commands: list[bytes]) -> None:
        """Bookkeeping no answer waits for (the agent's call; ``_mirror_later`` adds the desks'
        views of agents): sent together within OUTBOX_DELAY_S, in one write for every request
        of that moment."""
        self._outbox.extend(commands)
        if self._outbox_timer is None:
            self._outbox_timer = asyncio.get_running_loop().call_later(OUTBOX_DELAY_S, self._flush_soon)

    async def _settle(self) -> None:
        """This process's bookkeeping is in Redis before a read: the flushes under way (on
        the other connection, they could land after the read), then what is pending."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.flush_outbox()

    def _flush_soon(self) -> None:
        self._outbox_timer = None
        task = asyncio.ensure_future(self.flush_outbox())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def flush_outbox(self) -> bool:
        """Send the pending bookkeeping now, at most one write (each script is idempotent or
        ordered by time, so a resend after NOSCRIPT is harmless); a failure is counted, the
        next change repairs it. False when the write failed."""
        for desk, changes in self._mirroring.items():
            # In the order they came (the script orders each agent's changes by their times),
            # at most MIRROR_BATCH changes a script call.
            for start in range(0, len(changes), MIRROR_BATCH):
                self._outbox.append(store.mirrors(desk, changes[start : start + MIRROR_BATCH]))
            changes.clear()
        if not self._outbox:
            return True
        # At most OUTBOX_BATCH commands a write (MIRROR_BATCH changes in a mirror's): Redis
        # answers nothing else while it runs a batch.
        batch, self._outbox = self._outbox[:OUTBOX_BATCH], self._outbox[OUTBOX_BATCH:]
        if self._outbox:
            self._later([])
        for attempt in (1, 2):
            try:
                await self.fast.execute_raw(b"".join(batch), len(batch), max(self._timeout(), 1.0))
                return True
            except ReplyError as exc:
                if "NOSCRIPT" in str(exc) and attempt == 1:
                    with contextlib.suppress(ServiceError):
                        await self._load_scripts()
                    continue
                self.metrics.store_errors.labels("redis", "queue_outbox").inc()
                log.warning("queue_outbox_refused", error=str(exc)[:100])
                return False
            except (TimeoutError, OSError) as exc:
                self.metrics.store_errors.labels("redis", "queue_outbox").inc()
                log.warning("queue_outbox_failed", error=type(exc).__name__, commands=len(batch))
                return False
        return False  # pragma: no cover - the loop returns

    def _remember(self, call_id: str, desk: str, enqueued_ms: int) -> None:
        self.pointers[call_id] = (desk, enqueued_ms)
        if len(self.pointers) > POINTERS_MAX:
            self.pointers.popitem(last=False)

    # ------------------------------------------------------------------ enqueue

    def _number(self, ani: str | None) -> str | None:
        """The caller's normalised number; None for a withheld one (Q4: an unknown caller)."""
        if is_withheld(ani):
            return None
        assert ani is not None
        try:
            return normalise(ani)
        except InvalidNumber as exc:
            raise ServiceError(
                "invalid_number", f"ani is not a valid Chinese phone number: {exc.reason}"
            ) from None

    async def _answer_for(self, msisdn: str | None) -> Answer:
        """The lookup's answer for the caller (Q1–Q4: it never fails)."""
        if msisdn is None:
            return self.lookup.unknown_caller()
        return await self.lookup.lookup(msisdn)

    async def _replayed(self, call_id: str, kept: bytes) -> dict[str, Any] | None:
        """The first enqueue's pointer (waiting a moment while that enqueue is still under
        way); None when the pointer is gone (its claim expired) and this request now holds
        the claim: it queues the call as the first enqueue."""
        loop = asyncio.get_running_loop()
        until = loop.time() + self._timeout()
        while kept == store.PENDING:
            if loop.time() >= until:
                raise ServiceError(
                    "enqueue_in_progress", "this call_id is being queued by another request; retry shortly"
                )
            await asyncio.sleep(0.005)
            found = store.claimed(await self._run(store.pointer_claim(call_id)))
            if found is None:
                return None
            kept = found
        pointer: dict[str, Any] = orjson.loads(kept)
        return pointer

    async def enqueue(self, call_id: str, ani: str | None, enqueued_at: datetime | None) -> dict[str, Any]:
        """A4: queue a call after its lookup (a replay of the call id answers the same).

        The call id is claimed first (a Redis that does not answer is a 503 within the lookup
        budget, before any lookup; a replay needs no lookup); then the lookup, then the call
        enters its desk and its pointer is written, in one round trip."""
        if not self.breaker.allow():
            raise unavailable("circuit open")
        msisdn = self._number(ani)
        kept = store.claimed(await self._run(store.pointer_claim(call_id)))
        answer: Answer | None = None
        replayed = await self._replayed(call_id, kept) if kept is not None else None
        if replayed is None:  # the first enqueue of this call id
            answer = await self._answer_for(msisdn)
            self.lookup.remember_call(call_id, answer)  # the screen pop finds it (POST …/connected)
            fields = answer.shared  # the answer's fields without the number and points
            skill = fields.get("skill") or {}
            pointer: dict[str, Any] = {
                "desk": fields["queue"]["name"],
                "priority": int(fields["queue"]["priority"]),
                "min_agent_star": int(skill.get("min_agent_star", 1)),
                "relax": skill.get("relax", []),
                "degraded": bool(fields["degraded"]),
                "enqueued_ms": to_ms(enqueued_at) if enqueued_at is not None else self.now_ms(),
            }
        else:
            pointer = replayed
        desk = pointer["desk"]
        priority_ms = self.policies.current.agents.matching.priority_seconds * MS
        commands = [
            store.enqueue(
                desk,
                call_id,
                pointer["enqueued_ms"],
                pointer["priority"],
                pointer["min_agent_star"],
                priority_ms,
                answer.msisdn or "" if answer else "",
            )
        ]
        if answer is not None:
            commands.append(store.pointer_set(call_id, orjson.dumps(pointer)))
        reply = (await self._run(commands))[0]
        self._remember(call_id, desk, pointer["enqueued_ms"])
        ahead, available, busy, wrap_up, away = (int(store.text(v) or 0) for v in reply[1:6])
        aht_s = int(store.text(reply[6])) / MS if store.text(reply[6]) else DEFAULT_AHT_S
        staffed = available + busy + wrap_up + away
        # A rough estimate: the calls ahead beyond the idle agents, served by every staffed
        # agent at the desk's recent handling time (none when nobody staffs the desk).
        expected = max(0, ahead + 1 - available) * aht_s / staffed if staffed else None
        if reply[0] == 1:
            self._changed()
        return {
            "call_id": call_id,
            "desk": desk,
            "priority": pointer["priority"],
            "min_agent_star": pointer["min_agent_star"],
            "relax": pointer["relax"],
            "position": ahead + 1,
            "expected_wait_s": math.ceil(expected) if expected is not None else None,
            "enqueued_at": iso_ms(pointer["enqueued_ms"]),
            "degraded": pointer["degraded"],
        }

    # ------------------------------------------------------------------ agents

    def _mirror_later(self, agent: Agent, state: str, at_ms: int) -> None:
        """The agent's state on every desk (offline where it does not serve), sent with the
        other bookkeeping: one script call per desk for every change of that moment."""
        for desk in store.DESKS:
            self._mirroring[desk].append((agent.id, state if desk in agent.desks else "offline", at_ms))
        self._later([])

    async def set_state(self, agent: Agent, state: str, at: datetime | None) -> dict[str, Any]:
        """A4: the agent (or the ACD) reports the agent's state."""
        if state not in STATES:
            raise ServiceError("invalid_request", f"state must be one of {', '.join(STATES)}", field="state")
        at_ms = to_ms(at) if at is not None else self.now_ms()
        (before,) = await self._run([store.agent_set(agent.id, state, at_ms)])
        self._mirror_later(agent, state, at_ms)
        return {
            "agent_id": agent.id,
            "state": state,
            "previous_state": store.text(before[0]),
            "since": iso_ms(at_ms),
        }

    async def agent_state(self, agent: Agent) -> dict[str, Any]:
        """An agent's live state (state, since, the call and desk it has)."""
        await self._settle()  # read this process's own writes
        (raw,) = await self._run([store.command(b"HGETALL", store.agent_key(agent.id))])
        values = {store.text(raw[i]): store.text(raw[i + 1]) for i in range(0, len(raw) - 1, 2)}
        since = values.get("since")
        return {
            "state": values.get("state", "offline"),
            "since": iso_ms(int(since)) if since else None,
            "call_id": values.get("call") or None,
            "desk": values.get("desk") or None,
        }

    async def next_call(self, agent: Agent, at: datetime | None) -> dict[str, Any] | None:
        """A4: the call a free agent takes now (None: nothing it may take). The agent must be
        available; it becomes busy with the call."""
        policy = self.policies.current
        matching = policy.agents.matching
        at_ms = to_ms(at) if at is not None else self.now_ms()
        token = next(self._tokens)
        desks = sorted(agent.desks)
        begin = [store.agent_begin(agent.id, token, at_ms), *(store.heads(d) for d in desks)]
        replies = await self._run(begin)
        begun = replies[0]
        if begun[0] != 1:
            raise ServiceError(
                "agent_not_available",
                f"the agent is {store.text(begun[1])}, not available: set the state to available first",
                state=store.text(begun[1]),
            )
        heads = {desk: store.parse_heads(flat) for desk, flat in zip(desks, replies[1:], strict=True)}
        try:
            taken = await self._take(agent, heads, at_ms, matching, token)
        except BaseException:
            with contextlib.suppress(ServiceError):
                await self._run([store.agent_abort(agent.id, token)])
            raise
        if taken is None:
            await self._run([store.agent_abort(agent.id, token)])
            return None
        head, reply = taken
        call_id = str(head.call)
        # Bookkeeping the answer does not wait for: the agent's call and every desk's view.
        self._later([store.agent_assign(agent.id, token, call_id, head.desk)])
        self._mirror_later(agent, "busy", at_ms)
        enqueued_ms = head.enqueued_ms
        ani = store.text(reply[3]) or None
        # No screen pop here: the ACD connects the call and says so (POST /v1/calls/{id}/connected,
        # which pops it as for any call); the agent's own widget shows the caller it just took.
        self._changed()
        return {
            "call_id": call_id,
            "ani": ani,
            "desk": head.desk,
            "priority": head.priority,
            "min_agent_star": head.min_star,
            "required_star": required_star(matching, head.min_star, at_ms - enqueued_ms),
            "agent_star": agent.star,
            "waited_s": max(0, at_ms - enqueued_ms) / MS,
            "score_s": score_ms(matching, head, at_ms) / MS,
            "enqueued_at": iso_ms(enqueued_ms),
            "agent_id": agent.id,
            "rules": [matching.score_rule, matching.rule],
        }

    async def _take(
        self,
        agent: Agent,
        heads: dict[str, list[store.BucketHead]],
        at_ms: int,
        matching: Matching,
        token: str,
    ) -> tuple[Head, list[Any]] | None:
        """Choose (A4) and take: the oldest call of the chosen bucket that is still the agent's
        choice (``latest_enqueued``); when none is left, choose again from the desk's fresh heads."""
        for _ in range(MAX_CHOICES):
            candidates = [
                Head(desk, h.min_star, h.priority, h.enqueued_ms, h)
                for desk in sorted(heads)
                for h in heads[desk]
            ]
            head = choose(candidates, agent.star, agent.desks, at_ms, matching)
            if head is None:
                return None
            latest = latest_enqueued(head, candidates, agent.star, agent.desks, at_ms, matching)
            assert latest is not None and latest >= head.enqueued_ms  # the head itself is the choice
            (reply,) = await self._run(
                [store.claim(head.desk, head.call.bucket, latest, agent.id, at_ms, token)]
            )
            if reply[0] == 1:
                taken = Head(
                    head.desk, head.min_star, head.priority, int(store.text(reply[2])), store.text(reply[1])
                )
                return taken, reply
            heads[head.desk] = store.parse_heads(reply[1:])
        log.warning("next_gave_up", agent=agent.id, choices=MAX_CHOICES)
        return None

    # ------------------------------------------------------------------ outcomes

    async def event(self, call_id: str, kind: str, at: datetime | None) -> dict[str, Any]:
        """A4: an outcome the ACD reports (answered, abandoned, completed), counted once."""
        if kind not in OUTCOMES:
            raise ServiceError("invalid_request", f"kind must be one of {', '.join(OUTCOMES)}", field="kind")
        policy = self.policies.current
        at_ms = to_ms(at) if at is not None else self.now_ms()
        found = self.pointers.get(call_id)
        if found is None:
            (raw,) = await self._run([store.command(b"GET", store.pointer_key(call_id))])
            if raw is None:
                raise ServiceError("unknown_call", "no queued call has this call_id (calls are kept 6 hours)")
            if raw == store.PENDING:  # its enqueue is still under way (another process)
                raise ServiceError("enqueue_in_progress", "this call is being queued; retry shortly")
            pointer = orjson.loads(raw)
            found = (pointer["desk"], int(pointer["enqueued_ms"]))
            self._remember(call_id, *found)
        desk, enqueued_ms = found
        waited_ms = at_ms - enqueued_ms
        counts = outcome(kind, waited_ms, policy.agents.service_level) if kind != "completed" else Counts()  # type: ignore[arg-type]  # kind checked above
        (reply,) = await self._run([store.event(desk, call_id, kind, at_ms, counts)])
        verdict, before, agent_id, token = (store.text(v) for v in reply)
        if verdict == "missing":
            raise ServiceError("unknown_call", "no queued call has this call_id (calls are kept 6 hours)")
        if verdict == "conflict":
            raise ServiceError(
                "invalid_transition", f"the call is {before}; it cannot become {kind}", state=before
            )
        if verdict == "ok" and agent_id and token and kind in ("abandoned", "completed"):
            # The agent still on the call moves on: back to available, or to wrap-up after the talk.
            after = "available" if kind == "abandoned" else "wrap_up"
            (moved,) = await self._run([store.agent_after(agent_id, token, after, at_ms)])
            agent = self.directory.agents.get(agent_id)
            if moved[0] == 1 and agent is not None:
                self._mirror_later(agent, after, at_ms)
        self._changed()
        return {
            "call_id": call_id,
            "kind": kind,
            "desk": desk,
            "state": kind if verdict == "ok" else before,
            "replay": verdict == "replay",
            "waited_s": max(0, waited_ms) / MS,
            "agent_id": agent_id or None,
            "at": iso_ms(at_ms),
        }

    # ------------------------------------------------------------------ figures

    async def stats(self, now: datetime | None = None) -> dict[str, Any]:
        """A4: per desk the calls waiting, the longest wait, the agents by state, and the
        figures of the rolling 30 minutes and of the current 15-minute interval (Q5)."""
        policy = self.policies.current
        rules = policy.agents.service_level
        now_ms = to_ms(now) if now is not None else self.now_ms()
        await self._settle()  # this process's agent states are in before the figures are read
        minutes = window_minutes(now_ms)
        interval = interval_of(now_ms)
        commands = [
            store.stats(
                desk, [*(store.minute_key(desk, m) for m in minutes), store.interval_key(desk, interval)]
            )
            for desk in store.DESKS
        ]
        replies = await self._run(commands)
        desks: dict[str, Any] = {}
        for desk, reply in zip(store.DESKS, replies, strict=True):
            waiting, oldest, states = int(reply[0]), store.text(reply[1]), reply[2]
            by_state = {store.text(states[i]): int(states[i + 1]) for i in range(0, len(states) - 1, 2)}
            agents = {s: max(0, by_state.get(s, 0)) for s in ("available", "busy", "wrap_up", "away")}
            window = Counts()
            for flat in reply[3 : 3 + len(minutes)]:
                window = window + store.counts_of(flat)
            current = store.counts_of(reply[3 + len(minutes)])
            window_figures = figures(window, rules)
            interval_figures = figures(current, rules)
            desks[desk] = {
                "waiting": waiting,
                "longest_wait_s": max(0, now_ms - int(oldest)) / MS if oldest else 0.0,
                "agents": {**agents, "staffed": sum(agents.values())},
                "window": {
                    **window_figures,
                    "meets_target": meets_target(window_figures["service_level"], rules),
                    "from": iso_ms((minutes[0]) * 60 * MS),
                    "to": iso_ms(now_ms),
                },
                "interval": {
                    **interval_figures,
                    "meets_target": meets_target(interval_figures["service_level"], rules),
                    "starts_at": iso_ms(interval),
                    "ends_at": iso_ms(interval + INTERVAL_MS),
                },
            }
        answer = {
            "at": iso_ms(now_ms),
            "threshold_s": rules.threshold_s,
            "short_abandon_s": rules.short_abandon_s,
            "target": rules.target_milli / 1000,
            "window_minutes": WINDOW_MINUTES,
            "formula": "answered_within / (offered - short_abandoned)",
            "rules": ["A4", rules.rule],
            "desks": desks,
        }
        self._gauges(answer)
        return answer

    def _gauges(self, answer: dict[str, Any]) -> None:
        """A5: the Prometheus gauges carry the wallboard's figures."""
        m = self.metrics
        for desk, d in answer["desks"].items():
            m.queue_waiting.labels(desk).set(d["waiting"])
            m.queue_longest_wait.labels(desk).set(d["longest_wait_s"])
            for state in ("available", "busy", "wrap_up", "away"):
                m.queue_agents.labels(desk, state).set(d["agents"][state])
            for period in ("window", "interval"):
                f = d[period]
                for name in ("offered", "answered", "abandoned", "short_abandoned", "answered_within"):
                    m.queue_calls.labels(desk, period, name).set(f[name])
                m.queue_service_level.labels(desk, period).set(
                    f["service_level"] if f["service_level"] is not None else math.nan
                )
                m.queue_asa.labels(desk, period).set(f["asa_s"] if f["asa_s"] is not None else math.nan)
                m.queue_abandon_rate.labels(desk, period).set(
                    f["abandon_rate"] if f["abandon_rate"] is not None else math.nan
                )
        m.queue_target.set(answer["target"])

    async def flush_intervals(self, now: datetime | None = None) -> int:
        """A4: copy the finished intervals still in Redis (the last two hours) to PostgreSQL;
        the number of desk intervals written."""
        rules = self.policies.current.agents.service_level
        now_ms = to_ms(now) if now is not None else self.now_ms()
        current = interval_of(now_ms)
        starts = [current - k * INTERVAL_MS for k in range(1, FLUSH_BACK + 1)]
        keys = [(desk, start) for desk in store.DESKS for start in starts]
        commands: list[bytes] = [store.command(b"HGETALL", store.interval_key(d, start)) for d, start in keys]
        replies = await self._run(commands)
        rows = []
        for (desk, start), flat in zip(keys, replies, strict=True):
            if not flat:
                continue
            c = store.counts_of(flat)
            rows.append(
                StoredInterval(
                    desk,
                    datetime.fromtimestamp(start / MS, UTC),
                    datetime.fromtimestamp((start + INTERVAL_MS) / MS, UTC),
                    c.offered,
                    c.answered,
                    c.answered_within,
                    c.abandoned,
                    c.short_abandoned,
                    c.wait_ms,
                    rules.threshold_s,
                    rules.short_abandon_s,
                )
            )
        await queue_intervals.upsert(self.pool, rows)
        return len(rows)

    async def history(self, first: datetime, last: datetime) -> list[dict[str, Any]]:
        """A4: the stored intervals starting in [first, last), with their figures."""
        rows = await self.reads.run(lambda pool: queue_intervals.between(pool, first, last))
        rules = self.policies.current.agents.service_level
        out = []
        for r in rows:
            counts = Counts(
                r.offered, r.answered, r.answered_within, r.abandoned, r.short_abandoned, r.wait_ms
            )
            # Figures by the thresholds the interval was counted with, not today's.
            counted = type(rules)(r.threshold_s, r.short_abandon_s, rules.target_milli, rules.rule)
            out.append(
                {
                    "desk": r.desk,
                    "starts_at": r.starts_at.astimezone(SHANGHAI).isoformat(),
                    "ends_at": r.ends_at.astimezone(SHANGHAI).isoformat(),
                    **figures(counts, counted),
                    "threshold_s": r.threshold_s,
                    "short_abandon_s": r.short_abandon_s,
                }
            )
        return out

    # ------------------------------------------------------------------ live

    def watch(self) -> asyncio.Queue[bytes]:
        """A5: a queue of the stats JSON, whenever it changes (the wallboard's SSE)."""
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=10)
        self.watchers.add(queue)
        self._dirty.set()  # the new screen gets the figures at once
        return queue

    def unwatch(self, queue: asyncio.Queue[bytes]) -> None:
        """A closed stream."""
        self.watchers.discard(queue)

    async def _publish_stats(self) -> None:
        answer = await self.stats()
        body = orjson.dumps(answer)
        if body == self.latest:
            return
        self.latest = body
        for queue in list(self.watchers):
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()  # a slow screen gets the latest figures, not a backlog
            queue.put_nowait(body)

    async def run_background(self) -> None:
        """Figures every second (gauges), sooner after a change here while a wallboard watches
        (but at most every STATS_MIN_S, however busy the desks), intervals every 30 s."""
        last_flush = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STATS_EVERY_S):
                    while True:
                        await self._dirty.wait()
                        self._dirty.clear()
                        if self.watchers:
                            break
            await asyncio.sleep(STATS_MIN_S)  # changes in a burst are shown together
            self._dirty.clear()
            try:
                await self._publish_stats()
                if time.monotonic() - last_flush >= FLUSH_EVERY_S:
                    last_flush = time.monotonic()
                    await self.flush_intervals()
            except ServiceError:
                pass  # Redis is down: the breaker counted it; the figures wait for it
            except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
                self.metrics.store_errors.labels("postgresql", "queue_intervals").inc()
                log.warning("queue_intervals_failed", error=type(exc).__name__)
