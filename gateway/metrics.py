"""Prometheus metrics (prometheus-client), one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


class Metrics:
    """Every metric callgate exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
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
