"""The queue engine's state in Redis (A4): waiting calls, agent states and live counters.

Keys, every one hash-tagged so that each Lua script touches a single slot (X1, Redis
Cluster): a desk's keys by ``{desk:NAME}``, an agent's by ``{agent:ID}``, the call-id
pointer by the call id.

- ``{desk:D}:buckets`` — SET of bucket names ``"<min star>:<priority>"``;
- ``{desk:D}:q:<min star>:<priority>`` — ZSET of waiting call ids scored by enqueued_at (ms):
  a bucket's calls in the order the score serves them (``entitlements.matching``);
- ``{desk:D}:c:<call id>`` — HASH of one call: state (waiting, assigned, answered,
  abandoned, completed), bucket, enqueued_at, priority, min star, ANI, agent and its claim;
  it outlives the call (``CALL_TTL``) so that a replayed enqueue finds it;
- ``{desk:D}:agents`` — HASH agent → ``"<since ms>:<state>"`` of the agents serving D, and
  ``{desk:D}:agent-states`` — HASH state → count (the wallboard's "agents by state");
- ``{desk:D}:m:<minute>`` and ``{desk:D}:i:<interval start ms>`` — HASHes of counters
  (``entitlements.queuestats.Counts``) of the calls whose outcome fell in that minute or
  15-minute interval; ``{desk:D}:meta`` — HASH with ``aht_ms``, a moving average of
  handling times (the enqueue's expected wait);
- ``{agent:A}:state`` — HASH of one agent: state, since, the call and desk it has;
- ``queue-call:{<call id>}`` — the enqueue's answer and desk, for replays and events (PENDING
  while the first enqueue of the call id is under way).

The scripts only move calls between states and add the increments they are given: what a
call counts (``queuestats.outcome``) and which call an agent takes (``matching.choose``) are
decided in Python, by the same functions the simulation uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from entitlements.queuestats import Counts, interval_of, minute_of

CALL_TTL: Final = 6 * 3600  # a call's record outlives any call: replays and late events find it
#: A call id whose first enqueue is under way (it holds the pointer this long at most).
PENDING: Final = b"pending"
PENDING_TTL: Final = 10
MINUTE_TTL: Final = 2 * 3600
INTERVAL_TTL: Final = 26 * 3600  # the flusher has a day to copy a finished interval
DESKS: Final[tuple[str, ...]] = ("vip", "general")
AGENT_STATES: Final[tuple[str, ...]] = ("available", "busy", "wrap_up", "away", "offline")
COUNTERS: Final[tuple[str, ...]] = Counts.names()


def desk_prefix(desk: str) -> str:
    """``{desk:vip}``: the hash tag every key of a desk starts with."""
    return "{desk:" + desk + "}"


def bucket_name(min_star: int, priority: int) -> str:
    """A bucket of a desk: its calls' base star requirement and priority."""
    return f"{min_star}:{priority}"


def agent_key(agent_id: str) -> str:
    """An agent's state."""
    return "{agent:" + agent_id + "}:state"


def pointer_key(call_id: str) -> str:
    """The call-id pointer to a queued call's desk and answer."""
    return "queue-call:{" + call_id + "}"


def minute_key(desk: str, minute: int) -> str:
    """Counters of the calls whose outcome fell in ``minute``."""
    return f"{desk_prefix(desk)}:m:{minute}"


def interval_key(desk: str, start_ms: int) -> str:
    """Counters of the calls whose outcome fell in the interval starting at ``start_ms``."""
    return f"{desk_prefix(desk)}:i:{start_ms}"


def _bulk(part: bytes | str | int) -> bytes:
    data = part if isinstance(part, bytes) else str(part).encode()
    return b"$%d\r\n%b\r\n" % (len(data), data)


def command(*parts: bytes | str | int) -> bytes:
    """One Redis command, encoded (RESP) once, as the pipelined client sends it."""
    return b"*%d\r\n" % len(parts) + b"".join(_bulk(p) for p in parts)


class Script:
    """A Lua script sent by its SHA-1 (EVALSHA), loaded on the first NOSCRIPT."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source.encode()
        self.sha = hashlib.sha1(self.source).hexdigest().encode()  # Redis names scripts by SHA-1
        self._head = _bulk(b"EVALSHA") + _bulk(self.sha)

    def call(self, keys: Sequence[str], args: Sequence[str | int | bytes]) -> bytes:
        """The EVALSHA command, encoded (in one pass: this runs several times per request)."""
        parts = [k.encode() for k in keys]
        parts += [a if isinstance(a, bytes) else str(a).encode() for a in args]
        count = str(len(keys)).encode()
        return b"*%d\r\n%b$%d\r\n%b\r\n%b" % (
            3 + len(parts),
            self._head,
            len(count),
            count,
            b"".join([b"$%d\r\n%b\r\n" % (len(d), d) for d in parts]),
        )


# A call enters its desk's bucket unless the desk already knows it (a replay: nothing
# changes). The figures behind its position and expected wait are kept with the call, so a
# replay answers the same. Returns {fresh, calls ahead by score, available, busy, wrap_up,
# away, aht_ms or ''}.
ENQUEUE = Script(
    "enqueue",
    """
local prefix, cid, enq, prio, req, bucket = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local kept = redis.call('HGET', KEYS[1], 'figures')
if kept then
  local out = {0}
  for part in string.gmatch(kept, '([^:]*):?') do
    if #out < 7 then table.insert(out, part) end
  end
  return out
end
redis.call('HSET', KEYS[1], 'state', 'waiting', 'bucket', bucket, 'enq', enq, 'prio', prio,
           'req', req, 'ani', ARGV[9])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('ZADD', prefix .. ':q:' .. bucket, enq, cid)
redis.call('SADD', KEYS[2], bucket)
local priority_ms = tonumber(ARGV[8])
local virtual = tonumber(enq) - tonumber(prio) * priority_ms
local ahead = 0
for _, b in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local p = tonumber(string.match(b, ':(%-?%d+)$'))
  ahead = ahead + redis.call('ZCOUNT', prefix .. ':q:' .. b, '-inf',
                             string.format('(%.0f', virtual + p * priority_ms))
end
local s = redis.call('HMGET', KEYS[3], 'available', 'busy', 'wrap_up', 'away')
local aht = redis.call('HGET', KEYS[4], 'aht_ms') or ''
local figures = {tostring(ahead), s[1] or '0', s[2] or '0', s[3] or '0', s[4] or '0', aht}
redis.call('HSET', KEYS[1], 'figures', table.concat(figures, ':'))
return {1, figures[1], figures[2], figures[3], figures[4], figures[5], figures[6]}
""",
)

# The oldest call of every bucket of a desk: {bucket, call id, enqueued_at, …}.
HEADS = Script(
    "heads",
    """
local out = {}
for _, b in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local head = redis.call('ZRANGE', ARGV[1] .. ':q:' .. b, 0, 0, 'WITHSCORES')
  if head[1] then
    table.insert(out, b); table.insert(out, head[1]); table.insert(out, head[2])
  end
end
return out
""",
)

# Take the oldest call of the chosen bucket enqueued at or before the bound the agent's
# choice allows, noting the agent and its claim token: {1, call id, enqueued_at, ani}; none
# left: {0, the desk's heads…}, so that the agent can choose again without another round trip.
CLAIM = Script(
    "claim",
    """
local prefix, bucket = ARGV[1], ARGV[2]
local zkey = prefix .. ':q:' .. bucket
local found = redis.call('ZRANGEBYSCORE', zkey, '-inf', ARGV[3], 'LIMIT', 0, 1)
if found[1] then
  local cid = found[1]
  redis.call('ZREM', zkey, cid)
  if redis.call('ZCARD', zkey) == 0 then redis.call('SREM', KEYS[1], bucket) end
  local ckey = prefix .. ':c:' .. cid
  redis.call('HSET', ckey, 'state', 'assigned', 'agent', ARGV[4], 'assigned', ARGV[5], 'claim', ARGV[6])
  local f = redis.call('HMGET', ckey, 'enq', 'ani')
  return {1, cid, f[1] or '', f[2] or ''}
end
local out = {0}
for _, b in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local head = redis.call('ZRANGE', prefix .. ':q:' .. b, 0, 0, 'WITHSCORES')
  if head[1] then
    table.insert(out, b); table.insert(out, head[1]); table.insert(out, head[2])
  end
end
return out
""",
)

# An outcome event: moves the call's state and adds the counters (given by the caller)
# exactly once. Returns {verdict, state before, agent, the agent's claim token}: verdict ok |
# replay | conflict | missing.
EVENT = Script(
    "event",
    """
local prefix, kind, at = ARGV[1], ARGV[2], ARGV[3]
local ckey = KEYS[1]
local state = redis.call('HGET', ckey, 'state')
if not state then return {'missing', '', '', ''} end
local who = redis.call('HMGET', ckey, 'agent', 'claim')
local agent, claim = who[1] or '', who[2] or ''
if state == kind or (kind == 'answered' and state == 'completed') then
  return {'replay', state, agent, claim}
end
local allowed = (kind == 'completed' and state == 'answered')
  or (kind ~= 'completed' and (state == 'waiting' or state == 'assigned'))
if not allowed then return {'conflict', state, agent, claim} end
if state == 'waiting' then
  local bucket = redis.call('HGET', ckey, 'bucket')
  local zkey = prefix .. ':q:' .. bucket
  redis.call('ZREM', zkey, ARGV[4])
  if redis.call('ZCARD', zkey) == 0 then redis.call('SREM', KEYS[4], bucket) end
end
redis.call('HSET', ckey, 'state', kind, kind, at)
redis.call('EXPIRE', ckey, ARGV[5])
if kind == 'completed' then
  local answered = tonumber(redis.call('HGET', ckey, 'answered') or at)
  local sample = tonumber(at) - answered
  if sample >= 0 then
    local aht = tonumber(redis.call('HGET', KEYS[5], 'aht_ms') or sample)
    redis.call('HSET', KEYS[5], 'aht_ms', string.format('%.0f', aht + (sample - aht) / 10))
  end
  return {'ok', state, agent, claim}
end
local names = {'offered', 'answered', 'answered_within', 'abandoned', 'short_abandoned', 'wait_ms'}
for i, name in ipairs(names) do
  local inc = tonumber(ARGV[7 + i])
  if inc ~= 0 then
    redis.call('HINCRBY', KEYS[2], name, inc)
    redis.call('HINCRBY', KEYS[3], name, inc)
  end
end
redis.call('EXPIRE', KEYS[2], ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[7])
return {'ok', state, agent, claim}
""",
)

# Everything the wallboard shows of a desk: {waiting, oldest enqueued_at or '', the agents'
# states (name, count …), then the counters of each key given (an empty list for none)}.
STATS = Script(
    "stats",
    """
local waiting, oldest = 0, nil
for _, b in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  local zkey = ARGV[1] .. ':q:' .. b
  local n = redis.call('ZCARD', zkey)
  if n > 0 then
    waiting = waiting + n
    local head = redis.call('ZRANGE', zkey, 0, 0, 'WITHSCORES')
    local enq = tonumber(head[2])
    if oldest == nil or enq < oldest then oldest = enq end
  end
end
local out = {waiting, oldest and string.format('%.0f', oldest) or '', redis.call('HGETALL', KEYS[2])}
for i = 3, #KEYS do table.insert(out, redis.call('HGETALL', KEYS[i])) end
return out
""",
)

# A free agent asks for a call: only an available agent may (it turns busy while it
# chooses, so two `next` of one agent never take two calls). {1} or {0, state}.
AGENT_BEGIN = Script(
    "agent_begin",
    """
local state = redis.call('HGET', KEYS[1], 'state') or 'offline'
if state ~= 'available' then return {0, state} end
redis.call('HSET', KEYS[1], 'state', 'busy', 'claim', ARGV[1],
           'prev_since', redis.call('HGET', KEYS[1], 'since') or ARGV[2], 'since', ARGV[2])
return {1, 'available'}
""",
)

# Nothing to take: back to available, unless the state changed meanwhile.
AGENT_ABORT = Script(
    "agent_abort",
    """
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', 'available', 'since', redis.call('HGET', KEYS[1], 'prev_since'))
redis.call('HDEL', KEYS[1], 'claim', 'prev_since')
return 1
""",
)

# The agent took a call (sent after the answer, with other bookkeeping): recorded unless the
# agent's state changed meanwhile (the claim token is gone). The claim stays: it ties the
# agent to this call until the agent's next state change.
AGENT_ASSIGN = Script(
    "agent_assign",
    """
if redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'call', ARGV[2], 'desk', ARGV[3])
redis.call('HDEL', KEYS[1], 'prev_since')
return 1
""",
)

# A state change reported by the agent or the ACD: {previous state, call}. Leaving busy
# or wrap-up for another state forgets the call.
AGENT_SET = Script(
    "agent_set",
    """
local before = redis.call('HGET', KEYS[1], 'state') or 'offline'
local call = redis.call('HGET', KEYS[1], 'call') or ''
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'since', ARGV[2])
redis.call('HDEL', KEYS[1], 'claim', 'prev_since')
if ARGV[1] ~= 'busy' and ARGV[1] ~= 'wrap_up' then redis.call('HDEL', KEYS[1], 'call', 'desk') end
return {before, call}
""",
)

# After an outcome: the agent still on that call (its claim token unchanged) moves on
# (abandoned → available, completed → wrap_up); an agent who moved on is left alone.
# {1, since} or {0, ''}.
AGENT_AFTER = Script(
    "agent_after",
    """
if ARGV[1] == '' or redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then return {0, ''} end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'since', ARGV[3])
if ARGV[2] == 'available' then redis.call('HDEL', KEYS[1], 'call', 'desk', 'claim') end
return {1, ARGV[3]}
""",
)

# A desk's view of agents' states, kept in order by each change's time, with counts per
# state: ARGV holds (agent, state, since) triples, applied in order (a batch of the changes
# of a moment, one script call per desk). Returns how many changed a count.
MIRROR = Script(
    "mirror",
    """
local changed = 0
for i = 1, #ARGV - 2, 3 do
  local agent, state, at = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local since = tonumber(at)
  local old = redis.call('HGET', KEYS[1], agent)
  local old_since, old_state = nil, nil
  local skip = false
  if old then
    old_since, old_state = string.match(old, '^(%-?%d+):(.*)$')
    if not old_since then old = nil end  -- not a "<since>:<state>" value: as if absent
  end
  if old then
    if tonumber(old_since) > since then
      skip = true
    elseif old_state == state then
      redis.call('HSET', KEYS[1], agent, at .. ':' .. state)
      skip = true
    end
  end
  if not skip then
    if state == 'offline' then
      if old then
        redis.call('HDEL', KEYS[1], agent)
        redis.call('HINCRBY', KEYS[2], old_state, -1)
        changed = changed + 1
      end
    else
      redis.call('HSET', KEYS[1], agent, at .. ':' .. state)
      redis.call('HINCRBY', KEYS[2], state, 1)
      if old_state then redis.call('HINCRBY', KEYS[2], old_state, -1) end
      changed = changed + 1
    end
  end
end
return changed
""",
)

SCRIPTS: Final[tuple[Script, ...]] = (
    ENQUEUE, HEADS, CLAIM, EVENT, STATS,
    AGENT_BEGIN, AGENT_ABORT, AGENT_ASSIGN, AGENT_SET, AGENT_AFTER, MIRROR,
)  # fmt: skip


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class BucketHead(NamedTuple):
    """The oldest call of one bucket, as Redis holds it (the bucket's star requirement and
    priority first: heads sort by them, a stable order for ties)."""

    min_star: int
    priority: int
    bucket: str
    call_id: str
    enqueued_ms: int


def parse_heads(flat: Sequence[Any]) -> list[BucketHead]:
    """``{bucket, call id, score, …}`` → heads, sorted by star requirement, priority, bucket."""
    heads = []
    for i in range(0, len(flat) - 2, 3):
        bucket = _text(flat[i])
        star, _, priority = bucket.partition(":")
        enqueued_ms = int(float(flat[i + 2]))  # a ZSET score (float(): bytes or str)
        heads.append(BucketHead(int(star), int(priority), bucket, _text(flat[i + 1]), enqueued_ms))
    heads.sort()
    return heads


def enqueue(
    desk: str, call_id: str, enqueued_ms: int, priority: int, min_star: int, priority_ms: int, ani: str
) -> bytes:
    """ENQUEUE for one call."""
    prefix = desk_prefix(desk)
    return ENQUEUE.call(
        [f"{prefix}:c:{call_id}", f"{prefix}:buckets", f"{prefix}:agent-states", f"{prefix}:meta"],
        [prefix, call_id, enqueued_ms, priority, min_star, bucket_name(min_star, priority), CALL_TTL,
         priority_ms, ani],
    )  # fmt: skip


def pointer_claim(call_id: str) -> list[bytes]:
    """Claim the call id for an enqueue (PENDING, briefly) unless it is known: SET NX, then
    GET in the same write (plain commands: a script costs Redis several times more). The
    claim is ours when the SET answers OK; else the GET has the value stored before (a
    replay's pointer, or PENDING while the first enqueue is under way)."""
    key = pointer_key(call_id)
    return [command(b"SET", key, PENDING, b"NX", b"EX", PENDING_TTL), command(b"GET", key)]


def claimed(replies: Sequence[Any]) -> bytes | None:
    """The replies of ``pointer_claim`` → None when the claim is ours, else the value kept
    (PENDING when it vanished between the two commands: the caller waits and claims again)."""
    if replies[0] == b"OK":
        return None
    kept = replies[1]
    return kept if isinstance(kept, bytes) else PENDING


def pointer_set(call_id: str, value: bytes) -> bytes:
    """The enqueue's pointer, for replays and events."""
    return command(b"SET", pointer_key(call_id), value, b"EX", CALL_TTL)


def heads(desk: str) -> bytes:
    """HEADS of a desk."""
    prefix = desk_prefix(desk)
    return HEADS.call([f"{prefix}:buckets"], [prefix])


def claim(desk: str, bucket: str, latest_ms: int, agent_id: str, at_ms: int, token: str) -> bytes:
    """CLAIM of the oldest call of a bucket enqueued at or before ``latest_ms``, for an agent."""
    prefix = desk_prefix(desk)
    return CLAIM.call([f"{prefix}:buckets"], [prefix, bucket, latest_ms, agent_id, at_ms, token])


def event(desk: str, call_id: str, kind: str, at_ms: int, counts: Counts) -> bytes:
    """EVENT: an outcome with the counters it adds."""
    prefix = desk_prefix(desk)
    return EVENT.call(
        [f"{prefix}:c:{call_id}", minute_key(desk, minute_of(at_ms)), interval_key(desk, interval_of(at_ms)),
         f"{prefix}:buckets", f"{prefix}:meta"],
        [prefix, kind, at_ms, call_id, CALL_TTL, MINUTE_TTL, INTERVAL_TTL, *counts.as_tuple()],
    )  # fmt: skip


def stats(desk: str, counter_keys: Sequence[str]) -> bytes:
    """STATS of a desk with the counters of ``counter_keys``."""
    prefix = desk_prefix(desk)
    return STATS.call([f"{prefix}:buckets", f"{prefix}:agent-states", *counter_keys], [prefix])


def agent_begin(agent_id: str, token: str, at_ms: int) -> bytes:
    """AGENT_BEGIN."""
    return AGENT_BEGIN.call([agent_key(agent_id)], [token, at_ms])


def agent_abort(agent_id: str, token: str) -> bytes:
    """AGENT_ABORT."""
    return AGENT_ABORT.call([agent_key(agent_id)], [token])


def agent_assign(agent_id: str, token: str, call_id: str, desk: str) -> bytes:
    """AGENT_ASSIGN."""
    return AGENT_ASSIGN.call([agent_key(agent_id)], [token, call_id, desk])


def agent_set(agent_id: str, state: str, at_ms: int) -> bytes:
    """AGENT_SET."""
    return AGENT_SET.call([agent_key(agent_id)], [state, at_ms])


def agent_after(agent_id: str, token: str, state: str, at_ms: int) -> bytes:
    """AGENT_AFTER for the agent whose claim was ``token``."""
    return AGENT_AFTER.call([agent_key(agent_id)], [token, state, at_ms])


def mirrors(desk: str, changes: Sequence[tuple[str, str, int]]) -> bytes:
    """MIRROR of agents' states on one desk, (agent, state, since) in order (``offline``
    removes the agent from the desk's view)."""
    prefix = desk_prefix(desk)
    return MIRROR.call(
        [f"{prefix}:agents", f"{prefix}:agent-states"], [part for change in changes for part in change]
    )


def counts_of(flat: Sequence[Any]) -> Counts:
    """An HGETALL reply of counters → Counts."""
    values = {_text(flat[i]): int(flat[i + 1]) for i in range(0, len(flat) - 1, 2)}
    return Counts(*(values.get(name, 0) for name in COUNTERS))


def text(value: Any) -> str:
    """A reply as text."""
    return _text(value)
