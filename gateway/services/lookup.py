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
benefits, reactivation) is built once per distinct record and reused. Loyalty points (P3)
are the subscriber's own: the reuse is keyed on the record without its points trailer,
and the points JSON (built once per distinct trailer and day) is spliced in beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections import OrderedDict
from datetime import date
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from entitlements.benefits import entitlement_codes
from entitlements.immutable import immutable
from entitlements.matching import skill
from entitlements.model import Tier, bottom_level
from entitlements.money import format_fen as format_yuan
from entitlements.months import Month, shanghai_today
from entitlements.policy import Policy
from entitlements.reactivation import AccountState, decide_reactivation
from entitlements.routing import default_route, route
from gateway.logs import get_logger, mask
from gateway.metrics import Metrics, Tally
from gateway.services import cache
from gateway.services.policies import PolicyHolder
from gateway.settings import Settings
from gateway.stores.breaker import CircuitBreaker
from gateway.stores.fastredis import PipelinedRedis, ReplyError
from gateway.stores.queries import managers, snapshot
from gateway.stores.queries.managers import Manager
from gateway.stores.record import BASE_SIZE, Record, RecordPoints, in_refresh_month, key_of, unknown_key
from gateway.stores.replica import REPLICA_FAILURES, ReadPools

log = get_logger("lookup")
UNKNOWN_MARK = b""  # the value of a number's `unknown_key`: "checked: not a subscriber"
UNKNOWN_TTL = 600
RECENT_MAX = 200_000
RECENT_SECONDS = 900.0
CALL_TTL = 300
FRAGMENTS_MAX = 100_000
NO_POINTS = b"null"  # P3: a number without a points ledger
CALLS_MAX = 50_000


def call_key(call_id: str) -> bytes:
    """H1: the compact key of a call's number (`ca:` + 12 bytes of BLAKE2b of the call id):
    a SIP Call-ID is often 40–80 characters, and 2 h of calls at 1,000/s is 7.2 M keys."""
    return b"ca:" + hashlib.blake2b(call_id.encode(), digest_size=12).digest()


#: H1: the call's minute is kept modulo 2**19 minutes (364 days): far beyond any call memory
#: (at most 7 days, `CALLGATE_CALL_MEMORY_S`), so the age is exact within a key's TTL.
_MINUTE_BITS = 19
_MINUTE_MASK = (1 << _MINUTE_BITS) - 1


def call_value(msisdn: str, at: float) -> bytes:
    """H1: what `ca:` holds — the call's normalised number (7–12 digits, leading zeros
    kept by its length) and the minute it was answered (the injectable clock's), packed in
    one integer below 2**63. Redis stores such a value inside its object header (no string
    allocation): 117 bytes a key instead of 149 for "number:epoch" text."""
    packed = ((int(msisdn) << 3 | (len(msisdn) - 7)) << _MINUTE_BITS) | (int(at // 60) & _MINUTE_MASK)
    return str(packed).encode()


def parse_call_value(raw: bytes) -> tuple[str, int] | None:
    """(number, minute modulo 2**19) from a `ca:` value, None for anything else."""
    if not raw.isdigit() or len(raw) > 19:
        return None
    packed = int(raw)
    rest = packed >> _MINUTE_BITS
    length = (rest & 7) + 7
    digits = str(rest >> 3)
    if length > 12 or len(digits) > length:
        return None
    return digits.zfill(length), packed & _MINUTE_MASK


@immutable
class Answer:
    """One lookup answer: the JSON body, and the fields it was made of (shared between
    answers; the number and the points are added when `fields` is asked for).

    Read-only to mypy, built without frozen's per-field `object.__setattr__` (one is
    built per call: that was a tenth of a cache hit's CPU in the answer path)."""

    body: bytes
    msisdn: str | None
    shared: dict[str, Any]
    source: str
    outcome: str
    points: bytes = NO_POINTS  # P3: the subscriber's `points` as JSON

    @property
    def fields(self) -> dict[str, Any]:
        """The answer as a dict (for the key=value form and the fallback memory)."""
        return {"msisdn": self.msisdn, "points": orjson.loads(self.points), **self.shared}


def _body(msisdn: str | None, points: bytes, fields: dict[str, Any]) -> bytes:
    """An answer's JSON in the order the spliced answers have: number, points, the rest."""
    return orjson.dumps({"msisdn": msisdn, "points": orjson.loads(points), **fields})


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
        #: X2: misses read the replica when the app configures one (`_replica_ctx`).
        self.reads = ReadPools(pool, None, metrics)
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
        self.recent: OrderedDict[str, tuple[float, dict[str, Any], bytes]] = OrderedDict()
        self.fragments: dict[tuple[Any, ...], tuple[dict[str, Any], bytes]] = {}
        # Cache hits skip decoding: the same record bytes give the same answer all day. Keyed
        # on the record without its points (per subscriber: they would defeat the reuse),
        # with whether today is in the record's refresh_after month (the points need it).
        self.by_raw: dict[bytes, tuple[dict[str, Any], bytes, bool]] = {}
        # P3: the points JSON per trailer, in and outside the record's last month; per day.
        self.points_json: tuple[dict[bytes, bytes], dict[bytes, bytes]] = ({}, {})
        self.by_raw_day = date.min
        self.calls: dict[str, bytes] = {}
        self._call_queue: list[tuple[str, bytes]] = []
        # H1: the calls' numbers (this process's, for the moments before the batch reaches
        # Redis; every process reads the others' from Redis `ca:` keys).
        self.call_numbers: dict[str, bytes] = {}
        self._number_queue: list[tuple[bytes, bytes]] = []
        self.call_memory_s = settings.call_memory_s
        self._tasks: set[asyncio.Task[Any]] = set()
        self._counters: dict[tuple[str, str], Tally] = {}
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
        self.recent.clear()  # O2: Q4's fallback answers too were built from the old policy
        for table in self.points_json:
            table.clear()

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
            # While Redis is out the batches wait; keep the newest CALLS_MAX of each (this
            # process still answers those from memory), never an hour's worth of calls.
            for queue in (self._call_queue, self._number_queue):
                if len(queue) > CALLS_MAX:
                    del queue[: len(queue) - CALLS_MAX]
            if (self._call_queue or self._number_queue) and self.redis_breaker.allow():
                batch, self._call_queue = self._call_queue, []
                numbers, self._number_queue = self._number_queue, []
                ttl = str(CALL_TTL).encode()
                memory = str(self.call_memory_s).encode()
                commands: list[tuple[bytes, ...]] = [
                    (b"SET", f"call:{call_id}".encode(), body, b"EX", ttl) for call_id, body in batch
                ]
                commands += [(b"SET", ckey, value, b"EX", memory) for ckey, value in numbers]
                try:
                    await self.fast.execute(commands, 1.0)
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
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        # Let them unwind before the clients close: a fill cut short while connecting would
        # otherwise leave its half-made connection open.
        await asyncio.gather(*pending, return_exceptions=True)

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
            "manager": {"id": manager.id, "name": manager.name, "phone": manager.phone} if manager else None,
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
        points = NO_POINTS
        if record.points is not None:
            last_month = (record.refresh_after.year, record.refresh_after.month) == (today.year, today.month)
            points = record.points.lookup_json(last_month)
        return self._with_number(msisdn, fields, fragment, source, points)

    @staticmethod
    def _with_number(
        msisdn: str, fields: dict[str, Any], fragment: bytes, source: str, points: bytes
    ) -> Answer:
        body = b"".join((b'{"msisdn":"', msisdn.encode(), b'","points":', points, b",", fragment))
        return Answer(body, msisdn, fields, source, "known", points)

    def _points(self, trailer: bytes, last_month: bool) -> bytes | None:
        """P3: the points JSON of a record's trailer (None: not a trailer, a miss)."""
        table = self.points_json[last_month]
        found = table.get(trailer)
        if found is None:
            decoded = RecordPoints.decode(trailer)
            if decoded is None:
                return None
            found = decoded.lookup_json(last_month)
            if len(table) >= FRAGMENTS_MAX:
                table.clear()
            table[trailer] = found
        return found

    def _from_cache(self, msisdn: str, raw: bytes, today: date) -> Answer | None:
        """A cache hit: the answer for these record bytes, decoded once per day."""
        if today != self.by_raw_day:
            self.by_raw.clear()
            for table in self.points_json:
                table.clear()
            self.by_raw_day = today
        base = raw if len(raw) <= BASE_SIZE else raw[:BASE_SIZE]
        found = self.by_raw.get(base)
        if found is None:
            record = Record.decode(raw)
            if record is None or not record.fresh_on(today):
                return None
            fields, fragment = self._fragment(record, today, "cache")
            found = (fields, fragment, in_refresh_month(raw, today))
            if len(self.by_raw) >= FRAGMENTS_MAX:
                self.by_raw.clear()
            self.by_raw[base] = found
        if base is raw:
            return self._with_number(msisdn, found[0], found[1], "cache", NO_POINTS)
        points = self._points(raw[BASE_SIZE:], found[2])
        if points is None:
            return None
        return self._with_number(msisdn, found[0], found[1], "cache", points)

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
        return Answer(_body(msisdn, NO_POINTS, fields), msisdn, fields, source, "unknown")

    def _fallback(self, msisdn: str, reason: str) -> Answer:
        """Q4: the recent answer for this number, else the default route; both degraded."""
        kept = self.recent.get(msisdn)
        if kept is not None and time.monotonic() - kept[0] < RECENT_SECONDS:
            fields = {**kept[1], "degraded": True, "source": "cache", "reason": reason}
            return Answer(_body(msisdn, kept[2], fields), msisdn, fields, "cache", "recent", kept[2])
        fields = {**self._unknown(msisdn, "default").shared, "degraded": True, "reason": reason}
        fields["reactivation"] = {**fields["reactivation"], "code": None}
        return Answer(_body(msisdn, NO_POINTS, fields), msisdn, fields, "default", "default")

    def _remember(self, msisdn: str, answer: Answer) -> None:
        self.recent[msisdn] = (time.monotonic(), answer.shared, answer.points)
        self.recent.move_to_end(msisdn)
        if len(self.recent) > RECENT_MAX:
            self.recent.popitem(last=False)

    def remember_call(self, call_id: str, answer: Answer) -> None:
        """Keep the answer by call id for the screen pop, and the call's number for H1
        (both batched to Redis off the caller's time)."""
        self.calls[call_id] = answer.body
        if len(self.calls) > CALLS_MAX:
            self.calls.pop(next(iter(self.calls)))
        self._call_queue.append((call_id, answer.body))
        if answer.msisdn is not None:  # a withheld ANI proves no number
            self.note_call_number(call_id, answer.msisdn)

    def note_call_number(self, call_id: str, msisdn: str) -> None:
        """H1: remember that the call `call_id` comes from `msisdn` (normalised)."""
        ckey, value = call_key(call_id), call_value(msisdn, self.settings.clock().timestamp())
        self.call_numbers[call_id] = value
        if len(self.call_numbers) > CALLS_MAX:
            self.call_numbers.pop(next(iter(self.call_numbers)))
        self._number_queue.append((ckey, value))

    async def call_number(self, call_id: str) -> str | None:
        """H1: the normalised number the call `call_id` comes from, while the call memory
        lasts (`CALLGATE_CALL_MEMORY_S`); None for an unknown or expired call, or when Redis
        cannot say (own number is then unproven: the password path still works)."""
        raw: bytes | None = self.call_numbers.get(call_id)
        if raw is None and self.redis_breaker.allow():
            try:
                found = await self.fast.get(call_key(call_id), self.redis_share)
            except (OSError, TimeoutError):  # RedisUnavailable is an OSError
                found = None
            raw = found if isinstance(found, bytes) else None
        parsed = parse_call_value(raw) if raw else None
        if parsed is None:
            return None
        number, minute = parsed
        age = (int(self.settings.clock().timestamp() // 60) - minute) & _MINUTE_MASK
        if age > -(-self.call_memory_s // 60):  # whole minutes: at least the memory, at most 1 min more
            return None  # expired by the service's clock (Redis's TTL only frees the memory)
        return number

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
        # The budget runs from `started` (perf_counter: no asyncio.get_running_loop(), which
        # is a getpid() system call on Python 3.11, on the cache-hit path).
        deadline = started + self.budget
        self._policy_now()
        today = self.today()
        answer: Answer | None = None
        reason = "budget exhausted"
        unusable = False  # the field holds something that is not a usable record
        wrong_type = False  # the bucket key holds something that is not a hash
        if self.redis_breaker.allow():
            bucket, field = key_of(msisdn)
            try:
                raw = await self.fast.get(bucket, self.redis_share, field)
                if raw is None:  # not cached: a "not a subscriber" mark, or a miss
                    raw = await self.fast.get(unknown_key(msisdn), self.redis_share)
                    if raw is not None and raw != UNKNOWN_MARK:
                        raw = None  # something else under the mark's key: a miss
            except ReplyError:  # e.g. WRONGTYPE: Redis answered, the key is just not a record
                self.redis_breaker.success()
                unusable = wrong_type = True
            except TimeoutError:  # (an OSError: caught before RedisUnavailable's clause)
                self.redis_breaker.failure("timeout")
            except OSError as exc:  # RedisUnavailable: lost, refused or out of step
                self.redis_breaker.failure(type(exc).__name__)
            else:
                self.redis_breaker.success()
                if raw == UNKNOWN_MARK:
                    answer = self._unknown(msisdn, "cache")
                elif raw is not None:
                    answer = self._from_cache(msisdn, raw, today)
                    unusable = answer is None
        if answer is None:
            answer, reason = await self._from_database(
                msisdn, today, deadline, replace=unusable, wrong_type=wrong_type
            )
        if answer is None:
            answer = self._fallback(msisdn, reason)
        elif answer.outcome == "known":
            self._remember(msisdn, answer)
        tally = self._counters.get((answer.source, answer.outcome))
        if tally is None:
            tally = self._counters[(answer.source, answer.outcome)] = self.metrics.tally(
                self.metrics.lookups.labels(answer.source, answer.outcome), self.metrics.lookup_latency
            )
        tally.add(time.perf_counter() - started)
        return answer

    async def _from_database(
        self, msisdn: str, today: date, deadline: float, *, replace: bool = False, wrong_type: bool = False
    ) -> tuple[Answer | None, str]:
        """The answer from PostgreSQL within what is left of the budget (`deadline`: a
        time.perf_counter() reading), or None and why not."""
        if not self.pg_breaker.allow():
            return None, "postgresql unavailable (breaker open)"
        remaining = deadline - time.perf_counter() - 0.002
        if remaining <= 0:
            return None, "budget exhausted before postgresql"
        replica = self.reads.replica_now()
        if replica is not None:  # X2: half the time left for the replica, the rest for the primary
            try:
                found = await self._load(replica, msisdn, today, remaining / 2)
            except REPLICA_FAILURES as exc:
                self.reads.failed(exc)
                remaining = deadline - time.perf_counter() - 0.002
                if remaining <= 0:  # the primary is not to blame: its breaker stays as it is
                    return None, "budget exhausted by the replica"
            else:
                self.reads.succeeded()
                return self._loaded(msisdn, found, today, replace=replace, wrong_type=wrong_type, nx=True)
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
        return self._loaded(msisdn, snap, today, replace=replace, wrong_type=wrong_type)

    async def _load(self, pool: asyncpg.Pool, msisdn: str, today: date, timeout: float) -> Any:
        """X2: the snapshot from `pool` (the replica) within `timeout`; raises what the replica raised."""
        conn: Any = None
        timed_out = False
        try:
            async with asyncio.timeout(timeout):
                conn = await pool.acquire()
                return await snapshot.load_single(conn, msisdn, today)
        except TimeoutError:
            timed_out = True
            raise
        finally:
            if conn is not None:
                self._release(conn, discard=timed_out, pool=pool)

    def _loaded(
        self,
        msisdn: str,
        snap: Any,
        today: date,
        *,
        replace: bool,
        wrong_type: bool = False,
        nx: bool = False,
    ) -> tuple[Answer | None, str]:
        """The answer from a snapshot read (None: not a subscriber), its cache fill spawned."""
        if snap is None:
            self._spawn(self._fill(msisdn, None, replace=replace, wrong_type=wrong_type))
            return self._unknown(msisdn, "database"), ""
        record = cache.record_for(snap, self.policy, today)
        self._spawn(self._fill(msisdn, record, replace=replace, wrong_type=wrong_type, nx=nx))
        if record is None:  # a cancelled number is an unknown caller
            return self._unknown(msisdn, "database"), ""
        return self._known(msisdn, record, today, "database"), ""

    def _release(self, conn: Any, *, discard: bool, pool: asyncpg.Pool | None = None) -> None:
        """Return a connection without waiting on a store that may be frozen."""

        async def release() -> None:
            try:
                if discard:
                    conn.terminate()
                await (pool or self.pool).release(conn, timeout=1.0)
            except Exception as exc:  # a broken connection is dropped by the pool
                log.debug("release_failed", error=type(exc).__name__)

        self._spawn(release())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fill(
        self,
        msisdn: str,
        record: Record | None,
        *,
        replace: bool = False,
        wrong_type: bool = False,
        nx: bool = False,
    ) -> None:
        """Write what PostgreSQL said back to Redis (never on the caller's time).

        A record goes into its bucket; "not a subscriber" is a mark with a TTL of its own
        (`unknown_key`), which a record in the bucket outranks, so a write path's record is
        never hidden by it. `replace`: the field held something unusable (deleted with a
        mark); `wrong_type`: the bucket key held something that is not a hash (removed,
        unless a writer made it a hash meanwhile); `nx` (X2): a record read from the replica
        does not overwrite one a writer stored meanwhile (it may be older).
        """
        if not self.redis_breaker.allow():
            return
        bucket, field = key_of(msisdn)
        try:
            async with asyncio.timeout(0.5):
                if wrong_type and await self.redis.type(bucket) not in (b"hash", b"none"):
                    await self.redis.delete(bucket)
                if record is None:
                    if replace:
                        await self.redis.hdel(bucket, field)
                    await self.redis.set(unknown_key(msisdn), UNKNOWN_MARK, ex=UNKNOWN_TTL)
                else:
                    if nx and not replace:
                        await self.redis.hsetnx(bucket, field, record.encode())
                    else:
                        await self.redis.hset(bucket, field, record.encode())
        except (RedisError, OSError, TimeoutError):
            self.metrics.store_errors.labels("redis", "fill").inc()
            log.debug("cache_fill_failed", number=mask(msisdn))
