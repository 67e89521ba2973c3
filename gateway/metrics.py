"""Prometheus metrics (prometheus-client), one registry per app."""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

disable_created_metrics()  # type: ignore[no-untyped-call]  # untyped upstream; *_created series are noise here

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """Every metric callgate exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._request_tallies: dict[tuple[str, int], Tally] = {}
        self.tallies: list[Tally] = []
        self.requests = Counter(
            "callgate_http_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "callgate_http_request_seconds", "HTTP latency by route", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.lookups = Counter(
            "callgate_lookups",
            "IVR lookups by answer source and outcome",
            ["source", "outcome"],
            registry=r,
        )
        self.lookup_latency = Histogram(
            "callgate_lookup_seconds", "IVR lookup latency", buckets=LATENCY_BUCKETS, registry=r
        )
        self.breaker_open = Gauge(
            "callgate_breaker_open",
            "1 while the circuit breaker to a store is open",
            ["store"],
            registry=r,
            multiprocess_mode="max",
        )
        self.store_errors = Counter(
            "callgate_store_errors",
            "Store calls that failed or timed out",
            ["store", "kind"],
            registry=r,
        )
        self.reactivations = Counter(
            "callgate_reactivations", "Reactivation decisions", ["outcome", "code"], registry=r
        )
        self.credit = Counter(
            "callgate_credit_authorizations",
            "Credit authorisations",
            ["approved", "code"],
            registry=r,
        )
        self.sweeper = Counter(
            "callgate_sweeper_orders", "Work orders marked overdue by the sweeper", registry=r
        )
        self.unexpected = Counter(
            "callgate_unexpected_errors",
            "Unexpected exceptions mapped to 500",
            ["route"],
            registry=r,
        )
        # --- issue 6: reactivation, credit, payments, work orders (appended) ---
        self.credit_journal = Counter(
            "callgate_credit_journal_entries",
            "Credit journal entries copied into PostgreSQL by the reconciler, by result",
            ["result"],
            registry=r,
        )
        self.credit_fallback = Counter(
            "callgate_credit_fallbacks",
            "Credit authorisations answered without Redis (postgresql) or without any store (none)",
            ["store"],
            registry=r,
        )
        self.credit_overspend = Counter(
            "callgate_credit_overspend_refused",
            "Redis approvals PostgreSQL turned down (Redis state behind a PostgreSQL debit)",
            registry=r,
        )
        self.sweeper_runs = Counter(
            "callgate_sweeper_runs", "Work-order sweeper passes", ["result"], registry=r
        )
        self.servicing = Counter(
            "callgate_servicing",
            "Hotline services (H4 password change/reset, H5 emergency stop/restart), by outcome code",
            ["action", "outcome"],
            registry=r,
        )
        self.work_order_events = Counter(
            "callgate_work_order_events", "Work-order events recorded, by kind", ["kind"], registry=r
        )
        self.payments = Counter(
            "callgate_payments", "Payments recorded through the API, by effect", ["effect"], registry=r
        )
        self.status_changes = Counter(
            "callgate_status_changes", "Subscriber status changes through the API", ["status"], registry=r
        )

        # --- issue 17: the queue engine's live figures (A5), as the wallboard shows them ---
        def gauge(name: str, doc: str, labels: list[str]) -> Gauge:
            # Every process computes the same figures from Redis: the latest one is right.
            return Gauge(name, doc, labels, registry=r, multiprocess_mode="livemostrecent")

        self.queue_waiting = gauge("callgate_queue_waiting", "Calls waiting per desk", ["desk"])
        self.queue_longest_wait = gauge(
            "callgate_queue_longest_wait_seconds", "Longest current wait per desk", ["desk"]
        )
        self.queue_agents = gauge("callgate_queue_agents", "Agents per desk by state", ["desk", "state"])
        self.queue_calls = gauge(
            "callgate_queue_calls",
            "Calls counted per desk and period (window: last 30 min; interval: current 15 min), by figure",
            ["desk", "period", "figure"],
        )
        self.queue_service_level = gauge(
            "callgate_queue_service_level",
            "Q5 service level: answered within the threshold / (offered - short abandons); NaN: none offered",
            ["desk", "period"],
        )
        self.queue_asa = gauge("callgate_queue_asa_seconds", "Average speed of answer", ["desk", "period"])
        self.queue_abandon_rate = gauge(
            "callgate_queue_abandon_rate", "Abandoned / offered", ["desk", "period"]
        )
        self.queue_target = Gauge(
            "callgate_queue_service_level_target", "The service-level target (policy)", registry=r,
            multiprocess_mode="livemostrecent",
        )  # fmt: skip

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one request (kept as plain numbers until the next `fold`)."""
        tally = self._request_tallies.get((route, status))
        if tally is None:
            tally = Tally(self.requests.labels(route, str(status)), self.latency.labels(route))
            self._request_tallies[(route, status)] = tally
            self.tallies.append(tally)
        tally.add(seconds)

    def tally(self, counter: Any, histogram: Any) -> Tally:
        """A new Tally of a counter child and a histogram (child), folded with the others."""
        made = Tally(counter, histogram)
        self.tallies.append(made)
        return made

    def fold(self) -> None:
        """Add every tally's pending observations to its metrics (every second, and before
        /metrics is read)."""
        for tally in self.tallies:
            tally.fold()


class Tally:
    """Observations of one counter child and one histogram (child), counted as plain numbers
    and added to them in one go by `fold`. Per request, a prometheus inc() and observe() take
    a lock each (observe two, and a loop over the buckets): ~10 µs of a lookup's ~200 for the
    four the lookup made; here one bisect and three additions. /metrics folds before it
    renders; with several workers another worker's figures are at most a second behind."""

    __slots__ = ("buckets", "count", "counter", "histogram", "total", "upper")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self.counter = counter
        self.histogram = histogram
        # prometheus_client's Histogram keeps its bounds (+Inf last), a value per bucket and
        # the sum as _upper_bounds, _buckets and _sum: observe() itself is the sum's inc and
        # the first bucket whose bound is ≥ the amount's inc.
        self.upper: list[float] = list(histogram._upper_bounds)
        self.count = 0
        self.total = 0.0
        self.buckets = [0] * len(self.upper)

    def add(self, seconds: float) -> None:
        """One observation (and one count)."""
        self.count += 1
        self.total += seconds
        self.buckets[bisect_left(self.upper, seconds)] += 1

    def fold(self) -> None:
        """Add what was observed since the last fold to the metrics."""
        if not self.count:
            return
        count, total, buckets = self.count, self.total, self.buckets
        self.count, self.total, self.buckets = 0, 0.0, [0] * len(buckets)
        self.counter.inc(count)
        self.histogram._sum.inc(total)
        for index, observed in enumerate(buckets):
            if observed:
                self.histogram._buckets[index].inc(observed)
