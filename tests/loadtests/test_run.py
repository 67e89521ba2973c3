"""`loadtests/run`, run as a user would run it, small and slow on purpose: it checks that the
command starts its own service, drives it, stops it, writes every artifact and judges the
run — not how fast anything is (the benchmark numbers come from running it for real)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from entitlements.staffing import offered_traffic, service_level
from loadtests.runner import RunError, split_cores

ROOT = Path(__file__).resolve().parents[2]
RAW_NUMBER = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")


def test_combined_run_end_to_end(tmp_path: Path) -> None:
    # rule Q5 and rule Q4: lookups under load, the ACD's connects, and the queues behind them
    out = tmp_path / "artifacts"
    args = [
        str(ROOT / "loadtests" / "run"),
        "--scenario", "combined", "--rate", "20", "--duration", "6s", "--warmup", "1s",
        "--subscribers", "400", "--data-dir", str(tmp_path / "data"), "--out", str(out),
        "--agent-users", "0", "--branch-users", "0", "--sim-minutes", "10",
        "--p99-ms", "1000",  # a generous bar: this test is about the command, not the speed
    ]  # fmt: skip
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:  # callgate and its stores on the lower half of the cores, locust above
        args.append("--pin")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    run_dir = (out / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    if len(cores) >= 2:
        half = len(cores) // 2
        assert summary["pinned"] == {"service": cores[:-half], "load": cores[-half:]}
        assert f"(callgate and its stores pinned to core {cores[0]}" in result.stdout
    else:  # one core: nothing to split (split_cores refuses it, below)
        assert summary["pinned"] is None
    verdicts = {v["check"]: v for v in summary["verdicts"]}
    assert verdicts["failed lookups"]["ok"], result.stdout
    assert verdicts["5xx answers, any endpoint"]["ok"], result.stdout
    assert (result.returncode == 0) == summary["passed"]
    assert {s["name"] for s in summary["whole"]} >= {"/v1/ivr/lookup"}
    assert [q["queue"] for q in summary["hotline"]["queues"]] == ["vip", "general"]
    # The server side's share over the judged window (warm-up left out, read from /metrics
    # while locust ran) and over the whole run, which counted more lookups.
    shares = re.fullmatch(
        r"server side \(/metrics\): answered within 1000 ms: ([0-9.]+)% of ([0-9,]+) lookups in the "
        r"judged window, ([0-9.]+)% of ([0-9,]+) lookups over the whole run",
        summary["server_side"],
    )
    assert shares, summary["server_side"]
    judged, whole = int(shares[2].replace(",", "")), int(shares[4].replace(",", ""))
    assert 0 < judged < whole and float(shares[1]) <= 100 and float(shares[3]) <= 100
    for name in (
        "report.html", "locust_stats.csv", "locust_stats_history.csv", "latency.png", "rps.png",
        "failures.png", "service_level.png", "summary.txt", "serve.log", "caller-mix.txt",
    ):  # fmt: skip
        assert (run_dir / name).stat().st_size > 0, name
    assert list((run_dir / "samples").glob("samples-*.csv"))
    text = result.stdout
    assert "/v1/ivr/lookup" in text and "the hotline on these answers" in text and "simulated SL" in text
    # Phone numbers never raw in what the run leaves behind (the demo banner included).
    for path in run_dir.rglob("*"):
        if (
            path.is_file()
            and path.suffix in (".log", ".txt", ".csv", ".html", ".json")
            and path.parent.name != "samples"
        ):
            leaks = RAW_NUMBER.findall(path.read_text(encoding="utf-8", errors="replace"))
            assert not leaks, f"{path.name}: {leaks[:3]}"
    # The service and its stores were stopped by the command itself.
    assert not (tmp_path / "data" / "postgres" / "data" / "postmaster.pid").exists()


def test_acd_run_end_to_end(tmp_path: Path) -> None:
    # rule A4 and rule Q5: `loadtests/run --scenario acd` as a user runs it, small: SIP calls
    # through Kamailio to three agents, callgate's figures beside Erlang C and the simulation
    out = tmp_path / "artifacts"
    args = [
        str(ROOT / "loadtests" / "run"),
        "--scenario", "acd", "--agents", "3", "--calls-per-hour", "100", "--aht", "60",
        "--duration", "12s", "--subscribers", "400", "--data-dir", str(tmp_path / "data"),
        "--out", str(out),
        "--tolerance", "100",  # this test is about the command, not the service level
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    run_dir = (out / "latest").resolve()
    summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
    desks = {d["desk"]: d for d in summary["desks"]}
    assert list(desks) == ["vip", "general", "total"] and summary["passed"]
    # Every call placed was counted by callgate, once (answered or abandoned) — unless a request
    # failed (a busy machine: Redis over budget), after which the driver serves some itself.
    printed = re.search(r"calls: (\d+) placed.*callgate requests failed (\d+)", result.stdout)
    assert printed is not None, result.stdout
    placed, failed = int(printed.group(1)), int(printed.group(2))
    total = desks["total"]
    assert placed > 0 and (total["offered"] == placed if failed == 0 else 0 < total["offered"] <= placed)
    assert total["offered"] == total["answered"] + total["abandoned"]
    # Erlang C for the uncompressed figures (3 agents, 100 calls/h of 60 s, within 20 s).
    assert total["erlang_c_sl"] == pytest.approx(service_level(offered_traffic(100, 3600, 60), 3, 60, 20))
    for name in ("report.html", "acd.csv", "latency.csv", "acd.png", "summary.txt", "serve.log"):
        assert (run_dir / name).stat().st_size > 0, name
    assert "enqueue (lookup inside)" in result.stdout and "Erlang C" in result.stdout
    for path in run_dir.rglob("*"):
        if path.is_file() and path.suffix in (".log", ".txt", ".csv", ".html", ".json"):
            leaks = RAW_NUMBER.findall(path.read_text(encoding="utf-8", errors="replace"))
            assert not leaks, f"{path.name}: {leaks[:3]}"
    assert not (tmp_path / "data" / "postgres" / "data" / "postmaster.pid").exists()


def test_pinning_splits_the_cores_between_the_service_and_the_load() -> None:
    # the load generator on the upper half (at least one core), callgate and its stores below
    assert split_cores({0, 1}).service == {0} and split_cores({0, 1}).load == {1}
    three = split_cores({0, 2, 5})
    assert (three.service, three.load) == (frozenset({0, 2}), frozenset({5}))
    assert split_cores({0, 1, 2, 3}).load == {2, 3}
    assert split_cores({4, 7}).describe() == "callgate and its stores pinned to core 4, locust to core 7"
    with pytest.raises(RunError, match="--pin needs at least 2 cores; this process may use 1"):
        split_cores({3})
