"""Read the per-request samples of a load test, judge the thresholds, print and draw them.

The samples are the locustfile's CSVs: one row per request with its exact latency (float
ms), status and, for lookups, the answer's queue and priority. Percentiles here are exact
(nearest rank) rather than locust's rounded histogram, which stores anything under 100 ms
to the whole millisecond — too coarse for a 5 ms bar.
"""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

LOOKUP = "/v1/ivr/lookup"


@dataclass(frozen=True, slots=True)
class Sample:
    """One request as the load generator saw it."""

    t: float  # start, seconds since the epoch
    name: str
    ms: float
    status: int
    ok: bool
    error: str = ""
    group: str = ""
    queue: str = ""
    priority: int | None = None
    degraded: bool = False
    source: str = ""
    tolerated: bool = False


def read_samples(paths: Iterable[Path]) -> list[Sample]:
    """Every sample of the given CSV files, in start order."""
    samples = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as handle:
            for r in csv.DictReader(handle):
                samples.append(
                    Sample(
                        t=float(r["t"]),
                        name=r["name"],
                        ms=float(r["ms"]),
                        status=int(r["status"] or 0),
                        ok=r["ok"] == "1",
                        error=r["error"],
                        group=r["group"],
                        queue=r["queue"],
                        priority=int(r["priority"]) if r["priority"] not in ("", None) else None,
                        degraded=r["degraded"] == "1",
                        source=r["source"],
                        tolerated=r["tolerated"] == "1",
                    )
                )
    samples.sort(key=lambda s: s.t)
    return samples


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of ascending values (q in 0–100); NaN when empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered) / 100 - 1e-9))  # 99.9 % of 1000 is rank 999, not 1000
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class EndpointStats:
    """One route over a stretch of the run."""

    name: str
    requests: int
    failures: int
    server_errors: int  # 5xx answers
    tolerated: int  # 404s accepted from endpoints still being built
    rate: float  # requests per second over the stretch
    mean_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    errors: tuple[tuple[str, int], ...]  # failure messages (no numbers) with counts


def endpoint_stats(samples: Sequence[Sample], start: float, end: float) -> list[EndpointStats]:
    """Per-route figures for requests started in [start, end); lookups first."""
    by_name: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        if start <= s.t < end:
            by_name[s.name].append(s)
    span = max(end - start, 1e-9)
    out = []
    for name in sorted(by_name, key=lambda n: (n != LOOKUP, n)):
        group = by_name[name]
        ordered = sorted(s.ms for s in group)
        errors: dict[str, int] = defaultdict(int)
        for s in group:
            if not s.ok:
                errors[s.error or f"HTTP {s.status}"] += 1
        out.append(
            EndpointStats(
                name=name,
                requests=len(group),
                failures=sum(not s.ok for s in group),
                server_errors=sum(s.status >= 500 for s in group),
                tolerated=sum(s.tolerated for s in group),
                rate=len(group) / span,
                mean_ms=sum(ordered) / len(ordered),
                p50_ms=percentile(ordered, 50),
                p95_ms=percentile(ordered, 95),
                p99_ms=percentile(ordered, 99),
                p999_ms=percentile(ordered, 99.9),
                max_ms=ordered[-1],
                errors=tuple(sorted(errors.items(), key=lambda kv: -kv[1])),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What a run must reach to pass."""

    lookup_rate: float  # lookups per second asked for
    p99_ms: float = 5.0
    min_rate_share: float = 0.95  # of the asked-for rate, actually sent in the judged window
    strict: bool = True  # every other endpoint must be free of failures too


@dataclass(frozen=True, slots=True)
class Verdict:
    """One threshold: what was measured against what limit."""

    check: str
    measured: str
    limit: str
    ok: bool


def judge(window: Sequence[EndpointStats], whole: Sequence[EndpointStats], th: Thresholds) -> list[Verdict]:
    """The pass/fail checks: lookup p99 and rate in the judged window; failures and 5xx over the
    whole run (warm-up included)."""
    lookup = next((s for s in window if s.name == LOOKUP), None)
    lookup_all = next((s for s in whole if s.name == LOOKUP), None)
    verdicts = []
    if lookup is None or lookup_all is None:
        return [Verdict("lookups were made", "0", "> 0", False)]
    verdicts.append(
        Verdict("lookup p99", f"{lookup.p99_ms:.2f} ms", f"≤ {th.p99_ms:g} ms", lookup.p99_ms <= th.p99_ms)
    )
    # Arrivals are Poisson: a short or slow run may fall short by chance, so the floor is the
    # lower of the share and three standard deviations below the expected count.
    span = lookup.requests / lookup.rate if lookup.rate > 0 else 0.0
    expected = th.lookup_rate * span
    floor = min(th.min_rate_share * expected, expected - 3 * math.sqrt(expected)) / span if span else 0.0
    verdicts.append(
        Verdict(
            "lookup rate",
            f"{lookup.rate:,.1f}/s",
            f"≥ {floor:,.1f}/s: {th.min_rate_share:.0%} of {th.lookup_rate:,.1f}/s or Poisson noise",
            lookup.rate >= floor,
        )
    )
    verdicts.append(Verdict("failed lookups", str(lookup_all.failures), "0", lookup_all.failures == 0))
    server_errors = sum(s.server_errors for s in whole)
    verdicts.append(Verdict("5xx answers, any endpoint", str(server_errors), "0", server_errors == 0))
    if th.strict:
        others = sum(s.failures for s in whole if s.name != LOOKUP)
        verdicts.append(Verdict("failures, other endpoints", str(others), "0", others == 0))
    return verdicts


def _ms(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}"


def render_table(stats: Sequence[EndpointStats]) -> str:
    """The per-endpoint table (latency in ms)."""
    header = [
        "endpoint",
        "requests",
        "rate/s",
        "fail",
        "5xx",
        "404 ok",
        "mean",
        "p50",
        "p95",
        "p99",
        "p99.9",
        "max",
    ]
    rows = [header]
    for s in stats:
        rows.append(
            [
                s.name,
                f"{s.requests:,}",
                f"{s.rate:,.1f}",
                str(s.failures),
                str(s.server_errors),
                str(s.tolerated),
                *(_ms(v) for v in (s.mean_ms, s.p50_ms, s.p95_ms, s.p99_ms, s.p999_ms, s.max_ms)),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in rows
    ]
    for s in stats:
        for message, count in s.errors[:5]:
            lines.append(f"  {s.name}: {count} × {message}")
    return "\n".join(lines)


def render_verdicts(verdicts: Sequence[Verdict]) -> str:
    """One line per threshold, PASS or FAIL."""
    width = max(len(v.check) for v in verdicts)
    return "\n".join(
        f"{'PASS' if v.ok else 'FAIL'}  {v.check.ljust(width)}  {v.measured}  (limit {v.limit})"
        for v in verdicts
    )


@dataclass(frozen=True, slots=True)
class Second:
    """One second of the run for one route."""

    second: int  # from the start of the run
    requests: int
    failures: int
    server_errors: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float


def per_second(samples: Sequence[Sample], start: float) -> dict[str, list[Second]]:
    """Each route's requests grouped by the second they started in (seconds with none are zeros)."""
    buckets: dict[str, dict[int, list[Sample]]] = defaultdict(lambda: defaultdict(list))
    last = 0
    for s in samples:
        sec = int(s.t - start)
        if sec < 0:
            continue
        buckets[s.name][sec].append(s)
        last = max(last, sec)
    out: dict[str, list[Second]] = {}
    for name, by_sec in buckets.items():
        series = []
        for sec in range(last + 1):
            group = by_sec.get(sec, [])
            ordered = sorted(x.ms for x in group)
            series.append(
                Second(
                    second=sec,
                    requests=len(group),
                    failures=sum(not x.ok for x in group),
                    server_errors=sum(x.status >= 500 for x in group),
                    p50_ms=percentile(ordered, 50),
                    p95_ms=percentile(ordered, 95),
                    p99_ms=percentile(ordered, 99),
                    max_ms=ordered[-1] if ordered else math.nan,
                )
            )
        out[name] = series
    return out


def draw_charts(
    series: dict[str, list[Second]],
    out_dir: Path,
    *,
    p99_limit_ms: float,
    lookup_rate: float,
    warmup_s: float,
) -> list[Path]:
    """latency.png (lookup percentiles per second), rps.png (requests per second per route),
    failures.png (failures and 5xx per second per route)."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    lookup = series.get(LOOKUP, [])

    fig, ax = plt.subplots(figsize=(10, 4.5))
    secs = [s.second for s in lookup]
    for label, latencies in (
        ("p50", [s.p50_ms for s in lookup]),
        ("p95", [s.p95_ms for s in lookup]),
        ("p99", [s.p99_ms for s in lookup]),
        ("max", [s.max_ms for s in lookup]),
    ):
        ax.plot(secs, latencies, label=label, linewidth=1.2 if label != "max" else 0.6)
    ax.axhline(p99_limit_ms, color="red", linestyle="--", linewidth=1, label=f"p99 limit {p99_limit_ms:g} ms")
    if warmup_s > 0:
        ax.axvspan(0, warmup_s, color="grey", alpha=0.15, label="warm-up (not judged)")
    ax.set_yscale("log")
    ax.set_xlabel("second of the run")
    ax.set_ylabel("lookup latency, ms (log)")
    ax.set_title("GET /v1/ivr/lookup latency per second (client side)")
    ax.legend(loc="upper right", fontsize="small")
    ax.grid(True, which="both", alpha=0.3)
    paths.append(_save(fig, out_dir / "latency.png"))

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for name, values in sorted(series.items()):
        full = values[:-1] if len(values) > 1 else values  # the last second is cut short by the stop
        ax.plot([s.second for s in full], [s.requests for s in full], label=name, linewidth=1)
    ax.axhline(
        lookup_rate, color="grey", linestyle="--", linewidth=1, label=f"lookup target {lookup_rate:,.0f}/s"
    )
    ax.set_xlabel("second of the run")
    ax.set_ylabel("requests started per second")
    ax.set_title("Requests per second")
    ax.legend(loc="center right", fontsize="small")
    ax.grid(True, alpha=0.3)
    paths.append(_save(fig, out_dir / "rps.png"))

    fig, ax = plt.subplots(figsize=(10, 4.5))
    any_failure = False
    for name, values in sorted(series.items()):
        any_failure = any_failure or any(s.failures for s in values)
        ax.plot(
            [s.second for s in values], [s.failures for s in values], label=f"{name} failures", linewidth=1
        )
        if any(s.server_errors for s in values):
            ax.plot(
                [s.second for s in values],
                [s.server_errors for s in values],
                label=f"{name} 5xx",
                linestyle=":",
            )
    if not any_failure:
        ax.text(0.5, 0.5, "no failures", transform=ax.transAxes, ha="center", va="center", fontsize=16)
        ax.set_ylim(-0.05, 1)
    ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel("second of the run")
    ax.set_ylabel("failures per second")
    ax.set_title("Failures and 5xx per second")
    ax.grid(True, alpha=0.3)
    paths.append(_save(fig, out_dir / "failures.png"))
    return paths


def _save(fig: Figure, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
