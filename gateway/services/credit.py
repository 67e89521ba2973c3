"""Temporary credit (R5): atomic check-and-debit in Redis, durable in PostgreSQL.

Per subscriber, in the subscriber's cluster slot (hash tag `{MSISDN}`):

* `c:{M}`   hash  — the credit state: grant id (`rid`, 0 = none), `limit`, `used`,
  `exp` (ms; -1 = none). Loaded from PostgreSQL on a miss; expires after `STATE_TTL_MS`.
* `c:{M}:r` hash  — ref → the answer given (body hash, approved, remaining, code):
  the idempotency of `ref`.
* `c:{M}:j` list  — the journal: every authorisation the script decided, appended by
  the same script, removed only after it is committed in PostgreSQL.
* `c:{M}:g` counter — bumped by every approval; a load is refused if it moved.

One Lua script (`AUTHORIZE_LUA`) replays a known ref, loads a missing state, decides
exactly like `entitlements.reactivation.decide_credit`, debits, remembers the answer and
appends the journal entry — atomically. The request then writes the authorisation to
PostgreSQL (`credit_debits`, `reactivations.credit_used_fen`) and drops the journal
entry. **Nothing is lost when the process dies** between the script and that write:
the entry stays in the journal, and the reconciler copies it into PostgreSQL,
idempotently by ref: every journal at start-up and every ten minutes (a keyspace SCAN),
and every few seconds the numbers this process itself could not clear.

A missing state is loaded only when the journal is empty and no approval happened since
the loader drained it (the `g` counter), so the used amount read from PostgreSQL always
includes every approval. PostgreSQL has the last word whenever it answers: an approval
it cannot accept (a debit made in PostgreSQL while Redis was unreachable) is turned into
a decline and Redis is put right. Redis unreachable: a row-locked debit in PostgreSQL,
and the number is marked for a resync of its Redis state. Both unreachable: a declined
answer flagged `degraded` — the charging side never gets a 5xx, and nothing is spent.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import orjson
from redis.asyncio import Redis

from entitlements.reactivation import decide_credit
from gateway.logs import get_logger, number_ref
from gateway.metrics import Metrics
from gateway.services.consistency import STORE_FAILURES
from gateway.services.errors import Conflict, unknown_subscriber
from gateway.stores.queries import credit as ledger
from gateway.stores.queries.credit import Debit, Grant, Overspend
from gateway.stores.queries.snapshot import Conn

log = get_logger("credit")

REFS_TTL_MS = 35 * 24 * 3600 * 1000
STATE_TTL_MS = 15 * 60 * 1000
RECONCILE_SECONDS = 5.0
FULL_RECONCILE_SECONDS = 600.0
#: The periodic reconciler leaves entries this young to the request writing them.
RECONCILE_MIN_AGE_MS = 10_000
LOAD_ATTEMPTS = 5
PG_FAILURES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)

AUTHORIZE_LUA = """
local state, refs, journal, gen = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ref, hash = ARGV[1], ARGV[2]
local function replay(prior)
  local a = cjson.decode(prior)
  if a.h ~= hash then return {'conflict'} end
  return {'replay', a.a, a.r, a.c, a.i}
end
local prior = redis.call('HGET', refs, ref)
if prior then return replay(prior) end
if redis.call('EXISTS', state) == 0 then
  local seen = redis.call('GET', gen) or '0'
  local pending = redis.call('LLEN', journal)
  if ARGV[7] ~= '1' or seen ~= ARGV[8] or pending > 0 then
    return {'missing', seen, pending}
  end
  redis.call('HSET', state, 'rid', ARGV[9], 'limit', ARGV[10], 'used', ARGV[11], 'exp', ARGV[12])
  redis.call('PEXPIRE', state, ARGV[13])
  for i = 14, #ARGV - 1, 2 do redis.call('HSETNX', refs, ARGV[i], ARGV[i + 1]) end
  if #ARGV >= 14 then redis.call('PEXPIRE', refs, ARGV[6]) end
  prior = redis.call('HGET', refs, ref)
  if prior then return replay(prior) end
end
local s = redis.call('HMGET', state, 'rid', 'limit', 'used', 'exp')
local rid = s[1]
local limit, used, exp = tonumber(s[2]), tonumber(s[3]), tonumber(s[4])
local amount, now = tonumber(ARGV[3]), tonumber(ARGV[4])
local approved, remaining, code = 0, 0, ''
if rid == '0' then
  code = 'no_credit'
elseif exp >= 0 and now >= exp then
  code = 'credit_expired'
else
  remaining = limit - math.max(used, 0)
  if remaining < 0 then remaining = 0 end
  if amount > remaining then
    code = 'credit_exhausted'
  else
    approved = 1
    remaining = remaining - amount
    redis.call('HINCRBY', state, 'used', ARGV[3])
    redis.call('INCR', gen)
    redis.call('PEXPIRE', gen, ARGV[6])
  end
end
local rem = string.format('%d', remaining)
local answer = cjson.encode({h = hash, a = approved, r = rem, c = code, i = rid})
redis.call('HSET', refs, ref, answer)
redis.call('PEXPIRE', refs, ARGV[6])
local entry = cjson.encode({f = ref, i = rid, m = ARGV[3], a = approved, r = rem, c = code,
                            t = ARGV[4], w = ARGV[5], h = hash})
redis.call('RPUSH', journal, entry)
return {'new', approved, rem, code, rid, entry}
"""

# Undo one approval PostgreSQL refused (or drop a ref another number owns).
REFUND_LUA = """
if redis.call('HGET', KEYS[1], 'rid') == ARGV[4] then
  local used = tonumber(redis.call('HGET', KEYS[1], 'used')) - tonumber(ARGV[3])
  local floor = tonumber(ARGV[5])
  if used < floor then used = floor end
  redis.call('HSET', KEYS[1], 'used', string.format('%d', used))
end
if ARGV[6] == '' then
  redis.call('HDEL', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[6])
end
redis.call('LREM', KEYS[3], 1, ARGV[2])
return 1
"""


def state_key(msisdn: str) -> str:
    """The credit state of a number (same cluster slot as its cache record)."""
    return f"c:{{{msisdn}}}"


def credit_keys(msisdn: str) -> list[str]:
    """KEYS of the scripts: state, refs, journal, generation."""
    base = state_key(msisdn)
    return [base, f"{base}:r", f"{base}:j", f"{base}:g"]


def dead_letter_key(msisdn: str) -> str:
    """Journal entries PostgreSQL could not take (a ref another number already used)."""
    return f"{state_key(msisdn)}:dead"


def body_hash(msisdn: str, amount_fen: int) -> str:
    """What a ref's replay must match: the number and the amount."""
    return hashlib.sha256(f"{msisdn}:{amount_fen}".encode()).hexdigest()[:16]


def epoch_ms(moment: datetime) -> int:
    """An instant as integer milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    """Integer epoch milliseconds as an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, UTC)


def answer_json(hash_: str, approved: bool, remaining_fen: int, code: str | None, rid: int) -> str:
    """A ref's stored answer, in the script's format."""
    return orjson.dumps(
        {"h": hash_, "a": int(approved), "r": str(remaining_fen), "c": code or "", "i": str(rid)}
    ).decode()


@dataclass(frozen=True, slots=True)
class Load:
    """A state read from PostgreSQL, to install when it is still missing."""

    generation: str
    grant: Grant
    refs: list[tuple[str, str]]


def authorize_args(
    ref: str, hash_: str, amount_fen: int, now: datetime, wall_ms: int, load: Load | None = None
) -> list[str]:
    """ARGV of `AUTHORIZE_LUA`."""
    args = [ref, hash_, str(amount_fen), str(epoch_ms(now)), str(wall_ms), str(REFS_TTL_MS)]
    if load is None:
        return [*args, "0"]
    g = load.grant
    args += [
        "1",
        load.generation,
        str(g.id),
        str(g.limit_fen or 0),
        str(g.used_fen),
        str(epoch_ms(g.expires_at)) if g.expires_at is not None else "-1",
        str(STATE_TTL_MS),
    ]
    for ref_, answer in load.refs:
        args += [ref_, answer]
    return args


@dataclass(frozen=True, slots=True)
class Answer:
    """The charging side's answer."""

    approved: bool
    remaining_fen: int
    code: str | None
    replayed: bool = False
    degraded: bool = False


@dataclass(frozen=True, slots=True)
class Entry:
    """One journal entry (an authorisation the script decided)."""

    raw: str
    debit: Debit
    hash: str
    wall_ms: int


def parse_entry(msisdn: str, raw: bytes | str) -> Entry:
    """A journal entry back from its JSON."""
    raw = _text(raw)
    e = orjson.loads(raw)
    debit = Debit(
        ref=e["f"],
        msisdn=msisdn,
        reactivation_id=int(e["i"]),
        amount_fen=int(e["m"]),
        approved=bool(e["a"]),
        remaining_fen=int(e["r"]),
        code=e["c"] or None,
        at=from_ms(int(e["t"])),
    )
    return Entry(raw, debit, e["h"], int(e["w"]))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class CreditService:
    """Authorisations and reconciliation over one Redis client and one PostgreSQL pool."""

    def __init__(self, redis: Redis, pool: asyncpg.Pool, metrics: Metrics) -> None:
        self.redis = redis
        self.pool = pool
        self.metrics = metrics
        self.authorize_script = redis.register_script(AUTHORIZE_LUA)
        self.refund_script = redis.register_script(REFUND_LUA)
        self.dirty: set[str] = set()  # numbers whose journal this process could not clear

    # --- authorisation --------------------------------------------------------------

    async def authorize(self, msisdn: str, ref: str, amount_fen: int, now: datetime) -> Answer:
        """R5: approve or decline one charge (idempotent per ref); `unknown_subscriber` if not ours."""
        hash_ = body_hash(msisdn, amount_fen)
        try:
            reply = await self.decide_in_redis(msisdn, ref, hash_, amount_fen, now)
        except STORE_FAILURES as exc:
            self.metrics.store_errors.labels("redis", "credit").inc()
            log.warning("credit_redis_unavailable", error=type(exc).__name__, ref=number_ref(msisdn))
            return await self.authorize_in_postgres(msisdn, ref, amount_fen, now)
        except PG_FAILURES as exc:  # the state was missing and PostgreSQL could not load it
            return self._degraded(exc, msisdn)
        kind = _text(reply[0])
        if kind == "conflict":
            raise _ref_conflict()
        if kind == "replay":
            return Answer(bool(int(reply[1])), int(_text(reply[2])), _text(reply[3]) or None, replayed=True)
        entry = parse_entry(msisdn, reply[5])
        return await self._write_through(msisdn, entry, now)

    async def decide_in_redis(
        self, msisdn: str, ref: str, hash_: str, amount_fen: int, now: datetime
    ) -> list[Any]:
        """Run the script, loading the state from PostgreSQL when it is missing."""
        keys = credit_keys(msisdn)
        reply: list[Any] = await self.authorize_script(
            keys=keys, args=authorize_args(ref, hash_, amount_fen, now, _wall_ms())
        )
        for _ in range(LOAD_ATTEMPTS):
            if _text(reply[0]) != "missing":
                return reply
            generation = _text(reply[1])
            await self.reconcile_number(msisdn, min_age_ms=0)  # the load must see every approval
            async with self.pool.acquire() as conn:
                grant = await ledger.grant_of(conn, msisdn)
                if grant is None:
                    raise unknown_subscriber()
                since = now - timedelta(milliseconds=REFS_TTL_MS)
                debits = await ledger.recent_debits(conn, msisdn, since)
            refs = [
                (d.ref, answer_json(body_hash(msisdn, d.amount_fen), d.approved, d.remaining_fen, d.code,
                                    d.reactivation_id))
                for d in debits
            ]  # fmt: skip
            load = Load(generation, grant, refs)
            reply = await self.authorize_script(
                keys=keys, args=authorize_args(ref, hash_, amount_fen, now, _wall_ms(), load)
            )
        if _text(reply[0]) == "missing":  # approvals kept racing the load: let PostgreSQL decide
            raise TimeoutError("credit state load kept losing to concurrent approvals")
        return reply

    async def _write_through(self, msisdn: str, entry: Entry, now: datetime) -> Answer:
        """Record the script's decision in PostgreSQL; PostgreSQL may turn an approval down."""
        debit = entry.debit
        try:
            async with self.pool.acquire() as conn:
                result = await ledger.record(conn, debit)
        except Overspend as over:
            return await self._refuse_overspend(msisdn, entry, over)
        except PG_FAILURES as exc:
            # The journal keeps the entry; the reconciler records it when PostgreSQL is back.
            self.dirty.add(msisdn)
            self.metrics.store_errors.labels("postgresql", "credit").inc()
            log.warning("credit_write_deferred", error=type(exc).__name__, ref=number_ref(msisdn))
            return Answer(debit.approved, debit.remaining_fen, debit.code)
        if result == "foreign":
            await self._refund(msisdn, entry, debit.amount_fen if debit.approved else 0, 0, "")
            raise _ref_conflict()
        try:
            await self.redis.lrem(credit_keys(msisdn)[2], 1, entry.raw)
        except STORE_FAILURES:
            self.dirty.add(msisdn)  # recorded in PostgreSQL; the leftover entry is dropped later
            self.metrics.store_errors.labels("redis", "credit_journal").inc()
        return Answer(debit.approved, debit.remaining_fen, debit.code)

    async def _refuse_overspend(self, msisdn: str, entry: Entry, over: Overspend) -> Answer:
        debit = entry.debit
        remaining = max(over.limit_fen - over.used_fen, 0)
        declined = Debit(
            debit.ref, msisdn, debit.reactivation_id, debit.amount_fen, False, remaining,
            "credit_exhausted", debit.at,
        )  # fmt: skip
        self.metrics.credit_overspend.inc()
        log.warning("credit_overspend_refused", ref=number_ref(msisdn))
        try:
            async with self.pool.acquire() as conn:
                await ledger.record(conn, declined)
        except PG_FAILURES as exc:  # nothing was spent; the refund below drops the approval
            self.metrics.store_errors.labels("postgresql", "credit").inc()
            log.warning("credit_decline_not_recorded", error=type(exc).__name__, ref=number_ref(msisdn))
        answer = answer_json(entry.hash, False, remaining, "credit_exhausted", debit.reactivation_id)
        await self._refund(msisdn, entry, debit.amount_fen, over.used_fen, answer)
        return Answer(False, remaining, "credit_exhausted")

    async def _refund(self, msisdn: str, entry: Entry, amount_fen: int, floor_fen: int, answer: str) -> None:
        """Undo a Redis approval PostgreSQL refused (a Redis failure here is counted, not raised:
        the journal entry then meets the PostgreSQL row, which wins, at reconciliation)."""
        try:
            await self.refund_script(
                keys=credit_keys(msisdn)[:3],
                args=[entry.debit.ref, entry.raw, amount_fen, entry.debit.reactivation_id, floor_fen, answer],
            )
        except STORE_FAILURES as exc:
            self.metrics.store_errors.labels("redis", "credit_refund").inc()
            log.warning("credit_refund_failed", error=type(exc).__name__, ref=number_ref(msisdn))

    async def authorize_in_postgres(self, msisdn: str, ref: str, amount_fen: int, now: datetime) -> Answer:
        """Redis unreachable: the row-locked debit in PostgreSQL (or a degraded decline)."""
        try:
            async with self.pool.acquire() as conn:
                found = await debit_in_postgres(conn, msisdn, ref, amount_fen, now)
        except PG_FAILURES as exc:
            return self._degraded(exc, msisdn)
        if found is None:
            raise unknown_subscriber()
        debit, replayed = found
        if replayed and (debit.msisdn != msisdn or debit.amount_fen != amount_fen):
            raise _ref_conflict()
        self.metrics.credit_fallback.labels("postgresql").inc()
        return Answer(debit.approved, debit.remaining_fen, debit.code, replayed=replayed)

    def _degraded(self, exc: BaseException, msisdn: str) -> Answer:
        self.metrics.store_errors.labels("postgresql", "credit").inc()
        self.metrics.credit_fallback.labels("none").inc()
        log.error("credit_stores_unavailable", error=type(exc).__name__, ref=number_ref(msisdn))
        return Answer(False, 0, "no_credit", degraded=True)

    # --- reconciliation -------------------------------------------------------------

    async def reconcile_number(self, msisdn: str, *, min_age_ms: int = RECONCILE_MIN_AGE_MS) -> int:
        """Copy this number's journal entries (at least `min_age_ms` old) into PostgreSQL."""
        journal = credit_keys(msisdn)[2]
        raws = await self.redis.lrange(journal, 0, -1)
        wall = _wall_ms()
        done = 0
        for item in raws:
            entry = parse_entry(msisdn, item)
            raw = entry.raw
            if wall - entry.wall_ms < min_age_ms:
                continue
            async with self.pool.acquire() as conn:
                result = await ledger.record(conn, entry.debit, cap=True)
            self.metrics.credit_journal.labels(result).inc()
            if result == "foreign":
                log.error("credit_ref_owned_by_another_number", ref=number_ref(msisdn))
                await self.redis.rpush(dead_letter_key(msisdn), raw)
            await self.redis.lrem(journal, 1, raw)
            done += 1
        return done

    async def reconcile(self, *, min_age_ms: int = RECONCILE_MIN_AGE_MS, full: bool = True) -> int:
        """Journals into PostgreSQL — every journal (a SCAN of the keyspace) when `full`,
        else only the numbers this process left behind — then drop the Redis state of
        numbers debited in PostgreSQL while Redis was unreachable. Returns entries copied."""
        copied = 0
        if full:
            async for name in self.redis.scan_iter(match="c:{*}:j", count=1000):
                msisdn = _text(name)[3:-3]
                copied += await self.reconcile_number(msisdn, min_age_ms=min_age_ms)
        else:
            for msisdn in list(self.dirty):
                copied += await self.reconcile_number(msisdn, min_age_ms=min_age_ms)
                if not await self.redis.llen(credit_keys(msisdn)[2]):
                    self.dirty.discard(msisdn)
        async with self.pool.acquire() as conn:
            pending = await ledger.resync_pending(conn)
        for msisdn, at in pending:
            await self.redis.delete(state_key(msisdn))
            async with self.pool.acquire() as conn:
                await ledger.resync_done(conn, msisdn, at)
        return copied


async def debit_in_postgres(
    conn: Conn, msisdn: str, ref: str, amount_fen: int, now: datetime
) -> tuple[Debit, bool] | None:
    """R5 without Redis: a row-locked check-and-debit in PostgreSQL.

    Returns (the authorisation, replayed) — the stored one for a known ref — or None for
    an unknown number. Marks the number for a Redis resync (its Redis state misses this).
    """
    async with conn.transaction():
        grant = await ledger.grant_of(conn, msisdn, lock=True)
        if grant is None:
            return None
        existing = await ledger.debit_by_ref(conn, ref)
        if existing is not None:
            return existing, True
        decision = decide_credit(grant.limit_fen, grant.used_fen, grant.expires_at, amount_fen, now)
        debit = Debit(
            ref, msisdn, grant.id, amount_fen, decision.approved, decision.remaining_fen, decision.code, now
        )
        result = await ledger.record(conn, debit)
        if result != "recorded":  # the ref was taken meanwhile (another number's request)
            found = await ledger.debit_by_ref(conn, ref)
            assert found is not None
            return found, True
        await ledger.mark_resync(conn, msisdn)
    return debit, False


def _wall_ms() -> int:
    return int(time.time() * 1000)


def _ref_conflict() -> Conflict:
    return Conflict("this ref was used for a different authorisation (number or amount)")


async def reconcile_at_start(service: CreditService) -> None:
    """Copy every journal entry left by any process into PostgreSQL (bounded to 10 s)."""
    try:
        copied = await asyncio.wait_for(service.reconcile(min_age_ms=0), 10.0)
        if copied:
            log.info("credit_journal_recovered", entries=copied)
    except (*STORE_FAILURES, *PG_FAILURES) as exc:
        service.metrics.store_errors.labels("redis", "credit_reconcile").inc()
        log.warning("credit_reconcile_failed", error=type(exc).__name__)


async def reconcile_forever(service: CreditService) -> None:
    """Reconcile the journals for as long as the process runs (a task of the app factory)."""
    # Every few seconds the numbers this process left behind; a full SCAN of the keyspace
    # (journals of a crashed process) only every FULL_RECONCILE_SECONDS: scanning a million
    # keys every few seconds would stall the hot path.
    last_full = time.monotonic()
    while True:
        await asyncio.sleep(RECONCILE_SECONDS)
        full = time.monotonic() - last_full >= FULL_RECONCILE_SECONDS
        if full:
            last_full = time.monotonic()
        try:
            await service.reconcile(full=full)
        except (*STORE_FAILURES, *PG_FAILURES) as exc:
            service.metrics.store_errors.labels("redis", "credit_reconcile").inc()
            log.warning("credit_reconcile_failed", error=type(exc).__name__)
        except Exception:  # the reconciler must outlive any one bad pass; counted and logged
            service.metrics.unexpected.labels("credit_reconciler").inc()
            log.exception("credit_reconcile_crashed")
