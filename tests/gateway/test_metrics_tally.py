"""Request and lookup observations are tallied as plain numbers and folded into the
Prometheus metrics (issue 22: the lookup's four locked inc/observe calls were ~10 µs a call):
what /metrics shows after a fold is what direct observe() calls would have shown."""

from __future__ import annotations

from prometheus_client import generate_latest

from gateway.metrics import LATENCY_BUCKETS, Metrics

# on a bound, between bounds, past the last one, and zero
SECONDS = [0.0, 0.0004, 0.0005, 0.0011, 0.002, 0.0049, 0.03, 0.9, 1.0, 2.5, *LATENCY_BUCKETS]


def test_a_fold_gives_the_figures_direct_observations_give() -> None:
    direct, tallied = Metrics(), Metrics()
    for i, seconds in enumerate(SECONDS):
        route, status = ("/v1/ivr/lookup", 200) if i % 3 else ("/v1/calls/{call_id}", 404)
        direct.requests.labels(route, str(status)).inc()
        direct.latency.labels(route).observe(seconds)
        direct.lookups.labels("cache", "known").inc()
        direct.lookup_latency.observe(seconds)
        tallied.observe_request(route, status, seconds)
    lookups = tallied.tally(tallied.lookups.labels("cache", "known"), tallied.lookup_latency)
    for seconds in SECONDS:
        lookups.add(seconds)
    assert generate_latest(tallied.registry) != generate_latest(direct.registry)  # nothing folded yet
    tallied.fold()
    assert generate_latest(tallied.registry) == generate_latest(direct.registry)
    tallied.fold()  # nothing new: folding again adds nothing
    assert generate_latest(tallied.registry) == generate_latest(direct.registry)
