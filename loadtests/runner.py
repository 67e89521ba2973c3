"""`loadtests/run`: one headless load test that starts what it needs and judges the result.

1. starts its own `callgate serve` (embedded PostgreSQL and Redis under a data directory of
   its own, ``var/loadtest/province-N``; the demo province of N subscribers is loaded on the
   first run and kept for the next) on a free loopback port, and waits until it is ready;
2. prepares callers and tokens from that database (``loadtests/prepare.py``);
3. runs locust headless for the set time at the set lookup rate (``loadtests/locustfile.py``);
4. stops the service (and its stores) by itself;
5. prints a table, writes locust's CSV and HTML report, the per-request samples, PNG charts
   and a summary under ``artifacts/loadtest/<time>-<scenario>/`` (``latest`` points there);
   for the combined scenario, the hotline simulation on the real answers;
6. exits 1 when a threshold is missed: lookup p99 above the limit (5 ms) or fewer lookups
   than asked for in the judged window, any failed lookup, any 5xx, any failure elsewhere.

Only loopback, always bounded in time: every wait has a deadline, locust stops itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from gateway.cli.staffing import DEFAULT_TARGET, parse_target, patience_distribution, positive_number
from gateway.logs import scrub_text
from gateway.stores.embedded import EmbeddedPostgres, EmbeddedRedis
from loadtests import hotline, report

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
SCENARIOS = ("lookup", "hotline", "combined", "acd")
READY_TIMEOUT_S = 1800.0  # a first run of a large province loads and evaluates it first
STOP_TIMEOUT_S = 60.0


class RunError(Exception):
    """The run could not be carried out (not a missed threshold)."""


def _duration(text: str) -> float:
    match = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([smh]?)\s*", text)
    if match is None:
        raise argparse.ArgumentTypeError(f"{text!r}: write a duration like 90s, 5m or 1h")
    value = float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be longer than zero")
    return value


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return int(text)


def _share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The options of `loadtests/run`."""
    p = argparse.ArgumentParser(
        prog="loadtests/run",
        description="Start callgate with embedded stores, load it with locust for a set time at a set "
        "lookup rate, stop it, report, and exit 1 when a threshold is missed.",
    )
    p.add_argument(
        "--scenario", choices=SCENARIOS, default="hotline",
        help="lookup: IVR calls (+ the ACD's connects) only; hotline: also agent and branch desks "
        "(default); combined: hotline at the peak call rate, then the queue simulation on the real answers; "
        "acd: real SIP calls through Kamailio and callgate's queue engine to sipp agents",
    )  # fmt: skip
    rate = p.add_mutually_exclusive_group()
    rate.add_argument(
        "--rate", type=positive_number, help="lookups per second (default 1000; combined: 30000/h)"
    )
    rate.add_argument("--calls-per-hour", type=positive_number, help="the rate as calls per hour")
    p.add_argument(
        "--duration", type=_duration, default=None, help="e.g. 60s, 5m (default 60s; combined 120s)"
    )
    p.add_argument("--warmup", type=_duration, default=5.0, help="first seconds not judged for p99/rate (5s)")
    p.add_argument("--subscribers", type=_positive_int, default=20_000, help="demo province size (20000)")
    p.add_argument("--workers", type=_positive_int, default=1, help="callgate serve worker processes (1)")
    p.add_argument(
        "--ivr-users",
        type=_positive_int,
        help="locust IVR users sharing the rate (default rate/50, at least 2)",
    )
    p.add_argument("--agent-users", type=int, default=2, help="agent desks (hotline, combined; default 2)")
    p.add_argument("--branch-users", type=int, default=1, help="branch desks (hotline, combined; default 1)")
    p.add_argument(
        "--connected-share", type=_share, default=0.6, help="share of calls the ACD connects (0.6)"
    )
    p.add_argument("--processes", type=int, default=1, help="locust processes (default 1; -1: one per core)")
    p.add_argument("--p99-ms", type=positive_number, default=5.0, help="lookup p99 limit in ms (5)")
    p.add_argument(
        "--pin", action="store_true",
        help="callgate and its stores on the first cores, locust on the others (half the cores, at "
        "least one each): as if the load came from a host of its own (lookup, hotline, combined)",
    )  # fmt: skip
    p.add_argument("--seed", type=int, default=1, help="seed of the caller mix and the simulation")
    p.add_argument("--data-dir", type=Path, help="embedded stores (default var/loadtest/province-N)")
    p.add_argument("--out", type=Path, default=ROOT / "artifacts" / "loadtest", help="artifacts root")
    sim = p.add_argument_group("combined scenario: the hotline behind the IVR")
    sim.add_argument("--target", type=parse_target, default=DEFAULT_TARGET, help="service level (0.85/20)")
    sim.add_argument("--aht-vip", type=positive_number, default=240.0, help="VIP desk handling time, s (240)")
    sim.add_argument(
        "--aht-general", type=positive_number, default=180.0, help="general handling time, s (180)"
    )
    sim.add_argument("--vip-agents", type=_positive_int, help="VIP desk agents (default: Erlang C)")
    sim.add_argument("--general-agents", type=_positive_int, help="general agents (default: Erlang C)")
    sim.add_argument(
        "--patience",
        type=patience_distribution,
        default="never",
        help="callers' patience: never, exp:MEAN, … (never)",
    )
    sim.add_argument(
        "--sim-minutes", type=positive_number, default=60.0, help="measured minutes per hour (60)"
    )
    sim.add_argument(
        "--sim-warmup", type=float, default=15.0, help="minutes simulated before each measured hour (15)"
    )
    sim.add_argument(
        "--sim-hours", type=_positive_int, default=10,
        help="independent hours simulated when the run is shorter than one (10)",
    )  # fmt: skip
    acd = p.add_argument_group("acd scenario: SIP calls, callgate choosing the agents (issue 18)")
    acd.add_argument("--agents", type=_positive_int, default=14, help="agents, both desks, five stars (14)")
    acd.add_argument("--aht", type=positive_number, default=180.0, help="mean handling time, s (180)")
    acd.add_argument(
        "--mean-patience", type=positive_number, default=120.0, help="callers' patience, s (120)"
    )
    acd.add_argument("--compress", type=_positive_int, default=20, help="time compression, divides 20 (20)")
    acd.add_argument(
        "--tolerance", type=positive_number, default=5.0, help="points below Erlang C that still pass (5)"
    )
    return p


@dataclass(frozen=True, slots=True)
class Pinning:
    """`--pin`: the cores callgate (and the stores it starts) may run on, and locust's."""

    service: frozenset[int]
    load: frozenset[int]

    def describe(self) -> str:
        """The run summary's words for it."""
        service, load = _cores(self.service), _cores(self.load)
        return f"callgate and its stores pinned to core {service}, locust to core {load}"


def _cores(cores: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cores))


def split_cores(available: set[int]) -> Pinning:
    """The load generator on the upper half of the cores this process may use (at least
    one), the service on the rest; RunError with fewer than two cores."""
    cores = sorted(available)
    if len(cores) < 2:
        raise RunError(f"--pin needs at least 2 cores; this process may use {len(cores)}")
    load = len(cores) // 2
    return Pinning(frozenset(cores[:-load]), frozenset(cores[-load:]))


def on_cores(cmd: list[str], cores: frozenset[int] | None) -> list[str]:
    """`cmd` run on `cores` (and what it starts), through taskset, which execs it in place
    (the same pid); unchanged for None."""
    return cmd if cores is None else ["taskset", "--cpu-list", _cores(cores), *cmd]


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def _pump(stream: IO[bytes], sink: IO[str]) -> None:
    """Copy the service's standard output to its log with phone numbers masked (the demo
    banner prints sample callers)."""
    for raw in iter(stream.readline, b""):
        sink.write(scrub_text(raw.decode(errors="replace")))
        sink.flush()


@dataclass(frozen=True, slots=True)
class Running:
    """The service while it runs: its URL and the processes whose CPU time is counted."""

    url: str
    pid: int
    data_dir: Path


@contextlib.contextmanager
def service(
    data_dir: Path,
    port: int,
    workers: int,
    subscribers: int,
    log_dir: Path,
    extra_env: dict[str, str] | None = None,
    cores: frozenset[int] | None = None,
) -> Iterator[Running]:
    """`callgate serve` with embedded stores under ``data_dir``; yields it running; stops it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    env.update(
        CALLGATE_DATA_DIR=str(data_dir), CALLGATE_HOST=HOST, CALLGATE_PORT=str(port), **(extra_env or {})
    )
    log_dir.mkdir(parents=True, exist_ok=True)
    out_log = (log_dir / "serve.out.log").open("w", encoding="utf-8")
    err_log = (log_dir / "serve.log").open("wb")  # structured logs: numbers already masked by callgate
    proc = subprocess.Popen(
        on_cores(
            [
                sys.executable,
                "-m",
                "gateway.cli.main",
                "serve",
                "--workers",
                str(workers),
                "--demo-subscribers",
                str(subscribers),
            ],
            cores,
        ),
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=err_log,
        start_new_session=True,  # our Ctrl-C reaches us; we stop the service ourselves
    )
    assert proc.stdout is not None
    pump = threading.Thread(target=_pump, args=(proc.stdout, out_log), daemon=True)
    pump.start()
    url = f"http://{HOST}:{port}"
    try:
        print(f"starting callgate serve on {url} (data {data_dir}, {workers} worker(s)) …", flush=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RunError(f"callgate serve exited with {proc.returncode}; see {log_dir / 'serve.log'}")
            if _get(f"{url}/readyz")[0] == 200:
                break
            if time.monotonic() > deadline:
                raise RunError(f"callgate serve not ready within {READY_TIMEOUT_S:.0f} s")
            time.sleep(0.5)
        yield Running(url, proc.pid, data_dir)
    finally:
        notes = _stop(proc, data_dir)
        pump.join(timeout=5)
        out_log.write("".join(f"[loadtests/run] {note}\n" for note in notes))
        out_log.close()
        err_log.close()


def _stop(proc: subprocess.Popen[bytes], data_dir: Path) -> list[str]:
    """SIGINT (the service stops its stores itself); then, whatever happened, make sure the
    stores under our data directory are down: SIGKILL a service that hangs, and signal a
    postmaster it left behind (SIGINT: PostgreSQL's fast shutdown) ourselves."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    notes = [f"callgate serve exited with {proc.returncode}"]
    leftovers = []
    with contextlib.suppress(Exception):
        redis = EmbeddedRedis(data_dir / "redis")
        if redis.running():
            leftovers.append("redis")
            redis.stop()
    with contextlib.suppress(Exception):
        postgres = EmbeddedPostgres(data_dir / "postgres")
        pid = postgres.pid()
        if pid is not None and postgres.running():
            leftovers.append("postgres")
            os.kill(pid, signal.SIGINT)
            deadline = time.monotonic() + STOP_TIMEOUT_S
            while postgres.running() and time.monotonic() < deadline:
                time.sleep(0.1)
    if leftovers:
        notes.append(f"the service left {' and '.join(leftovers)} running; stopped here")
        print(
            f"loadtests/run: callgate serve left {' and '.join(leftovers)} running; stopped them",
            file=sys.stderr,
        )
    return notes


def prepare(data_dir: Path, out: Path, seed: int) -> str:
    """Run loadtests/prepare.py against the running service's stores; returns its summary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
    env["CALLGATE_DATA_DIR"] = str(data_dir)
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.prepare", "--out", str(out), "--seed", str(seed)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RunError(f"loadtests/prepare.py failed:\n{scrub_text(result.stderr)[-2000:]}")
    return result.stdout.strip()


def run_locust(
    args: argparse.Namespace,
    url: str,
    prepared: Path,
    run_dir: Path,
    rate: float,
    duration: float,
    cores: frozenset[int] | None = None,
) -> int:
    """Locust headless, bounded by its own run time (plus a margin we enforce)."""
    # Fewer greenlets cost the generator less CPU; 50 calls/s each keeps every user a Poisson stream.
    ivr_users = args.ivr_users or max(2, min(200, math.ceil(rate / 50)))
    desks = args.scenario != "lookup"
    agents = args.agent_users if desks else 0
    branches = args.branch_users if desks else 0
    users = ivr_users + agents + branches
    cmd = [
        sys.executable, "-m", "locust", "-f", str(ROOT / "loadtests" / "locustfile.py"),
        "--headless", "--host", url, "-u", str(users), "-r", str(users), "-t", f"{math.ceil(duration)}s",
        "--stop-timeout", "5", "--csv", str(run_dir / "locust"), "--csv-full-history",
        "--html", str(run_dir / "report.html"), "--only-summary", "--loglevel", "WARNING",
        "--exit-code-on-error", "0",
        "--prepared", str(prepared), "--lookup-rate", str(rate), "--ivr-users", str(ivr_users),
        "--agent-users", str(agents), "--branch-users", str(branches),
        "--connected-share", str(args.connected_share), "--samples-dir", str(run_dir / "samples"),
        "--seed", str(args.seed),
    ]  # fmt: skip
    if args.processes != 1:
        cmd += ["--processes", str(args.processes)]
    cmd = on_cores(cmd, cores)
    print(
        f"locust: {rate:,.1f} lookups/s from {ivr_users} IVR users, {agents} agent and "
        f"{branches} branch desks, {duration:g} s …",
        flush=True,
    )
    with (run_dir / "locust.log").open("w", encoding="utf-8") as log:
        try:
            result = subprocess.run(
                cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=duration + 120, check=False
            )
        except subprocess.TimeoutExpired:
            raise RunError(f"locust did not stop within {duration + 120:.0f} s") from None
    return result.returncode


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent pid, CPU seconds used by the process) from /proc, or None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()  # the name in parentheses may hold spaces
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _processes() -> dict[int, tuple[int, float]]:
    """Every process now: pid → (parent pid, CPU seconds)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                table[int(entry.name)] = found
    return table


def _tree_cpu(table: dict[int, tuple[int, float]], roots: set[int]) -> dict[int, float]:
    """CPU seconds per root: the root and its live descendants, each counted under the
    nearest root above it (so the stores are not counted inside the service that started them)."""
    totals = dict.fromkeys(roots, 0.0)
    for pid, (_, cpu) in table.items():
        p, hops = pid, 0
        while p not in roots and p in table and hops < 64:
            p, hops = table[p][0], hops + 1
        if p in roots:
            totals[p] += cpu
    return totals


@dataclass(frozen=True, slots=True)
class CpuSnapshot:
    """CPU seconds so far: the machine's busy time, the service, its stores, our children."""

    at: float
    machine_busy: float
    service: float
    stores: float
    children: float  # processes this runner started and waited for (locust)


def _machine_busy() -> float:
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return math.nan
    ticks = [int(v) for v in first]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / _TICK


def cpu_snapshot(running: Running) -> CpuSnapshot:
    """Where the machine's CPU time has gone so far (Linux /proc)."""
    stores = set()
    with contextlib.suppress(Exception):
        stores.add(EmbeddedPostgres(running.data_dir / "postgres").pid())
    with contextlib.suppress(Exception):
        stores.add(EmbeddedRedis(running.data_dir / "redis").pid())
    stores.discard(None)
    roots = {running.pid, *(pid for pid in stores if pid is not None)}
    per_root = _tree_cpu(_processes(), roots)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return CpuSnapshot(
        at=time.monotonic(),
        machine_busy=_machine_busy(),
        service=per_root[running.pid],
        stores=sum(cpu for pid, cpu in per_root.items() if pid != running.pid),
        children=usage.ru_utime + usage.ru_stime,
    )


def cpu_report(before: CpuSnapshot, after: CpuSnapshot) -> str:
    """One line: how the machine's cores were shared during the load."""
    wall = after.at - before.at
    cores = os.cpu_count() or 1
    capacity = wall * cores

    def part(name: str, seconds: float) -> str:
        return f"{name} {seconds:.1f} s ({seconds / wall:.0%} of a core)"

    serve = after.service - before.service
    stores = after.stores - before.stores
    locust = after.children - before.children
    busy = after.machine_busy - before.machine_busy
    others = max(0.0, busy - serve - stores - locust)
    return (
        f"CPU over the {wall:.0f} s of load ({cores} cores, {capacity:.0f} core-s): "
        + ", ".join(
            [
                part("callgate serve", serve),
                part("its stores", stores),
                part("locust", locust),
                part("other work", others),
            ]
        )
        + f"; idle {max(0.0, capacity - busy) / capacity:.0%}"
        + (
            f"\nWARNING: other processes used {others / wall:.0%} of a core during the run: "
            "the latencies are not this machine's alone; run again on a quiet machine"
            if others / wall > 0.25
            else ""
        )
    )


def lookup_counts(url: str, limit_ms: float) -> tuple[float, float] | None:
    """From the service's /metrics: lookups answered within the limit, and all lookups."""
    status, body = _get(f"{url}/metrics", timeout=5)
    if status != 200:
        return None
    text = body.decode(errors="replace")
    le = {
        float(m.group(1)): float(m.group(2))
        for m in re.finditer(r'^callgate_lookup_seconds_bucket\{le="([0-9.e+-]+)"\} ([0-9.e+]+)$', text, re.M)
    }
    total = le.get(math.inf) or next(
        (float(m.group(1)) for m in re.finditer(r"^callgate_lookup_seconds_count ([0-9.e+]+)$", text, re.M)),
        0.0,
    )
    within = le.get(limit_ms / 1000)
    if within is None:
        return None
    return within, total


class LookupWatch:
    """Reads the lookup histogram from /metrics every second while locust runs, so the
    server-side share can be judged over the same window as the client side (the warm-up
    left out) as well as over the whole run."""

    def __init__(self, url: str, limit_ms: float, every_s: float = 1.0) -> None:
        self.url, self.limit_ms, self.every_s = url, limit_ms, every_s
        self.readings: list[tuple[float, float, float]] = []  # (epoch seconds, within, total)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lookup-watch", daemon=True)

    def __enter__(self) -> LookupWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self._read()  # after locust stopped: every lookup counted

    def _read(self) -> None:
        at = time.time()
        counts = lookup_counts(self.url, self.limit_ms)
        if counts is not None:
            self.readings.append((at, *counts))

    def _run(self) -> None:
        self._read()
        while not self._stop.wait(self.every_s):
            self._read()

    def share(self, since: float | None = None) -> tuple[float, float] | None:
        """(share within the limit, lookups) from the first reading at or after `since`
        (None: the first reading) to the last one."""
        if not self.readings:
            return None
        start = next((r for r in self.readings if since is None or r[0] >= since), None)
        if start is None:
            return None
        _, within, total = self.readings[-1]
        counted = total - start[2]
        if counted <= 0:
            return None
        return (within - start[1]) / counted, counted


def server_lookup_share(watch: LookupWatch, window_start: float, limit_ms: float) -> str | None:
    """The server-side share of lookups within the limit: over the judged window (from the
    first reading after the warm-up) and over the whole run."""
    whole = watch.share()
    if whole is None:
        return None
    text = f"{whole[0]:.3%} of {whole[1]:,.0f} lookups over the whole run"
    judged = watch.share(window_start)
    if judged is not None:
        text = f"{judged[0]:.3%} of {judged[1]:,.0f} lookups in the judged window, " + text
    return f"server side (/metrics): answered within {limit_ms:g} ms: {text}"


def _finite(value: Any) -> Any:
    """NaN (a route with no samples in a stretch) as null, so the summary stays valid JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _link_latest(root: Path, run_dir: Path) -> None:
    latest = root / "latest"
    with contextlib.suppress(OSError):
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(run_dir.name)


def main(argv: list[str] | None = None) -> int:
    """Run the load test; 0 when every threshold holds, 1 when one is missed, 2 on a setup error."""
    args = build_parser().parse_args(argv)
    combined = args.scenario == "combined"
    if args.calls_per_hour:
        rate = args.calls_per_hour / 3600
    else:
        rate = args.rate or (30_000 / 3600 if combined else 1000.0)
    duration = args.duration or (120.0 if combined else 60.0)
    patience = args.patience
    data_dir = (args.data_dir or ROOT / "var" / "loadtest" / f"province-{args.subscribers}").resolve()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    run_dir = (args.out / f"{stamp}-{args.scenario}").resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    _link_latest(args.out, run_dir)
    if args.scenario == "acd":
        if args.pin:
            print(
                "loadtests/run: --pin applies to the lookup, hotline and combined scenarios", file=sys.stderr
            )
            return 2
        return run_acd(args, data_dir, run_dir)
    prepared = data_dir / "prepared.json"
    started = time.time()
    server_side = None
    watch: LookupWatch | None = None
    cpu = ""
    pinning: Pinning | None = None
    try:
        if args.pin:
            pinning = split_cores(os.sched_getaffinity(0))
        with service(
            data_dir, free_port(), args.workers, args.subscribers, run_dir,
            cores=pinning.service if pinning else None,
        ) as running:  # fmt: skip
            mix = prepare(data_dir, prepared, args.seed)
            (run_dir / "caller-mix.txt").write_text(mix + "\n", encoding="utf-8")
            if pinning is not None:  # what the service really got, read back
                pinning = Pinning(frozenset(os.sched_getaffinity(running.pid)), pinning.load)
            before = cpu_snapshot(running)
            with LookupWatch(running.url, args.p99_ms) as watch:
                run_locust(
                    args, running.url, prepared, run_dir, rate, duration, pinning.load if pinning else None
                )
            cpu = cpu_report(before, cpu_snapshot(running))
    except RunError as exc:
        print(f"loadtests/run: {exc}", file=sys.stderr)
        return 2
    samples = report.read_samples(sorted((run_dir / "samples").glob("samples-*.csv")))
    if not samples:
        print(f"loadtests/run: locust recorded no requests; see {run_dir / 'locust.log'}", file=sys.stderr)
        return 2
    t0, t1 = samples[0].t, samples[-1].t + 1e-6
    window = report.endpoint_stats(samples, t0 + args.warmup, t1)
    if watch is not None:
        server_side = server_lookup_share(watch, t0 + args.warmup, args.p99_ms)
    whole = report.endpoint_stats(samples, t0, t1)
    thresholds = report.Thresholds(lookup_rate=rate, p99_ms=args.p99_ms)
    verdicts = report.judge(window, whole, thresholds)
    report.draw_charts(
        report.per_second(samples, t0),
        run_dir,
        p99_limit_ms=args.p99_ms,
        lookup_rate=rate,
        warmup_s=args.warmup,
    )
    lines = [
        f"callgate load test — scenario {args.scenario}, {rate:,.1f} lookups/s asked for, {t1 - t0:.0f} s, "
        f"{args.subscribers:,} subscribers, {args.workers} worker(s), {os.cpu_count()} cores, "
        f"load generator on the same machine" + (f" ({pinning.describe()})" if pinning else ""),
        "",
        f"judged window (after the first {args.warmup:g} s), latency in ms, client side:",
        report.render_table(window),
        "",
        "whole run:",
        report.render_table(whole),
    ]
    lines += ["", cpu]
    if server_side:
        lines += [server_side]
    hotline_json: dict[str, Any] | None = None
    if combined:
        options = hotline.HotlineOptions(
            calls_per_hour=rate * 3600,
            target=args.target,
            aht_s={"vip": args.aht_vip, "general": args.aht_general},
            agents={
                q: n for q, n in (("vip", args.vip_agents), ("general", args.general_agents)) if n is not None
            },
            patience=patience,
            horizon_s=args.sim_minutes * 60,
            hours=args.sim_hours,
            warmup_s=max(0.0, args.sim_warmup) * 60,
            seed=args.seed,
        )
        result = hotline.run_hotline(samples, options)
        hotline.draw_hotline(result, run_dir / "service_level.png")
        lines += ["", "the hotline on these answers (Q5/Q6):", hotline.render_hotline(result)]
        hotline_json = {
            "queues": [asdict(line) for line in result.lines],
            "real_times": result.real_times,
            "hours": result.hours,
            "answers": result.answers,
            "simulated_calls": result.simulated_calls,
        }
    lines += ["", report.render_verdicts(verdicts)]
    passed = all(v.ok for v in verdicts)
    lines += [
        "",
        f"{'PASSED' if passed else 'FAILED'} — artifacts in {_shown(run_dir)}"
        f" (report.html, locust_*.csv, samples/, latency.png, rps.png, failures.png"
        f"{', service_level.png' if combined else ''}, summary.txt, summary.json, serve.log, locust.log)",
    ]
    text = "\n".join(lines)
    print(text)
    (run_dir / "summary.txt").write_text(text + "\n", encoding="utf-8")
    summary = {
        "scenario": args.scenario,
        "rate": rate,
        "duration_s": t1 - t0,
        "started": started,
        "subscribers": args.subscribers,
        "workers": args.workers,
        "window": [asdict(s) for s in window],
        "whole": [asdict(s) for s in whole],
        "verdicts": [asdict(v) for v in verdicts],
        "server_side": server_side,
        "cpu": cpu,
        "pinned": {"service": sorted(pinning.service), "load": sorted(pinning.load)} if pinning else None,
        "hotline": hotline_json,
        "passed": passed,
    }
    (run_dir / "summary.json").write_text(
        json.dumps(_finite(summary), indent=2, default=str), encoding="utf-8"
    )
    return 0 if passed else 1


def run_acd(args: argparse.Namespace, data_dir: Path, run_dir: Path) -> int:
    """The acd scenario (loadtests/acd.py): 0 when callgate's service level is within the tolerance
    of Erlang C, 1 when not, 2 on a setup error."""
    from loadtests import acd

    options = acd.AcdOptions(
        agents=args.agents,
        calls_per_hour=args.calls_per_hour or 200.0,
        aht_s=args.aht,
        patience_s=args.mean_patience,
        duration_s=args.duration or 120.0,
        compress=args.compress,
        tolerance=args.tolerance / 100,
        seed=args.seed,
    )
    try:
        acd.check(options)
    except ValueError as exc:
        print(f"loadtests/run: {exc}", file=sys.stderr)
        return 2
    override = run_dir / "compressed-policy.toml"
    override.write_text(acd.policy_override(options), encoding="utf-8")
    extra = {"CALLGATE_POLICY_OVERRIDE": str(override)}
    try:
        with service(data_dir, free_port(), args.workers, args.subscribers, run_dir, extra) as running:
            removed = acd.reset_queue_engine(data_dir)
            env = {k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")}
            env.update(CALLGATE_DATA_DIR=str(data_dir), **extra)
            run, figures = acd.measure(options, running.url, env, data_dir, run_dir, args.subscribers)
    except (RunError, RuntimeError, OSError) as exc:
        print(f"loadtests/run: {exc}", file=sys.stderr)
        return 2
    lines, lat = acd.report_lines(options, run, figures)
    passed, why = acd.verdict(options, lines)
    text = "\n".join(
        [
            acd.render(options, lines, lat, run),
            f"(queue engine reset before the run: {removed} keys; "
            f"{os.cpu_count()} cores shared by every program)",
            "",
            why,
            "",
            f"{'PASSED' if passed else 'FAILED'} — artifacts in {_shown(run_dir)} (report.html, acd.csv, "
            f"latency.csv, acd.png, summary.txt, summary.json, serve.log); SIP logs (with caller numbers, "
            f"never commit them) in {run.workdir}",
        ]
    )
    print(text)
    acd.write_artifacts(options, lines, lat, text, run_dir, passed)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
