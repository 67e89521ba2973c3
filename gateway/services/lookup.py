"""The per-call IVR lookup (Q1–Q4): Redis first, PostgreSQL on a miss, the default route
when neither answers inside the budget — never a failed call.

Fail-open rules, one per dependency:
- Redis slow, down or frozen: its call times out within its share of the budget, the
  breaker opens after a few failures, and lookups go straight to PostgreSQL. The
  breaker probes through the lookup's own connections (fastredis drops a connection
  whose reply is late, so a probe that passes means they answer in step again).
- Redis answering with an error (WRONGTYPE: the key holds something else) is not an
  outage: the key is treated as a miss and overwritten from PostgreSQL.
- PostgreSQL too: the process's recent answer for the number (flagged degraded), or
  the default route (general queue, `degraded: true`, `source: "default"`).
- Only bad input fails: a malformed number is a 400 `invalid_number`.

Answers are pre-serialised: the part that depends only on the record (tier, queue,
benefits, reactivation) is built once per distinct record and reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from entitlements.benefits import entitlement_codes
from entitlements.matching import skill
from entitlements.model import Tier, bottom_level
from entitlements.money import format_fen as format_yuan
from entitlements.months import Month, shanghai_today
from entitlements.policy import Policy
from entitlements.reactivation import AccountState, decide_reactivation
from entitlements.routing import default_route, route
from gateway.logs import get_logger, mask
from gateway.metrics import Metrics
from gateway.services import cache
from gateway.services.policies import PolicyHolder
from gateway.settings import Settings
from gateway.stores.breaker import CircuitBreaker
from gateway.stores.fastredis import PipelinedRedis, ReplyError
from gateway.stores.queries import managers, snapshot
from gateway.stores.queries.managers import Manager
from gateway.stores.record import Record, key

log = get_logger("lookup")
UNKNOWN_MARK = b""  # a Redis value meaning "checked: not a subscriber"
UNKNOWN_TTL = 600
RECENT_MAX = 200_000
RECENT_SECONDS = 900.0
CALL_TTL = 300
FRAGMENTS_MAX = 100_000


@dataclass(frozen=True, slots=True)
class Answer:
    """One lookup answer: the JSON body, and the fields it was made of (shared between
    answers; the number is added when `fields` is asked for)."""

    body: bytes
    msisdn: str | None
    shared: dict[str, Any]
    source: str
    outcome: str

    @property
    def fields(self) -> dict[str, Any]:
        """The answer as a dict (for the key=value form and the fallback memory)."""
        return {"msisdn": self.msisdn, **self.shared}


class LookupService:
    """Everything the lookup needs, held for the life of the app."""

    def __init__(
        self, settings: Settings, policies: PolicyHolder, pool: asyncpg.Pool, redis: Redis, metrics: Metrics
    ):
        self.settings = settings
        self.policies = policies
        self.policy = policies.current
        self._generation = policies.generation
        self.pool = pool
        self.redis = redis
        self.metrics = metrics
        self.budget = settings.lookup_budget_ms / 1000
        # Redis gets half the budget (a reply may wait in a busy event loop's queue);
        # PostgreSQL keeps enough for a full answer when Redis hangs, until the breaker
        # opens and Redis is skipped altogether.
        self.redis_share = self.budget * 0.5
        self.fast = PipelinedRedis(settings.redis_url or "", connections=2)
        self.redis_breaker = CircuitBreaker("redis", self.fast.ping, metrics)
        self.pg_breaker = CircuitBreaker("postgresql", self._pg_probe, metrics)
        self.managers: dict[int, Manager] = {}
        self.recent: OrderedDict[str, tuple[float, dict[str, Any]]] = OrderedDict()
        self.fragments: dict[tuple[Any, ...], tuple[dict[str, Any], bytes]] = {}
        # Cache hits skip decoding: the same record bytes give the same answer all day.
        self.by_raw: dict[bytes, tuple[dict[str, Any], bytes]] = {}
        self.by_raw_day = date.min
        self.calls: dict[str, bytes] = {}
        self._call_queue: list[tuple[str, bytes]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counters: dict[tuple[str, str], Any] = {}
        self._today = date.min
        self._today_until = 0.0
        self.default_queue: dict[str, Any] = {}
        self.default_skill: dict[str, Any] = {}
        self._adopt(policies.current)

    def _adopt(self, policy: Policy) -> None:
        """Build from `policy` from now on; answers built from the one before are dropped."""
        self.policy = policy
        self._generation = self.policies.generation
        route_default = default_route(policy)
        self.default_queue = {"name": route_default.queue, "priority": route_default.priority}
        self.default_skill = skill(policy, None, route_default.queue).to_dict()  # A3
        self.fragments.clear()
        self.by_raw.clear()

    def _policy_now(self) -> None:
        # One int comparison per call; a reload (O2) bumped the generation.
        if self.policies.generation != self._generation:
            self._adopt(self.policies.current)

    # ------------------------------------------------------------------ lifecycle

    async def _pg_probe(self, timeout: float) -> None:
        await managers.answers(self.pool, timeout)

    async def load_managers(self) -> None:
        """(Re)load the customer managers' contacts (a small table)."""
        self.managers = {m.id: m for m in await managers.every_manager(self.pool, timeout=2.0)}
        # Answers built with the old contacts go, the ones reused by record bytes too.
        self.fragments.clear()
        self.by_raw.clear()

    async def run_background(self) -> None:
        """Flush remembered calls to Redis every 50 ms; reload managers every minute."""
        last_managers = time.monotonic()
        while True:
            await asyncio.sleep(0.05)
            if self._call_queue and self.redis_breaker.allow():
                batch, self._call_queue = self._call_queue, []
                ttl = str(CALL_TTL).encode()
                try:
                    await self.fast.execute(
                        [(b"SET", f"call:{call_id}".encode(), body, b"EX", ttl) for call_id, body in batch],
                        1.0,
                    )
                except (OSError, TimeoutError):  # RedisUnavailable is an OSError
                    self.metrics.store_errors.labels("redis", "call_memory").inc()
            if time.monotonic() - last_managers > 60:
                last_managers = time.monotonic()
                with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
                    await self.load_managers()

    async def close(self) -> None:
        """Stop probes and pending cache fills."""
        await self.fast.close()
        await self.redis_breaker.close()
        await self.pg_breaker.close()
        for task in list(self._tasks):
            task.cancel()

    # ------------------------------------------------------------------ answers

    def today(self) -> date:
        """Today in Asia/Shanghai (the injectable clock), worked out at most once a second."""
        now = time.monotonic()
        if now >= self._today_until:
            self._today = shanghai_today(self.settings.clock())
            self._today_until = now + 1.0
        return self._today

    def _fragment(self, record: Record, today: date, source: str) -> tuple[dict[str, Any], bytes]:
        """The record-dependent part of an answer, built once per distinct record."""
        month = Month.of(today)
        tier = record.tier_on(today)
        # Everything the answer below reads from the record, as it is read: a clamped value
        # would let two records share an answer the policy tells apart (R7's limit is
        # policy data; a province may set it to 4 months or more).
        memo_key = (
            record.policy, tier, record.status, record.payment_mode, record.service_type,
            record.arrears_months, record.grants_in(month), record.unpaid_grant,
            record.manager_id, source,
        )  # fmt: skip
        found = self.fragments.get(memo_key)
        if found is not None:
            return found
        policy = self.policy
        served = tier if tier is not None else Tier(policy.scheme, bottom_level(policy.scheme), None)
        routed = route(policy, served, record.service_type)  # C2: fixed-network cards
        manager = self.managers.get(record.manager_id) if routed.has_manager and record.manager_id else None
        decision = decide_reactivation(
            policy,
            served,
            AccountState(
                record.service_type,
                record.payment_mode,
                record.status,
                record.arrears_months,
                record.grants_in(month),
                record.unpaid_grant,
            ),
            verified=True,
        )
        fields: dict[str, Any] = {
            "known": True,
            "tier": {
                "scheme": served.scheme,
                "level": served.level,
                "valid_until": served.valid_until.isoformat() if served.valid_until else None,
                "name_zh": policy.level_name(served.scheme, served.level, "zh"),
                "name_en": policy.level_name(served.scheme, served.level, "en"),
            },
            "queue": {"name": routed.queue, "priority": routed.priority},
            "skill": skill(policy, served, routed.queue).to_dict(),  # A3: for an ACD routing itself
            "manager": {"name": manager.name, "phone": manager.phone} if manager else None,
            "entitlements": list(entitlement_codes(policy, served, record.service_type)),
            "reactivation": {
                "eligible": decision.eligible,
                "mode": decision.mode,
                "credit_limit_yuan": format_yuan(decision.credit_limit_fen)
                if decision.credit_limit_fen
                else None,
                "hours": decision.hours,
                "days": decision.days,
                "code": decision.code,
            },
            "status": record.status,
            "degraded": False,
            "source": source,
        }
        built = (fields, orjson.dumps(fields)[1:])  # without the opening brace
        if len(self.fragments) >= FRAGMENTS_MAX:
            self.fragments.clear()
        self.fragments[memo_key] = built
        return built

    def _known(self, msisdn: str, record: Record, today: date, source: str) -> Answer:
        fields, fragment = self._fragment(record, today, source)
        return self._with_number(msisdn, fields, fragment, source)

    @staticmethod
    def _with_number(msisdn: str, fields: dict[str, Any], fragment: bytes, source: str) -> Answer:
        body = b'{"msisdn":"' + msisdn.encode() + b'",' + fragment
        return Answer(body, msisdn, fields, source, "known")

    def _from_cache(self, msisdn: str, raw: bytes, today: date) -> Answer | None:
        """A cache hit: the answer for these record bytes, decoded once per day."""
        if today != self.by_raw_day:
            self.by_raw.clear()
            self.by_raw_day = today
        found = self.by_raw.get(raw)
        if found is None:
            record = Record.decode(raw)
            if record is None or not record.fresh_on(today):
                return None
            found = self._fragment(record, today, "cache")
            if len(self.by_raw) >= FRAGMENTS_MAX:
                self.by_raw.clear()
            self.by_raw[raw] = found
        return self._with_number(msisdn, found[0], found[1], "cache")

    def _unknown(self, msisdn: str | None, source: str) -> Answer:
        fields: dict[str, Any] = {
            "known": False,
            "tier": None,
            "queue": self.default_queue,
            "skill": self.default_skill,
            "manager": None,
            "entitlements": [],
            "reactivation": {
                "eligible": False,
                "mode": None,
                "credit_limit_yuan": None,
                "hours": None,
                "days": None,
                "code": "unknown_subscriber",
            },
            "degraded": False,
            "source": source,
        }
        return Answer(orjson.dumps({"msisdn": msisdn, **fields}), msisdn, fields, source, "unknown")

    def _fallback(self, msisdn: str, reason: str) -> Answer:
        """Q4: the recent answer for this number, else the default route; both degraded."""
        kept = self.recent.get(msisdn)
        if kept is not None and time.monotonic() - kept[0] < RECENT_SECONDS:
            fields = {**kept[1], "degraded": True, "source": "cache", "reason": reason}
            return Answer(orjson.dumps({"msisdn": msisdn, **fields}), msisdn, fields, "cache", "recent")
        fields = {**self._unknown(msisdn, "default").shared, "degraded": True, "reason": reason}
        fields["reactivation"] = {**fields["reactivation"], "code": None}
        return Answer(orjson.dumps({"msisdn": msisdn, **fields}), msisdn, fields, "default", "default")

    def _remember(self, msisdn: str, answer: Answer) -> None:
        self.recent[msisdn] = (time.monotonic(), answer.shared)
        self.recent.move_to_end(msisdn)
        if len(self.recent) > RECENT_MAX:
            self.recent.popitem(last=False)

    def remember_call(self, call_id: str, answer: Answer) -> None:
        """Keep the answer by call id for the screen pop (batched to Redis)."""
        self.calls[call_id] = answer.body
        if len(self.calls) > 50_000:
            self.calls.pop(next(iter(self.calls)))
        self._call_queue.append((call_id, answer.body))

    async def recall(self, call_id: str) -> bytes | None:
        """A call's answer: from this process, else from Redis (another worker's call)."""
        found = self.calls.get(call_id)
        if found is not None:
            return found
        if not self.redis_breaker.allow():
            return None
        try:
            raw = await self.fast.get(f"call:{call_id}".encode(), self.redis_share)
        except (OSError, TimeoutError):  # RedisUnavailable is an OSError
            return None
        return raw if isinstance(raw, bytes) else None

    # ------------------------------------------------------------------ the lookup

    def unknown_caller(self) -> Answer:
        """A withheld caller ID: an ordinary unknown caller (Q4)."""
        self._policy_now()
        return self._unknown(None, "default")

    async def lookup(self, msisdn: str) -> Answer:
        """The answer for a normalised number, inside the time budget."""
        started = time.perf_counter()
        deadline = asyncio.get_running_loop().time() + self.budget
        self._policy_now()
        today = self.today()
        answer: Answer | None = None
        reason = "budget exhausted"
        unusable = False  # the key holds something that is not a usable record
        if self.redis_breaker.allow():
            try:
                raw = await self.fast.get(key(msisdn).encode(), self.redis_share)
            except ReplyError:  # e.g. WRONGTYPE: Redis answered, the key is just not a record
                self.redis_breaker.success()
                unusable = True
            except TimeoutError:  # (an OSError: caught before RedisUnavailable's clause)
                self.redis_breaker.failure("timeout")
            except OSError as exc:  # RedisUnavailable: lost, refused or out of step
                self.redis_breaker.failure(type(exc).__name__)
            else:
                self.redis_breaker.success()
                if raw == UNKNOWN_MARK:
                    answer = self._unknown(msisdn, "cache")
                elif isinstance(raw, bytes):
                    answer = self._from_cache(msisdn, raw, today)
                    unusable = answer is None
        if answer is None:
            answer, reason = await self._from_database(msisdn, today, deadline, replace=unusable)
        if answer is None:
            answer = self._fallback(msisdn, reason)
        elif answer.outcome == "known":
            self._remember(msisdn, answer)
        elapsed = time.perf_counter() - started
        counter = self._counters.get((answer.source, answer.outcome))
        if counter is None:
            counter = self._counters[(answer.source, answer.outcome)] = self.metrics.lookups.labels(
                answer.source, answer.outcome
            )
        counter.inc()
        self.metrics.lookup_latency.observe(elapsed)
        return answer

    async def _from_database(
        self, msisdn: str, today: date, deadline: float, *, replace: bool = False
    ) -> tuple[Answer | None, str]:
        if not self.pg_breaker.allow():
            return None, "postgresql unavailable (breaker open)"
        remaining = deadline - asyncio.get_running_loop().time() - 0.002
        if remaining <= 0:
            return None, "budget exhausted before postgresql"
        conn: Any = None
        timed_out = False
        try:
            async with asyncio.timeout(remaining):
                conn = await self.pool.acquire()
                snap = await snapshot.load_single(conn, msisdn, today)
        except TimeoutError:
            timed_out = True
            self.pg_breaker.failure("timeout")
            return None, "postgresql timed out"
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            self.pg_breaker.failure(type(exc).__name__)
            return None, f"postgresql failed ({type(exc).__name__})"
        finally:
            if conn is not None:
                self._release(conn, discard=timed_out)
        self.pg_breaker.success()
        if snap is None:
            self._spawn(self._fill(msisdn, None, replace=replace))
            return self._unknown(msisdn, "database"), ""
        record = cache.record_for(snap, self.policy, today)
        self._spawn(self._fill(msisdn, record, replace=replace))
        if record is None:  # a cancelled number is an unknown caller
            return self._unknown(msisdn, "database"), ""
        return self._known(msisdn, record, today, "database"), ""

    def _release(self, conn: Any, *, discard: bool) -> None:
        """Return a connection without waiting on a store that may be frozen."""

        async def release() -> None:
            try:
                if discard:
                    conn.terminate()
                await self.pool.release(conn, timeout=1.0)
            except Exception as exc:  # a broken connection is dropped by the pool
                log.debug("release_failed", error=type(exc).__name__)

        self._spawn(release())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill(self, msisdn: str, record: Record | None, *, replace: bool = False) -> None:
        """Write what PostgreSQL said back to Redis (never on the caller's time).

        "Not a subscriber" does not overwrite a record a write path may have stored
        meanwhile, unless the key held something unusable (`replace`).
        """
        if not self.redis_breaker.allow():
            return
        try:
            async with asyncio.timeout(0.5):
                if record is None:
                    await self.redis.set(key(msisdn), UNKNOWN_MARK, ex=UNKNOWN_TTL, nx=not replace)
                else:
                    await self.redis.set(key(msisdn), record.encode())
        except (RedisError, OSError, TimeoutError):
            self.metrics.store_errors.labels("redis", "fill").inc()
            log.debug("cache_fill_failed", number=mask(msisdn))
