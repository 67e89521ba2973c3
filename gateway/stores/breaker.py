"""A circuit breaker per store: after a few failures in a row the hot path stops calling
the store and a background probe checks it again; the first good probe closes it.

The probe must go through the same connections the hot path uses (for Redis, a PING
on each pipelined connection): a probe on a connection of its own can find the store
healthy while the hot path's connections are broken, and close the breaker onto them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from gateway.logs import get_logger
from gateway.metrics import Metrics

log = get_logger("breaker")
#: Extra seconds the breaker waits beyond the probe's own timeout before cancelling it:
#: the probe's own deadline should fire first, so that it can drop a connection whose
#: reply is late (a cancelled call leaves the connection as it is).
PROBE_GRACE = 0.05


class CircuitBreaker:
    """Closed: calls go through. Open: calls are skipped until a probe succeeds (half-open:
    one probe at a time, in the background)."""

    def __init__(
        self,
        name: str,
        probe: Callable[[float], Awaitable[object]],
        metrics: Metrics,
        *,
        failures_to_open: int = 3,
        probe_every: float = 0.25,
        probe_timeout: float = 0.2,
    ) -> None:
        """`probe(timeout)` checks the store within `timeout` seconds, raising if it is not healthy."""
        self.name = name
        self.probe = probe
        self.metrics = metrics
        self.failures_to_open = failures_to_open
        self.probe_every = probe_every
        self.probe_timeout = probe_timeout
        self.failures = 0
        self.open = False
        self._prober: asyncio.Task[None] | None = None
        metrics.breaker_open.labels(name).set(0)

    def allow(self) -> bool:
        """Whether the hot path may call the store now."""
        return not self.open

    def success(self) -> None:
        """A call went through."""
        self.failures = 0

    def failure(self, kind: str) -> None:
        """A call failed or timed out; open after enough in a row."""
        self.metrics.store_errors.labels(self.name, kind).inc()
        self.failures += 1
        if not self.open and self.failures >= self.failures_to_open:
            self.open = True
            self.metrics.breaker_open.labels(self.name).set(1)
            log.warning("breaker_open", store=self.name, failures=self.failures)
            if self._prober is None or self._prober.done():
                self._prober = asyncio.create_task(self._probe_until_healthy())

    async def _probe_until_healthy(self) -> None:
        while self.open:
            await asyncio.sleep(self.probe_every)
            try:
                async with asyncio.timeout(self.probe_timeout + PROBE_GRACE):
                    await self.probe(self.probe_timeout)
            except Exception as exc:  # a failed probe of any kind keeps the breaker open
                log.debug("probe_failed", store=self.name, error=type(exc).__name__)
                continue
            self.open = False
            self.failures = 0
            self.metrics.breaker_open.labels(self.name).set(0)
            log.info("breaker_closed", store=self.name)

    async def close(self) -> None:
        """Stop the background probe (application shutdown)."""
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
