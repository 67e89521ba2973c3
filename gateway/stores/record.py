"""The compact per-subscriber cache record: everything the IVR lookup and the
reactivation check need, packed into 21 bytes and kept many to a Redis hash (`key_of`),
so a million subscribers fit in Redis at well under 100 bytes each (overhead included).

A record carries its own effective dates — the tier in force when it was written,
the next one and the day it takes over, and `refresh_after`, the last day the record
is known to be right — so a month boundary or an expiry needs no cache write.

Loyalty points (P3) follow the 21 bytes as a trailer of 1–6 bytes, only for a subscriber
with a points ledger (a 21-byte record: no ledger; records written before points existed
read the same way). Two LEB128 varints: balance × 2 + "threshold reached" (P2), then the
points that expire in the month after `refresh_after`'s month (left out when none). The
record is rewritten before the balance changes or another month's expiries matter:
`refresh_after` is at most the day the earliest points expire and at most the last day
of the month before the first later month with an expiry (`Holding.unchanged_through`);
so on a day of `refresh_after`'s month "expiring next month" is that figure, before it
none. The lookup reuses its answers by the first 21 bytes and splices the points in.
"""

from __future__ import annotations

import struct
from datetime import date, timedelta
from zlib import crc32

from entitlements.immutable import immutable
from entitlements.model import LEVELS, Assignment, Tier
from entitlements.months import Month
from entitlements.points import Holding
from entitlements.tiers import tier_in_force

VERSION = 1
EPOCH = date(2000, 1, 1)
NO_DAY = 0xFFFF  # "no date" in the 16-bit day fields
_ONE_DAY = timedelta(days=1)
_HORIZON = timedelta(days=400)  # a record is rewritten at least this often

# Stable codes: (scheme, level) → byte. Append only; changing an entry needs VERSION + 1.
_LEVEL_CODES: list[tuple[str, str]] = [("", "")] + [
    (scheme, level)
    for scheme in ("star", "vip_card", "membership", "credit_star")
    for level in LEVELS[scheme]
]
LEVEL_CODE = {pair: i for i, pair in enumerate(_LEVEL_CODES)}
POLICY_CODES: tuple[str, ...] = (
    "",
    "unicom-2015",
    "unicom-vip",
    "unicom-henan-2011",
    "unicom-cumulative",
    "cmcc-credit",
)
POLICY_CODE = {name: i for i, name in enumerate(POLICY_CODES)}
STATUS = ("active", "suspended", "cancelled", "stopped")  # append only (H5 added stopped)
MODES = ("prepaid", "postpaid")
SERVICES = ("mobile", "fixed", "broadband")

# version, policy, cur level, cur until, next level, next from, next until, flags,
# arrears months, last grant month, grants that month, manager id, refresh_after
_FORMAT = struct.Struct("<BBBHBHHBBHBIH")
BASE_SIZE = _FORMAT.size  # the bytes the lookup's reused answers are keyed on (points follow)
_REFRESH_AT = BASE_SIZE - 2  # refresh_after: the last field of the base


#: Where a record lives: records are fields of Redis hashes ("buckets"); the field is the
#: number, the bucket one of BUCKETS picked by a CRC-32 of it. A small hash is one compact
#: listpack (ziplist before Redis 7) instead of a key, an object and a value allocation per
#: subscriber (benchmarks/bench_cache_memory.py). The bucket comes from a hash, not from the
#: number's leading digits, so any spread of numbers fills buckets evenly (a province's
#: numbers may be dense blocks or, like the demo's, scattered over 10^8 a prefix): 15 a
#: bucket at a million subscribers. Redis keeps a hash compact while it has at most
#: `hash-max-listpack-entries` fields (default 128: ~8 million cached subscribers; raise it
#: for more) of at most `hash-max-listpack-value` bytes (default 64: a record is 21 bytes
#: plus a trailer of 1–6 for a balance up to a million points, 41 at most for any 64-bit
#: one); the embedded Redis sets both. Changing BUCKETS moves every record: rebuild.
BUCKETS = 1 << 16


def key_of(msisdn: str) -> tuple[bytes, bytes]:
    """(bucket key, field) of a normalised number's record: 18612340019 → `sb:{16626}`,
    `18612340019`. Every reader and writer of records goes through here. The hash tag is
    the whole bucket name, so in Redis Cluster a bucket is one slot (route by the bucket key)."""
    raw = msisdn.encode()
    return b"sb:{%d}" % (crc32(raw) & (BUCKETS - 1)), raw


def unknown_key(msisdn: str) -> bytes:
    """The "checked: not a subscriber" mark of a number (Q): a string key of its own with a
    TTL, beside the buckets (a hash field has no TTL before Redis 7.4), read on a miss."""
    return b"u:{%b}" % msisdn.encode()


_EPOCH_ORDINAL = EPOCH.toordinal()
_EPOCH_MONTH = int(Month.of(EPOCH))


def _day(value: date | None) -> int:
    return NO_DAY if value is None else value.toordinal() - _EPOCH_ORDINAL


def _date(value: int) -> date | None:
    return None if value == NO_DAY else EPOCH + timedelta(days=value)


@immutable
class RecordPoints:
    """P3 as the record keeps it: the balance, whether the threshold was reached (P2), and
    the points that expire in the month after `refresh_after`'s month."""

    balance: int
    reached: bool
    expiring_after_last_month: int

    def lookup_json(self, in_last_month: bool) -> bytes:
        """The lookup's `points` on a day; `in_last_month`: the day is in refresh_after's month."""
        expiring = self.expiring_after_last_month if in_last_month else 0
        redeemable = self.balance if self.reached else 0
        return b'{"balance":%d,"redeemable":%d,"expiring_next_month":%d}' % (
            self.balance,
            redeemable,
            expiring,
        )

    def encode(self) -> bytes:
        """The trailer bytes (1–6 for any realistic balance)."""
        out = _varint(self.balance << 1 | self.reached)
        if self.expiring_after_last_month:
            out += _varint(self.expiring_after_last_month)
        return out

    @classmethod
    def decode(cls, raw: bytes) -> RecordPoints | None:
        """The trailer read back; None for bytes that are not one (treated as a miss)."""
        first, at = _read_varint(raw, 0)
        if first is None:
            return None
        if at == len(raw):
            return cls(first >> 1, bool(first & 1), 0)
        expiring, at = _read_varint(raw, at)
        if expiring is None or at != len(raw):
            return None
        return cls(first >> 1, bool(first & 1), expiring)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _read_varint(raw: bytes, at: int) -> tuple[int | None, int]:
    value = shift = 0
    while at < len(raw) and shift <= 63:
        byte = raw[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7
    return None, at


def points_part(held: Holding | None, today: date, refresh_after: date) -> tuple[RecordPoints | None, date]:
    """The record's points (None: no ledger) and its refresh_after, shortened so the points
    stay right through it (see the module doc)."""
    if held is None:
        return None, refresh_after
    through = min(refresh_after, held.unchanged_through(today))
    expiring = held.expiring_in(Month.of(through) + 1)
    return RecordPoints(held.balance(today), held.reached_on is not None, expiring), through


def in_refresh_month(raw: bytes, today: date) -> bool:
    """Whether `today` falls in the month of the record's refresh_after (read from its bytes)."""
    refresh = EPOCH + timedelta(days=int.from_bytes(raw[_REFRESH_AT:BASE_SIZE], "little"))
    return refresh.year == today.year and refresh.month == today.month


@immutable
class Record:
    """What the hot path knows about one subscriber."""

    policy: str
    current: Tier | None
    next_tier: Tier | None
    next_from: date | None
    status: str
    payment_mode: str
    service_type: str
    arrears_months: int
    last_grant_month: Month | None
    grants_in_last_month: int
    unpaid_grant: bool
    manager_id: int | None
    refresh_after: date
    points: RecordPoints | None = None  # P3: None for a subscriber without a points ledger

    def tier_on(self, day: date) -> Tier | None:
        """The tier serving on `day` (None past validity: the caller gets the bottom level)."""
        tier = self.current
        if self.next_from is not None and day >= self.next_from:
            tier = self.next_tier
        if tier is None or (tier.valid_until is not None and day > tier.valid_until):
            return None
        return tier

    def grants_in(self, month: Month) -> int:
        """Reactivations granted in `month` (R3)."""
        return self.grants_in_last_month if self.last_grant_month == month else 0

    def fresh_on(self, day: date) -> bool:
        """Whether the record may still be trusted on `day`."""
        return day <= self.refresh_after

    def encode(self) -> bytes:
        """The packed bytes stored in Redis (the points trailer after them, if any)."""
        cur, nxt = self.current, self.next_tier
        flags = (
            STATUS.index(self.status)
            | MODES.index(self.payment_mode) << 2
            | SERVICES.index(self.service_type) << 3
            | int(self.unpaid_grant) << 5
        )
        return _FORMAT.pack(
            VERSION,
            POLICY_CODE[self.policy],
            LEVEL_CODE[(cur.scheme, cur.level)] if cur else 0,
            _day(cur.valid_until) if cur else NO_DAY,
            LEVEL_CODE[(nxt.scheme, nxt.level)] if nxt else 0,
            _day(self.next_from),
            _day(nxt.valid_until) if nxt else NO_DAY,
            flags,
            min(self.arrears_months, 255),
            int(self.last_grant_month) - _EPOCH_MONTH if self.last_grant_month is not None else NO_DAY,
            min(self.grants_in_last_month, 255),
            self.manager_id or 0,
            _day(self.refresh_after),
        ) + (self.points.encode() if self.points is not None else b"")

    @classmethod
    def decode(cls, raw: bytes) -> Record | None:
        """The record, or None for bytes of another format version (treated as a miss)."""
        if len(raw) < BASE_SIZE or raw[0] != VERSION:
            return None
        points = None
        if len(raw) > BASE_SIZE:
            points = RecordPoints.decode(raw[BASE_SIZE:])
            if points is None:
                return None
        (_, policy, cur, cur_until, nxt, nxt_from, nxt_until, flags, arrears, grant_month, grants,
         manager, refresh) = _FORMAT.unpack_from(raw)  # fmt: skip
        cur_pair, nxt_pair = _LEVEL_CODES[cur], _LEVEL_CODES[nxt]
        return cls(
            policy=POLICY_CODES[policy],
            current=Tier(cur_pair[0], cur_pair[1], _date(cur_until)) if cur else None,
            next_tier=Tier(nxt_pair[0], nxt_pair[1], _date(nxt_until)) if nxt else None,
            next_from=_date(nxt_from),
            status=STATUS[flags & 3],
            payment_mode=MODES[flags >> 2 & 1],
            service_type=SERVICES[flags >> 3 & 3],
            arrears_months=arrears,
            last_grant_month=Month(_EPOCH_MONTH + grant_month) if grant_month != NO_DAY else None,
            grants_in_last_month=grants,
            unpaid_grant=bool(flags >> 5 & 1),
            manager_id=manager or None,
            refresh_after=_date(refresh) or EPOCH,
            points=points,
        )


def timeline(
    assignments: list[Assignment], today: date
) -> tuple[Tier | None, Tier | None, date | None, date]:
    """(current, next, next_from, refresh_after) from the stored assignments.

    The tier in force changes only on an assignment's first or last day; the record
    holds the tier now and the next change, and is right until the day before the
    change after that (at most ~13 months ahead).
    """
    boundaries: set[date] = set()
    for a in assignments:  # a loop, not two set comprehensions: this runs a million times
        if a.effective_from > today:
            boundaries.add(a.effective_from)
        until = a.valid_until
        if until is not None and until >= today:
            boundaries.add(until + _ONE_DAY)
    now = tier_in_force(assignments, today)
    current = now.as_tier() if now else None
    horizon = today + _HORIZON
    if not boundaries:
        return current, None, None, horizon
    ordered = sorted(boundaries)
    for index, boundary in enumerate(ordered):
        later = tier_in_force(assignments, boundary)
        later_tier = later.as_tier() if later else None
        if later_tier != current:
            if index + 1 < len(ordered):
                return current, later_tier, boundary, min(ordered[index + 1] - _ONE_DAY, horizon)
            return current, later_tier, boundary, horizon
    return current, None, None, horizon
