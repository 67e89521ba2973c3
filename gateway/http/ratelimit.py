"""Per-token rate limits (token buckets, per worker process).

The IVR lookup has its own, much higher budget: the IVR must never be throttled into
failing a call, so its limit only stops a runaway client, not a busy hotline."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Token buckets keyed by (token id, class)."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self.buckets: dict[int, _Bucket] = {}

    def allow(self, token_id: int, now: float | None = None) -> float:
        """0.0 when the request may proceed, else the seconds to wait before retrying."""
        now = time.monotonic() if now is None else now
        bucket = self.buckets.get(token_id)
        if bucket is None:
            bucket = self.buckets[token_id] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate


@dataclass(frozen=True, slots=True)
class Limits:
    """The lookup's own bucket, machines' (ivr, admin) and people's (agent, branch)."""

    lookup: RateLimiter
    machine: RateLimiter
    people: RateLimiter
