"""loadtests/report.py — exact percentiles, the per-route table and the pass/fail checks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from loadtests.report import (
    LOOKUP,
    Sample,
    Thresholds,
    draw_charts,
    endpoint_stats,
    judge,
    per_second,
    percentile,
    read_samples,
    render_table,
    render_verdicts,
)

CONNECTED = "/v1/calls/{call_id}/connected"


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        pytest.param([1.0, 2.0, 3.0, 4.0], 50, 2.0, id="median of four is the second by nearest rank"),
        pytest.param([float(v) for v in range(1, 101)], 99, 99.0, id="p99 of 1..100 is 99"),
        pytest.param([float(v) for v in range(1, 1001)], 99.9, 999.0, id="p99.9 of 1..1000 is 999"),
        pytest.param([7.0], 99, 7.0, id="one value is every percentile"),
    ],
)
def test_percentile_nearest_rank(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == expected


def test_percentile_of_nothing_is_nan() -> None:
    assert math.isnan(percentile([], 99))


def lookups(
    n: int, *, ms: float = 1.0, start: float = 1000.0, rate: float = 100.0, **kw: object
) -> list[Sample]:
    return [Sample(start + i / rate, LOOKUP, ms, 200, True, **kw) for i in range(n)]  # type: ignore[arg-type]  # test rows


def test_stats_per_route_in_a_window() -> None:
    samples = [*lookups(1000), Sample(1000.5, CONNECTED, 2.0, 404, True, tolerated=True)]
    samples.append(Sample(1001.0, LOOKUP, 50.0, 503, False, error="HTTP 503 internal_error"))
    stats = endpoint_stats(sorted(samples, key=lambda s: s.t), 1000.0, 1010.0)
    assert [s.name for s in stats] == [LOOKUP, CONNECTED]  # lookups first
    lookup, connected = stats
    assert (lookup.requests, lookup.failures, lookup.server_errors) == (1001, 1, 1)
    assert lookup.rate == pytest.approx(100.1)
    assert lookup.max_ms == 50.0 and lookup.p99_ms == 1.0
    assert lookup.errors == (("HTTP 503 internal_error", 1),)
    assert connected.tolerated == 1 and connected.failures == 0
    table = render_table(stats)
    assert "/v1/ivr/lookup" in table and "1 × HTTP 503 internal_error" in table


def test_judge_passes_a_clean_fast_run() -> None:
    stats = endpoint_stats(lookups(1000, ms=1.5), 1000.0, 1010.0)
    verdicts = judge(stats, stats, Thresholds(lookup_rate=100))
    assert all(v.ok for v in verdicts), render_verdicts(verdicts)


@pytest.mark.parametrize(
    ("samples", "rate", "failed_check"),
    [
        pytest.param(lookups(1000, ms=6.0), 100, "lookup p99", id="p99 above 5 ms fails"),
        pytest.param(lookups(500, rate=50), 100, "lookup rate", id="half the asked-for rate fails"),
        pytest.param(
            [
                *lookups(999),
                Sample(1009.99, LOOKUP, 1.0, 200, False, error="level 'gold', expected 'silver'"),
            ],
            100,
            "failed lookups",
            id="one misrouted lookup fails",
        ),
        pytest.param(
            [*lookups(1000), Sample(1005.0, "/v1/reactivations", 3.0, 500, False)],
            100,
            "5xx answers, any endpoint",
            id="a 5xx anywhere fails",
        ),
    ],
)
def test_judge_fails(samples: list[Sample], rate: float, failed_check: str) -> None:
    samples.sort(key=lambda s: s.t)
    stats = endpoint_stats(samples, 1000.0, 1010.0)
    verdicts = judge(stats, stats, Thresholds(lookup_rate=rate))
    assert next(v.check for v in verdicts if not v.ok) == failed_check
    assert f"FAIL  {failed_check}" in render_verdicts(verdicts)


def test_judge_without_lookups_fails() -> None:
    assert not judge([], [], Thresholds(lookup_rate=10))[0].ok


def test_samples_round_trip_through_csv_and_charts(tmp_path: Path) -> None:
    path = tmp_path / "samples-1.csv"
    path.write_text(
        "t,name,ms,status,ok,error,group,queue,priority,degraded,source,tolerated\n"
        "1000.2,/v1/ivr/lookup,1.25,200,1,,active/star/five_star,vip,30,0,cache,0\n"
        "1000.1,/v1/ivr/lookup,0.75,400,1,,invalid,,,,,0\n"
        "1001.5,/v1/calls/{call_id}/connected,0.5,404,1,,,,,,,1\n"
        '1002.5,/v1/ivr/lookup,9.5,0,0,"known=False, expected True",unknown,general,0,1,default,0\n',
        encoding="utf-8",
    )
    samples = read_samples([path])
    assert [s.t for s in samples] == [1000.1, 1000.2, 1001.5, 1002.5]
    first_vip = samples[1]
    assert (first_vip.queue, first_vip.priority, first_vip.source, first_vip.degraded) == (
        "vip",
        30,
        "cache",
        False,
    )
    assert samples[0].priority is None and samples[2].tolerated and samples[3].degraded
    assert samples[3].error == "known=False, expected True"
    series = per_second(samples, 1000.0)
    assert [s.requests for s in series[LOOKUP]] == [2, 0, 1]
    assert series[LOOKUP][2].failures == 1
    paths = draw_charts(series, tmp_path, p99_limit_ms=5, lookup_rate=2, warmup_s=1)
    assert [p.name for p in paths] == ["latency.png", "rps.png", "failures.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
