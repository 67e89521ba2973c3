"""Cache records kept many to a Redis hash (SPEC §7 memory bar, issue 22): the key function,
the bulk writes and evictions through it, the compact encoding Redis keeps such a hash in,
and the removal of the one-key-per-subscriber records of earlier versions."""

from __future__ import annotations

from collections import Counter
from datetime import date

from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis

from entitlements.model import Tier
from gateway.metrics import Metrics
from gateway.services import cache, consistency
from gateway.stores.record import Record, RecordPoints, key_of, unknown_key


def _record(level: str, balance: int | None = None) -> Record:
    return Record(
        policy="unicom-2015",
        current=Tier("star", level, date(2027, 12, 31)),
        next_tier=None,
        next_from=None,
        status="active",
        payment_mode="postpaid",
        service_type="mobile",
        arrears_months=0,
        last_grant_month=None,
        grants_in_last_month=0,
        unpaid_grant=False,
        manager_id=None,
        refresh_after=date(2027, 12, 31),
        points=RecordPoints(balance, True, 0) if balance is not None else None,
    )


def test_a_number_names_its_bucket_and_field() -> None:
    assert key_of("18612340019") == (b"sb:{16626}", b"18612340019")
    assert key_of("037120027277") == (b"sb:{31074}", b"037120027277")  # fixed line, zero kept
    assert unknown_key("18612340019") == b"u:{18612340019}"


def test_scattered_and_consecutive_numbers_fill_the_buckets_evenly() -> None:
    # a demo province's numbers are scattered over 10^8 a prefix; a real one's come in blocks
    scattered = [f"186{n:08d}" for n in range(7, 10**8, 10**8 // 50_000)][:50_000]
    consecutive = [f"13000{n:06d}" for n in range(50_000)]
    for numbers in (scattered, consecutive):
        sizes = Counter(key_of(n)[0] for n in numbers)
        assert max(sizes.values()) < 12  # 0.76 a bucket on average; none near 128


@given(st.sets(st.from_regex(r"[0-9]{7,12}", fullmatch=True), min_size=2, max_size=50))
def test_no_two_numbers_share_a_place(numbers: set[str]) -> None:
    places = {key_of(n) for n in numbers}
    assert len(places) == len(numbers)
    # the bucket key carries its own hash tag: a bucket is one Redis Cluster slot
    assert all(b.startswith(b"sb:{") and b.endswith(b"}") for b, _ in places)


async def test_records_are_written_a_bucket_at_a_time_and_kept_compact(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        numbers = [f"186123{i:05d}" for i in range(250)]
        buckets = {key_of(n)[0] for n in numbers}
        items = [(n, _record("five_star" if i % 2 else "one_star", i * 37)) for i, n in enumerate(numbers)]
        _, commands, written, deleted = cache.pack(items)
        assert (commands, written, deleted) == (len(buckets), 250, 0)  # one HSET per bucket
        assert await cache.write_records(redis, items) == (250, 0)
        assert set(await redis.keys("*")) == buckets
        for msisdn, record in items:
            raw = await redis.hget(*key_of(msisdn))
            assert isinstance(raw, bytes) and Record.decode(raw) == record
        for bucket in await redis.keys("*"):
            # one listpack (Redis 7) or ziplist (6): no per-subscriber key, object or value
            assert await redis.object("encoding", bucket) in (b"listpack", b"ziplist")
        # a number written twice in one batch: the last entry wins (None deletes)
        twice = [(numbers[0], _record("two_star")), (numbers[0], None)]
        assert await cache.write_records(redis, twice) == (0, 1)
        assert await redis.hexists(*key_of(numbers[0])) is False
        assert await redis.hexists(*key_of(numbers[1])) is True
    finally:
        await redis.aclose()


async def test_an_eviction_removes_the_record_and_the_not_a_subscriber_mark_only(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        gold, neighbour, stranger = "18612340019", "18612340018", "18612340077"
        await cache.write_records(redis, [(gold, _record("five_star")), (neighbour, _record("one_star"))])
        await redis.set(unknown_key(stranger), b"", ex=600)
        await redis.set("credit:{x}", b"1")
        metrics = Metrics()
        assert await consistency.evict(redis, metrics, [gold, stranger], "credit:{x}")
        assert await redis.hexists(*key_of(gold)) is False
        assert await redis.exists(unknown_key(stranger), "credit:{x}") == 0
        assert await redis.hget(*key_of(neighbour)) == _record("one_star").encode()
    finally:
        await redis.aclose()


async def test_the_records_of_earlier_versions_are_dropped(redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        for i in range(25):
            await redis.set(f"s:{{186000000{i:02d}}}", b"old record")
        await redis.set("ca:something", b"1")
        await cache.write_records(redis, [("18600000001", _record("five_star"))])
        assert await cache.drop_legacy_keys(redis) == 25
        assert sorted(await redis.keys("*")) == sorted([b"ca:something", key_of("18600000001")[0]])
    finally:
        await redis.aclose()
