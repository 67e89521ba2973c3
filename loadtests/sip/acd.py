"""The ACD rig (issue 18): Kamailio holding real calls, one sipp per agent, patient sipp callers,
and the agent driver between Kamailio and callgate.

``AcdRig`` starts the programs (each under `timeout`, in its own process group) against a
callgate that is already running, places the planned calls and reads what happened from the
logs: the callers' (INVITE, answered, abandoned), the agents' (which call reached whom) and the
driver's journal (callgate's choices, its answers, latencies). Nothing here logs a number.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from loadtests.sip.harness import (
    KAMAILIO,
    LOOPBACK,
    HarnessError,
    _Child,
    _parse_fields,
    _wait_bound,
    _wait_sip_answer,
    find_tools,
    free_port,
)

ACD_CONFIG = KAMAILIO / "acd.cfg"
AGENT_SCENARIO = KAMAILIO / "sipp" / "agent.xml"
PATIENT_CALLER_SCENARIO = KAMAILIO / "sipp" / "patient_caller.xml"
_MEAN = re.compile(r'mean="\d+"')


@dataclass(frozen=True, slots=True)
class PlannedCall:
    """One caller: a label (may be logged), a number (may not), when it dials and how long it
    waits ringing before it hangs up (seconds after the start of the run)."""

    label: str
    number: str
    arrival_s: float
    patience_s: float


@dataclass(frozen=True, slots=True)
class CallerView:
    """One call as its caller saw it (times in seconds since the epoch)."""

    label: str
    call_id: str
    invite: float
    answered: float | None = None
    abandoned: float | None = None

    @property
    def wait_s(self) -> float | None:
        """INVITE to answer or to hanging up."""
        end = self.answered if self.answered is not None else self.abandoned
        return end - self.invite if end is not None else None


@dataclass(slots=True)
class AcdRun:
    """What the logs say: per call the caller's view, which agent got it, the driver's journal."""

    workdir: Path
    calls: dict[str, CallerView]
    agent_of: dict[str, str]  # call id → the agent whose sipp got the INVITE
    journal: list[dict[str, Any]]
    summary: dict[str, Any]
    unfinished: int = 0
    talks: list[float] = field(default_factory=list)  # seconds of each finished call at its agent

    def chosen(self) -> dict[str, str]:
        """call id → the agent callgate's `next` chose (the driver's record of its answers)."""
        return {
            e["call_id"]: e["agent"]
            for e in self.journal
            if e["kind"] == "deliver" and e["via"] == "callgate"
        }

    def via(self) -> dict[str, str]:
        """call id → who chose its agent: callgate or the driver's fallback."""
        return {e["call_id"]: e["via"] for e in self.journal if e["kind"] == "deliver"}


def poisson_plan(
    calls_per_hour: float,
    duration_s: float,
    mean_patience_s: float,
    numbers: Sequence[tuple[str, str]],
    *,
    seed: int,
) -> list[PlannedCall]:
    """Poisson arrivals over ``duration_s`` with exponential patience, cycling through the
    (label, number) callers."""
    rng = random.Random(f"acd:{seed}")
    rate = calls_per_hour / 3600.0
    plan: list[PlannedCall] = []
    t = rng.expovariate(rate)
    while t < duration_s:
        label, number = numbers[len(plan) % len(numbers)]
        plan.append(PlannedCall(label, number, t, rng.expovariate(1.0 / mean_patience_s)))
        t += rng.expovariate(rate)
    return plan


def write_plan(plan: Sequence[PlannedCall], path: Path) -> None:
    """The caller's `-inf` file: SEQUENTIAL, then `label;number;arrival ms;patience ms;`."""
    lines = ["SEQUENTIAL"]
    for call in plan:
        if not re.fullmatch(r"[A-Za-z0-9_.+-]+", call.label) or any(c in call.number for c in ";\r\n"):
            raise ValueError(f"caller {call.label!r}: labels are [A-Za-z0-9_.+-]+, numbers have no ';'")
        lines.append(
            f"{call.label};{call.number};{round(call.arrival_s * 1000)};{round(call.patience_s * 1000)};"
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _when(fields: dict[str, str], seconds: str = "s", micros: str = "us") -> float:
    return float(fields[seconds]) + float(fields[micros]) / 1e6


def read_callers(path: Path) -> dict[str, CallerView]:
    """Each call the caller logged (patient_caller.xml's <log> lines), by Call-ID."""
    views: dict[str, dict[str, Any]] = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            what, _, rest = line.partition(" ")
            if what not in ("invite", "answered", "abandoned"):
                continue
            f = _parse_fields(rest)
            view = views.setdefault(f["call_id"], {"label": f.get("label", ""), "call_id": f["call_id"]})
            view.setdefault(what, _when(f))  # the first: a 200 OK acknowledged again logs again
    return {cid: CallerView(**v) for cid, v in views.items() if "invite" in v}


def read_agents(paths: Sequence[Path]) -> tuple[dict[str, str], list[float]]:
    """call id → agent, from every agent's log (agent.xml's `call` lines), and the talk of each
    finished call in seconds (its INVITE to the 200 OK of the agent's BYE)."""
    found: dict[str, str] = {}
    talks: list[float] = []
    for path in paths:
        if not path.exists():
            continue
        started: dict[str, float] = {}
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            f = _parse_fields(line)
            if line.startswith("call "):
                found[f["call_id"]] = f["agent"]
                started[f["call_id"]] = _when(f, "invite_s", "invite_us")
            elif line.startswith("done ") and f.get("call_id") in started:
                talks.append(_when(f, "bye_s", "bye_us") - started[f["call_id"]])
    return found, talks


@dataclass
class AcdRig:
    """Kamailio (acd.cfg), the agents, the driver and the callers around a running callgate."""

    workdir: Path
    callgate_url: str
    token: str
    agents: Sequence[str]
    aht_s: float
    bound_s: float = 300.0
    budget_ms: float = 300.0
    holdoff_s: float = 2.0
    children: int = 4
    seed: int = 1
    started: list[_Child] = field(default_factory=list)
    _caller: _Child | None = None

    def __enter__(self) -> AcdRig:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Agents, Kamailio, then the driver (connected before this returns)."""
        tools = find_tools()
        self.workdir.mkdir(parents=True, exist_ok=True)
        rundir = self.workdir / "kamailio-run"
        rundir.mkdir(exist_ok=True)
        scenario = self.workdir / "agent.xml"  # the shipped agent with this run's mean handling time
        scenario.write_text(
            _MEAN.sub(
                f'mean="{max(1, round(self.aht_s * 1000))}"', AGENT_SCENARIO.read_text(encoding="utf-8")
            ),
            encoding="utf-8",
        )
        ports: list[int] = []
        for _ in range(len(self.agents) + 2):
            ports.append(free_port(avoid=ports))
        self.sip_port, self.caller_port, agent_ports = ports[0], ports[1], ports[2:]
        self.evapi_port = free_port(socket.SOCK_STREAM)
        self.seats = [(a, f"sip:{a}@{LOOPBACK}:{p}") for a, p in zip(self.agents, agent_ports, strict=True)]
        try:
            agents = []
            for number, (agent, port) in enumerate(zip(self.agents, agent_ports, strict=True), start=1):
                child = _Child(
                    f"sipp agent {agent}",
                    [
                        tools.sipp, "-sf", str(scenario), "-i", LOOPBACK, "-p", str(port),
                        "-key", "agent", agent, "-nostdin",
                        "-trace_logs", "-log_file", str(self.workdir / f"agent-{agent}.log"),
                        "-trace_err", "-error_file", str(self.workdir / f"agent-{agent}-errors.log"),
                        "-timeout", f"{math.ceil(self.bound_s)}s",
                    ],
                    self.workdir / f"agent-{agent}.out",
                    self.bound_s,
                    # sipp draws its pauses from GSL, seeded by GSL_RNG_SEED (else every agent
                    # would talk the very same sequence of handling times).
                    {**os.environ, "GSL_RNG_SEED": str(self.seed * 1000 + number)},
                )  # fmt: skip
                self.started.append(child)
                agents.append((child, port))
            kamailio = _Child(
                "kamailio",
                [
                    tools.kamailio, "-f", str(ACD_CONFIG), "-DD", "-E",
                    "-Y", str(rundir), "-P", str(rundir / "kamailio.pid"), "-w", str(rundir),
                    "-l", f"udp:{LOOPBACK}:{self.sip_port}", "-n", str(self.children),
                    "-m", "256", "-M", "16",
                    "-A", f'EVAPI_ADDR="{LOOPBACK}:{self.evapi_port}"',
                ],
                self.workdir / "kamailio.log",
                self.bound_s,
            )  # fmt: skip
            self.started.append(kamailio)
            for child, port in agents:
                _wait_bound(child, port, 15)
            _wait_sip_answer(kamailio, self.sip_port, 15)
            env = {**os.environ, "CALLGATE_IVR_TOKEN": self.token}
            self.driver = _Child(
                "agent driver",
                [
                    sys.executable, "-m", "loadtests.sip.acd_driver",
                    "--callgate-url", self.callgate_url,
                    "--evapi", f"{LOOPBACK}:{self.evapi_port}",
                    "--agents", ",".join(f"{a}={uri}" for a, uri in self.seats),
                    "--journal", str(self.workdir / "journal.jsonl"),
                    "--summary", str(self.workdir / "driver-summary.json"),
                    "--budget-ms", str(self.budget_ms), "--holdoff-s", str(self.holdoff_s),
                ],
                self.workdir / "driver.log",
                self.bound_s,
                env,
            )  # fmt: skip
            self.started.append(self.driver)
            self._wait_connected(15)
        except BaseException:
            self.stop()
            raise

    def _wait_connected(self, within_s: float) -> None:
        journal = self.workdir / "journal.jsonl"
        deadline = time.monotonic() + within_s
        while time.monotonic() < deadline:
            if not self.driver.running():
                raise HarnessError(f"the agent driver stopped while starting:\n{self.driver.tail()}")
            if journal.exists() and '"connected"' in journal.read_text(encoding="utf-8"):
                return
            time.sleep(0.05)
        raise HarnessError(f"the agent driver did not connect to Kamailio within {within_s:.0f} s")

    def call(self, plan: Sequence[PlannedCall]) -> None:
        """Start the callers (every call of the plan at its arrival time); returns at once."""
        tools = find_tools()
        csv = self.workdir / "calls.csv"
        write_plan(plan, csv)
        bound = self.bound_s - 5
        self._caller = _Child(
            "sipp callers",
            [
                tools.sipp, f"{LOOPBACK}:{self.sip_port}", "-sf", str(PATIENT_CALLER_SCENARIO),
                "-inf", str(csv), "-i", LOOPBACK, "-p", str(self.caller_port),
                "-m", str(len(plan)), "-r", "1000", "-l", str(len(plan) + 1),
                "-recv_timeout", str(math.ceil(bound * 1000)), "-nostdin",
                "-trace_logs", "-log_file", str(self.workdir / "callers.log"),
                "-trace_stat", "-stf", str(self.workdir / "callers-stats.csv"), "-fd", "1",
                "-trace_err", "-error_file", str(self.workdir / "callers-errors.log"),
                "-timeout", f"{math.ceil(bound)}s", "-timeout_error",
            ],
            self.workdir / "callers.out",
            bound,
        )  # fmt: skip
        self.started.append(self._caller)

    def wait(self, within_s: float) -> bool:
        """Wait for the callers to finish every call; False when they had to be stopped."""
        assert self._caller is not None
        try:
            self._caller.wait(within_s)
            return True
        except subprocess.TimeoutExpired:
            self._caller.stop()
            return False

    def stop(self) -> None:
        """Stop every program (the driver first, so that it writes its summary)."""
        for child in [c for c in self.started if c is getattr(self, "driver", None)] + list(
            reversed(self.started)
        ):
            child.stop()

    def result(self) -> AcdRun:
        """Read the logs (after wait() and stop())."""
        calls = read_callers(self.workdir / "callers.log")
        journal_path = self.workdir / "journal.jsonl"
        journal = [
            json.loads(line) for line in journal_path.read_text(encoding="utf-8").splitlines() if line.strip()
        ]
        summary_path = self.workdir / "driver-summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
        agent_of, talks = read_agents([self.workdir / f"agent-{a}.log" for a in self.agents])
        unfinished = sum(1 for v in calls.values() if v.answered is None and v.abandoned is None)
        return AcdRun(self.workdir, calls, agent_of, journal, summary, unfinished, talks)
