"""Run the hotline's SIP path on loopback and see where the calls went (issue 10).

`place_calls` starts Kamailio with `kamailio.cfg`, one sipp per queue (`sipp/queue.xml`, the VIP
desk and the general queue) and a sipp caller (`sipp/caller.xml`) that dials 10010 once per CSV
line; it returns which queue each call reached, with the X-Callgate-* headers the queue saw, and
each call's setup delay (INVITE sent → 200 OK received). Every process runs under coreutils
`timeout` in its own process group, so nothing outlives its bound even if the harness dies.

`python -m loadtests.sip.harness` (what `ivr/kamailio/run` runs) measures calls per second and
setup delay with and without the lookup; see `ivr/kamailio/README.md`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from types import TracebackType

KAMAILIO = Path(str(resources.files("ivr.kamailio")))  # the shipped configuration and scenarios
CONFIG = KAMAILIO / "kamailio.cfg"
CALLER_SCENARIO = KAMAILIO / "sipp" / "caller.xml"
QUEUE_SCENARIO = KAMAILIO / "sipp" / "queue.xml"
REPO = Path(__file__).resolve().parent.parent.parent
INSTALL_HINT = (
    "run scripts/install-sip-tools (as root; it installs Debian's kamailio, "
    "kamailio-utils-modules, kamailio-extra-modules and sip-tester)"
)
LOOPBACK = "127.0.0.1"
QUEUES = ("vip", "general")
DEMO_IVR_TOKEN = "cg_demo_ivr_0000000000000000000000000000"  # gateway/batch/demo.py DEMO_TOKENS
_LOG_PAIR = re.compile(r"([a-z_-]+)=(\S*)")
_STOP_GRACE_S = 10.0


class SipToolsMissing(RuntimeError):
    """kamailio (with the http_client and jansson modules) or sipp is not installed."""


class HarnessError(RuntimeError):
    """A process of the rig did not start or did not stop as it should."""


@dataclass(frozen=True, slots=True)
class Tools:
    """Paths of the two programs."""

    kamailio: str
    sipp: str


@functools.cache
def find_tools() -> Tools:
    """The kamailio and sipp binaries, with every module of kamailio.cfg loadable (a success is
    remembered for the process; a failure is not)."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"])
    kamailio = shutil.which("kamailio", path=search)
    sipp = shutil.which("sipp", path=search)
    missing = [name for name, found in (("kamailio", kamailio), ("sipp (sip-tester)", sipp)) if not found]
    if kamailio is None or sipp is None:
        raise SipToolsMissing(f"{' and '.join(missing)} not found: {INSTALL_HINT}")
    # The check parses the configuration and loads its modules (http_client, jansson, …).
    check = subprocess.run(
        [kamailio, "-c", "-f", str(CONFIG)], capture_output=True, text=True, timeout=30, check=False
    )
    if check.returncode != 0:
        errors = [line for line in check.stderr.splitlines() if "ERROR" in line or "CRITICAL" in line]
        why = "; ".join(errors[-3:]) or f"exit {check.returncode}"
        raise SipToolsMissing(f"kamailio cannot load {CONFIG.name} ({why}): {INSTALL_HINT}")
    return Tools(kamailio, sipp)


@dataclass(frozen=True, slots=True)
class Caller:
    """One line of the caller CSV: a label that may be logged, and the number that may not."""

    label: str
    number: str


@dataclass(frozen=True, slots=True)
class Lookup:
    """How Kamailio reaches callgate (see the defines at the top of kamailio.cfg)."""

    url: str
    token: str
    timeout_s: int = 1
    holdoff_s: int = 5


@dataclass(frozen=True, slots=True)
class Arrival:
    """A call as a queue endpoint saw it: the queue, the caller's label and the ACD headers."""

    queue: str
    label: str
    call_id: str
    headers: Mapping[str, str]

    def header(self, name: str) -> str | None:
        """The value of X-Callgate-<name> (e.g. "Tier"), None when the header did not arrive."""
        value = self.headers.get(f"x-{name.lower()}", "")
        return value or None


@dataclass(frozen=True, slots=True)
class Setup:
    """The caller's side of one answered call: when the INVITE left and the 200 OK came back."""

    label: str
    call_id: str
    invite_at: float
    answered_at: float

    @property
    def seconds(self) -> float:
        """Setup delay, INVITE → 200 OK."""
        return self.answered_at - self.invite_at


@dataclass(frozen=True, slots=True)
class CallRun:
    """What one batch of calls did."""

    placed: int
    succeeded: int
    failed: int
    arrivals: tuple[Arrival, ...]
    setups: tuple[Setup, ...]
    workdir: Path

    def by_label(self) -> dict[str, list[Arrival]]:
        """Arrivals grouped by the caller's label."""
        grouped: dict[str, list[Arrival]] = {}
        for arrival in self.arrivals:
            grouped.setdefault(arrival.label, []).append(arrival)
        return grouped

    def calls_per_second(self) -> float:
        """Answered calls divided by the span from the first INVITE to the last 200 OK."""
        if len(self.setups) < 2:
            return 0.0
        span = max(s.answered_at for s in self.setups) - min(s.invite_at for s in self.setups)
        return len(self.setups) / span if span > 0 else 0.0

    def setup_ms(self, quantile: float) -> float:
        """A quantile (nearest rank; 0.5 = median) of the setup delays, in milliseconds."""
        values = sorted(s.seconds for s in self.setups)
        if not values:
            return math.nan
        rank = min(len(values), max(1, math.ceil(quantile * len(values))))
        return values[rank - 1] * 1000.0

    def mean_setup_ms(self) -> float:
        """Mean setup delay in milliseconds."""
        if not self.setups:
            return math.nan
        return sum(s.seconds for s in self.setups) / len(self.setups) * 1000.0


def free_port(kind: socket.SocketKind = socket.SOCK_DGRAM, avoid: Sequence[int] = ()) -> int:
    """A port that is free on the loopback address right now (the kernel's pick: an unusual one)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, kind) as probe:
            probe.bind((LOOPBACK, 0))
            port = int(probe.getsockname()[1])
        if port not in avoid:
            return port
    raise HarnessError("no free loopback port")


class _Child:
    """One program of the rig, under `timeout` in its own process group."""

    def __init__(
        self, name: str, args: Sequence[str], log: Path, bound_s: float, env: Mapping[str, str] | None = None
    ) -> None:
        self.name = name
        self.log = log
        # TERM to `timeout` is passed on to the program; the group kill is the last resort.
        wrapped = ["timeout", "-k", "5", f"{max(1, math.ceil(bound_s))}", *args]
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                wrapped,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )

    def running(self) -> bool:
        """Whether the program is still running."""
        return self.process.poll() is None

    def wait(self, timeout_s: float) -> int:
        """Wait for the program to stop by itself; its exit status."""
        return self.process.wait(timeout=timeout_s)

    def signal(self, signum: signal.Signals) -> None:
        """Send a signal to the whole process group (the program and its workers)."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signum)

    def stop(self) -> int:
        """Stop the program (TERM, then KILL after a grace period); its exit status."""
        if self.running():
            self.process.terminate()
            try:
                return self.process.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
        return self.process.wait(timeout=_STOP_GRACE_S)

    def tail(self, lines: int = 15) -> str:
        """The last lines of the program's output (for error messages; never the caller CSV)."""
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _udp_port_taken(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((LOOPBACK, port))
        except OSError:
            return True
    return False


def _wait_bound(child: _Child, port: int, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if not child.running():
            raise HarnessError(f"{child.name} stopped while starting:\n{child.tail()}")
        if _udp_port_taken(port):
            return
        time.sleep(0.05)
    raise HarnessError(f"{child.name} did not bind udp {LOOPBACK}:{port} within {within_s:.0f} s")


def _wait_sip_answer(child: _Child, port: int, within_s: float) -> None:
    """Until Kamailio answers an OPTIONS (with 405: it only takes INVITEs) its workers are not up."""
    deadline = time.monotonic() + within_s
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(0.2)
        local = sock.getsockname()[1]
        while time.monotonic() < deadline:
            if not child.running():
                raise HarnessError(f"{child.name} stopped while starting:\n{child.tail()}")
            branch = uuid.uuid4().hex
            probe = (
                f"OPTIONS sip:probe@{LOOPBACK}:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP {LOOPBACK}:{local};branch=z9hG4bK{branch}\r\n"
                f"From: <sip:probe@{LOOPBACK}:{local}>;tag={branch[:8]}\r\n"
                f"To: <sip:probe@{LOOPBACK}:{port}>\r\n"
                f"Call-ID: probe-{branch}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 5\r\nContent-Length: 0\r\n\r\n"
            )
            sock.sendto(probe.encode(), (LOOPBACK, port))
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                continue
            if answer.startswith(b"SIP/2.0 "):
                return
    raise HarnessError(f"{child.name} did not answer SIP on udp {LOOPBACK}:{port} within {within_s:.0f} s")


def _kamailio_args(
    tools: Tools, rundir: Path, port: int, queues: Mapping[str, int], lookup: Lookup | None, children: int
) -> list[str]:
    args = [
        tools.kamailio,
        "-f", str(CONFIG),
        "-DD", "-E",  # stay in the foreground, log to standard error
        "-Y", str(rundir),
        "-P", str(rundir / "kamailio.pid"),
        "-w", str(rundir),
        "-l", f"udp:{LOOPBACK}:{port}",
        "-n", str(children),
        # Shared memory holds every transaction until 5 s after it ends: 1,000 calls/s need
        # far more than the default 64 MB.
        "-m", "512", "-M", "16",
        "-A", f'VIP_DESK_URI="sip:vip@{LOOPBACK}:{queues["vip"]}"',
        "-A", f'GENERAL_QUEUE_URI="sip:general@{LOOPBACK}:{queues["general"]}"',
    ]  # fmt: skip
    if lookup is None:
        args += ["-A", "WITHOUT_LOOKUP"]
    else:
        args += [
            "-A", f'CALLGATE_URL="{lookup.url.rstrip("/")}"',
            "-A", f"CALLGATE_TIMEOUT={lookup.timeout_s}",
            "-A", f"CALLGATE_HOLDOFF={lookup.holdoff_s}",
        ]  # fmt: skip
    return args


def write_callers(callers: Sequence[Caller], path: Path) -> None:
    """The sipp `-inf` file: SEQUENTIAL, then `label;number;` per caller."""
    for caller in callers:
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", caller.label) or any(c in caller.number for c in ";\r\n"):
            raise ValueError(f"caller {caller.label!r}: labels are [A-Za-z0-9_.+-]+, numbers have no ';'")
    lines = ["SEQUENTIAL", *(f"{c.label};{c.number};" for c in callers)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _parse_fields(line: str) -> dict[str, str]:
    return dict(_LOG_PAIR.findall(line))


def read_arrivals(path: Path) -> list[Arrival]:
    """The calls a queue endpoint logged (sipp/queue.xml's <log> lines)."""
    if not path.exists():
        return []
    arrivals = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("call "):
            continue
        fields = _parse_fields(line)
        headers = {k: v for k, v in fields.items() if k.startswith("x-")}
        arrivals.append(
            Arrival(fields.get("queue", ""), fields.get("label", ""), fields.get("call_id", ""), headers)
        )
    return arrivals


def read_setups(path: Path) -> list[Setup]:
    """The answered calls the caller logged (sipp/caller.xml's <log> line), with their timings."""
    if not path.exists():
        return []
    setups = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("setup "):
            continue
        f = _parse_fields(line)
        invite = float(f["invite_s"]) + float(f["invite_us"]) / 1e6
        answered = float(f["ok_s"]) + float(f["ok_us"]) / 1e6
        setups.append(Setup(f.get("label", ""), f.get("call_id", ""), invite, answered))
    return setups


def read_outcome(stat_file: Path) -> tuple[int, int]:
    """Successful and failed calls from the last line of sipp's `-trace_stat` CSV."""
    if not stat_file.exists():
        return 0, 0
    rows = [line.split(";") for line in stat_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(rows) < 2:
        return 0, 0
    header, last = rows[0], rows[-1]
    column = {name: i for i, name in enumerate(header)}
    return int(last[column["SuccessfulCall(C)"]]), int(last[column["FailedCall(C)"]])


def place_calls(
    callers: Sequence[Caller],
    workdir: Path,
    *,
    lookup: Lookup | None,
    calls: int | None = None,
    rate: int = 20,
    max_concurrent: int = 200,
    children: int = 8,
    hold_ms: int = 100,
    call_id_format: str | None = None,
    bound_s: float = 120.0,
) -> CallRun:
    """Start Kamailio and both queues, place `calls` calls (default one per caller, cycling
    through the list) at `rate` per second, each held `hold_ms` once answered, stop everything,
    and read where the calls went.

    `call_id_format` is sipp's `-cid_str` (default "%u-%p@%s": call number, pid, address).
    `lookup=None` runs the WITHOUT_LOOKUP configuration (every call to the general queue,
    callgate not asked). Everything stops within `bound_s` seconds whatever happens."""
    tools = find_tools()
    workdir.mkdir(parents=True, exist_ok=True)
    rundir = workdir / "kamailio-run"
    rundir.mkdir(exist_ok=True)
    for stale in ("caller.log", "caller-stats.csv", *(f"{name}.log" for name in QUEUES)):
        (workdir / stale).unlink(missing_ok=True)  # a reused directory must not mix two runs
    csv = workdir / "callers.csv"
    write_callers(callers, csv)
    total = calls if calls is not None else len(callers)
    ports: list[int] = []
    for _ in range(4):
        ports.append(free_port(avoid=ports))
    sip_port, caller_port = ports[0], ports[1]
    queue_ports = {"vip": ports[2], "general": ports[3]}
    env = dict(os.environ)
    env.pop("CALLGATE_IVR_TOKEN", None)
    if lookup is not None:
        env["CALLGATE_IVR_TOKEN"] = lookup.token
    started: list[_Child] = []
    try:
        kamailio = _Child(
            "kamailio",
            _kamailio_args(tools, rundir, sip_port, queue_ports, lookup, children),
            workdir / "kamailio.log",
            bound_s,
            env,
        )
        started.append(kamailio)
        queues = {}
        for name, port in queue_ports.items():
            queues[name] = _Child(
                f"sipp {name} queue",
                [
                    tools.sipp, "-sf", str(QUEUE_SCENARIO), "-i", LOOPBACK, "-p", str(port),
                    "-key", "queue", name, "-nostdin",
                    "-trace_logs", "-log_file", str(workdir / f"{name}.log"),
                    "-trace_err", "-error_file", str(workdir / f"{name}-errors.log"),
                    "-timeout", f"{math.ceil(bound_s)}s",
                ],
                workdir / f"{name}.out",
                bound_s,
            )  # fmt: skip
            started.append(queues[name])
        for name, port in queue_ports.items():
            _wait_bound(queues[name], port, 15)
        _wait_sip_answer(kamailio, sip_port, 15)

        caller_bound = max(10.0, bound_s - 15)
        call_ids = ["-cid_str", call_id_format] if call_id_format else []
        caller = _Child(
            "sipp caller",
            [
                tools.sipp, f"{LOOPBACK}:{sip_port}", *call_ids, "-sf", str(CALLER_SCENARIO),
                "-inf", str(csv), "-i", LOOPBACK, "-p", str(caller_port),
                "-d", str(hold_ms), "-m", str(total), "-r", str(rate), "-l", str(max_concurrent),
                "-recv_timeout", "15000", "-nostdin",
                "-trace_logs", "-log_file", str(workdir / "caller.log"),
                "-trace_stat", "-stf", str(workdir / "caller-stats.csv"), "-fd", "1",
                "-trace_err", "-error_file", str(workdir / "caller-errors.log"),
                "-timeout", f"{math.ceil(caller_bound)}s", "-timeout_error",
            ],
            workdir / "caller.out",
            caller_bound + 5,
        )  # fmt: skip
        started.append(caller)
        try:
            caller.wait(caller_bound + 15)
        except subprocess.TimeoutExpired:
            caller.stop()
        # The 200 of the last BYE has reached the caller, so the queues have logged every call.
        for child in reversed(started):
            child.stop()
    finally:
        for child in started:
            child.stop()
    succeeded, failed = read_outcome(workdir / "caller-stats.csv")
    arrivals = tuple(a for name in QUEUES for a in read_arrivals(workdir / f"{name}.log"))
    return CallRun(total, succeeded, failed, arrivals, tuple(read_setups(workdir / "caller.log")), workdir)


class CallgateProcess:
    """`callgate serve` as a child process on a free loopback port; stopped on exit."""

    def __init__(
        self,
        env: Mapping[str, str],
        log: Path,
        *,
        args: Sequence[str] = (),
        ready_within_s: float = 120.0,
        bound_s: float = 3600.0,
    ) -> None:
        self.port = free_port(socket.SOCK_STREAM)
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._env = {**env, "CALLGATE_HOST": LOOPBACK, "CALLGATE_PORT": str(self.port)}
        self._log = log
        self._args = list(args)
        self._ready_within_s = ready_within_s
        self._bound_s = bound_s
        self._child: _Child | None = None

    def start(self) -> None:
        """Start the service and wait until /readyz says both stores answer."""
        binary = Path(sys.executable).with_name("callgate")
        command = [str(binary)] if binary.exists() else [sys.executable, "-m", "gateway.cli.main"]
        self._child = _Child(
            "callgate", [*command, "serve", *self._args], self._log, self._bound_s, self._env
        )
        deadline = time.monotonic() + self._ready_within_s
        while time.monotonic() < deadline:
            if not self._child.running():
                raise HarnessError(f"callgate serve stopped while starting; its output is in {self._log}")
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise HarnessError(f"callgate serve not ready within {self._ready_within_s:.0f} s; see {self._log}")

    def freeze(self) -> None:
        """SIGSTOP: the socket stays open but nothing answers (a hung gateway)."""
        if self._child is not None:
            self._child.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after freeze()."""
        if self._child is not None:
            self._child.signal(signal.SIGCONT)

    def stop(self) -> None:
        """Stop the service (a frozen one is thawed first so that it can exit)."""
        if self._child is not None:
            self.thaw()
            self._child.stop()

    def __enter__(self) -> CallgateProcess:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


# ---------------------------------------------------------------- the measurement (ivr/kamailio/run)


def demo_callers(subscribers: int, limit: int) -> list[Caller]:
    """Mobile numbers of the demo province `callgate serve` loads (same size, seed 2015)."""
    from gateway.batch import demo  # the service's package; only the measurement needs it

    rows, _ = demo.generate(subscribers, 2015, date.today())
    mobiles = [str(row[0]) for row in rows if row[1] == "mobile"]
    return [Caller("demo", number) for number in mobiles[:limit]]


def read_caller_file(path: Path) -> list[Caller]:
    """A caller file: one number per line, or `label;number` lines (a SEQUENTIAL line is skipped)."""
    callers = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or line.upper() in {"SEQUENTIAL", "RANDOM", "USERS"}:
            continue
        parts = [p for p in line.split(";") if p != ""]
        callers.append(Caller(parts[0], parts[1]) if len(parts) >= 2 else Caller("file", parts[0]))
    return callers


@contextlib.contextmanager
def _callgate_for(args: argparse.Namespace, workdir: Path) -> Iterator[tuple[Lookup, list[Caller]]]:
    if args.callgate_url:
        token = os.environ.get("CALLGATE_IVR_TOKEN", "")
        if not token:
            raise SystemExit("with --callgate-url, put an ivr token in CALLGATE_IVR_TOKEN")
        if args.callers is None:
            raise SystemExit("with --callgate-url, give the callers with --callers FILE")
        yield Lookup(args.callgate_url, token), read_caller_file(args.callers)
        return
    data_dir = args.data_dir.resolve()
    env = {k: v for k, v in os.environ.items() if k not in {"CALLGATE_DATABASE_URL", "CALLGATE_REDIS_URL"}}
    env["CALLGATE_DATA_DIR"] = str(data_dir)
    env["CALLGATE_WORKERS"] = str(args.callgate_workers)
    print(f"starting a demo callgate (embedded stores in {data_dir}; the first run loads the province) …")
    with CallgateProcess(
        env,
        workdir / "callgate.log",
        args=["--demo-subscribers", str(args.demo_subscribers)],
        ready_within_s=900,
    ) as callgate:
        callers = (
            read_caller_file(args.callers)
            if args.callers
            else demo_callers(args.demo_subscribers, args.distinct_callers)
        )
        yield Lookup(callgate.url, DEMO_IVR_TOKEN), callers


def _row(name: str, run: CallRun) -> str:
    return (
        f"  {name:<16}{run.setup_ms(0.5):8.2f}{run.setup_ms(0.9):8.2f}{run.setup_ms(0.99):8.2f}"
        f"{run.mean_setup_ms():8.2f}   ({len(run.setups)}/{run.placed} answered)"
    )


def _check(run: CallRun, problems: list[str], what: str) -> None:
    if run.failed or run.succeeded != run.placed or len(run.arrivals) != run.placed:
        problems.append(
            f"{what}: {run.succeeded}/{run.placed} calls completed, {run.failed} failed, "
            f"{len(run.arrivals)} reached a queue (logs in {run.workdir})"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Measure calls per second and the setup delay the lookup adds; print a report."""
    parser = argparse.ArgumentParser(
        prog="ivr/kamailio/run",
        description="Kamailio + sipp on loopback: setup delay (INVITE → 200 OK) and calls per second, "
        "with and without callgate's lookup. Without --callgate-url it starts a demo callgate itself.",
    )
    parser.add_argument("--callgate-url", help="a running callgate (token in CALLGATE_IVR_TOKEN)")
    parser.add_argument("--callers", type=Path, help="caller file: numbers, or label;number lines")
    parser.add_argument("--calls", type=int, default=600, help="calls of the setup-delay phase (600)")
    parser.add_argument("--rate", type=int, default=30, help="calls per second of that phase (30)")
    parser.add_argument("--burst-calls", type=int, default=3000, help="calls of the throughput phase (3000)")
    parser.add_argument("--burst-rate", type=int, default=1000, help="offered calls per second (1000)")
    parser.add_argument("--max-concurrent", type=int, default=200, help="calls in flight at most (200)")
    parser.add_argument("--children", type=int, default=8, help="Kamailio SIP worker processes (8)")
    parser.add_argument(
        "--callgate-workers", type=int, default=1, help="worker processes of the demo callgate (1)"
    )
    parser.add_argument("--demo-subscribers", type=int, default=20_000, help="size of the demo province")
    parser.add_argument("--distinct-callers", type=int, default=2000, help="demo numbers to call from")
    parser.add_argument(
        "--data-dir", type=Path, default=REPO / "var" / "kamailio-demo", help="the demo callgate's stores"
    )
    parser.add_argument("--workdir", type=Path, help="where logs go (default: a new directory under /tmp)")
    args = parser.parse_args(argv)
    try:
        find_tools()
    except SipToolsMissing as exc:
        print(f"ivr/kamailio/run: {exc}", file=sys.stderr)
        return 2
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="callgate-kamailio-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"logs (they hold caller numbers; keep them out of commits): {workdir}")
    problems: list[str] = []
    with _callgate_for(args, workdir) as (lookup, callers):
        if not callers:
            raise SystemExit("no callers to call from")

        def batch(name: str, mode_lookup: Lookup | None, calls: int, rate: int) -> CallRun:
            # Bounded by the offered rate, with room for a slow rig (at least 100 calls/s assumed).
            bound_s = 60.0 + 3.0 * calls / max(1, min(rate, 100))
            return place_calls(
                callers, workdir / name, lookup=mode_lookup, calls=calls, rate=rate,
                max_concurrent=args.max_concurrent, children=args.children, bound_s=bound_s,
            )  # fmt: skip

        batch("warm-up", lookup, 50, 50)  # first connections and cache reads are not measured
        runs: dict[tuple[str, str], CallRun] = {}
        for mode, mode_lookup in (("without", None), ("with", lookup)):
            runs[(mode, "delay")] = batch(f"{mode}-lookup-delay", mode_lookup, args.calls, args.rate)
            runs[(mode, "burst")] = batch(
                f"{mode}-lookup-burst", mode_lookup, args.burst_calls, args.burst_rate
            )
    without, with_ = runs[("without", "delay")], runs[("with", "delay")]
    print()
    print(f"setup delay, INVITE → 200 OK, ms ({args.calls} calls at {args.rate} calls/s, "
          f"{args.children} Kamailio workers):")  # fmt: skip
    print(f"  {'':<16}{'p50':>8}{'p90':>8}{'p99':>8}{'mean':>8}")
    print(_row("without lookup", without))
    print(_row("with lookup", with_))
    added = [with_.setup_ms(q) - without.setup_ms(q) for q in (0.5, 0.9, 0.99)]
    added.append(with_.mean_setup_ms() - without.mean_setup_ms())
    print(f"  {'added':<16}" + "".join(f"{value:+8.2f}" for value in added))
    print()
    print(f"calls per second ({args.burst_calls} calls offered at {args.burst_rate}/s, "
          f"at most {args.max_concurrent} in flight):")  # fmt: skip
    for mode in ("without", "with"):
        run = runs[(mode, "burst")]
        print(
            f"  {mode + ' lookup':<16}{run.calls_per_second():8.0f} calls/s   "
            f"({run.succeeded} completed, {run.failed} failed; setup p50 {run.setup_ms(0.5):.1f} ms, "
            f"p99 {run.setup_ms(0.99):.1f} ms)"
        )
    routed = Counter(a.queue for a in with_.arrivals)
    errors = Counter(a.header("Error") for a in with_.arrivals if a.header("Error"))
    degraded = sum(1 for a in with_.arrivals if a.header("Degraded") == "true")
    print()
    print(
        f"with lookup, where the calls went: vip {routed['vip']}, general {routed['general']}; "
        f"degraded {degraded}; lookup errors {dict(errors) or 'none'}"
    )
    for (mode, phase), run in runs.items():
        _check(run, problems, f"{mode} lookup, {phase}")
    for problem in problems:
        print(f"PROBLEM: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
