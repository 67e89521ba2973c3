"""The ACD's agent driver (issue 18): between Kamailio's held calls and callgate's queue engine.

Kamailio (``ivr/kamailio/acd.cfg``) holds every arriving call as a suspended transaction and
reports it over evapi (netstrings of JSON on a TCP connection this driver opens). The driver

- enqueues each call in callgate (``POST /v1/queue/calls``, the ACD's arrival time);
- for each free agent, while calls wait, asks callgate which call it takes
  (``POST /v1/agents/{id}/next``) and tells Kamailio to continue that call's transaction
  towards the agent's SIP endpoint;
- reports the agent's 200 OK as ``answered``, the caller's CANCEL while waiting as
  ``abandoned`` and the BYE as ``completed``, at Kamailio's times; after a completed call the
  agent is available again at once (no wrap-up in this rig) and asks for its next call.

Fail-open (the call still reaches an agent): every callgate request has its own budget
(``budget_s``). A request that fails — no answer in the budget, refused, 5xx — puts callgate
on hold for ``holdoff_s``: meanwhile the driver is the queue, the oldest waiting call goes to
the first free agent (in agent order; the general desk's rule without callgate), and outcomes
are not reported (counted as ``lost_events``). Calls callgate never queued (their enqueue
failed) are served first-come first-served by the driver even after callgate is back.

Every decision goes to a journal (JSON lines): ``enqueue``, ``next`` (callgate's choice),
``deliver`` (``via`` callgate or fallback), ``event`` (callgate's answer), with latencies;
``summary()`` condenses it. Numbers never reach the journal or the log: the caller's number
travels from Kamailio to callgate only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import aiohttp

#: While calls wait, free agents ask callgate again this often (no SIP event may come).
REDISPATCH_S = 1.0
#: A netstring longer than this is not Kamailio's (its events are a few hundred bytes).
MAX_NETSTRING = 65_536


def sip_time(text: str) -> float:
    """Kamailio's ``$TV(Sn)`` ("sec.usec") as seconds since the epoch."""
    seconds, _, micros = text.partition(".")
    return int(seconds) + int(micros or 0) / 1_000_000


def iso(at: float) -> str:
    """Seconds since the epoch as an ISO 8601 instant with milliseconds (callgate's `at`)."""
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")


def netstring(payload: bytes) -> bytes:
    """One netstring (``len:payload,``), evapi's framing."""
    return str(len(payload)).encode() + b":" + payload + b","


async def read_netstring(reader: asyncio.StreamReader) -> bytes:
    """The next netstring's payload; IncompleteReadError at the end of the stream."""
    head = await reader.readuntil(b":")
    size = int(head[:-1])
    if not 0 <= size <= MAX_NETSTRING:
        raise ValueError(f"netstring of {size} bytes")
    data = await reader.readexactly(size + 1)
    if data[-1:] != b",":
        raise ValueError("netstring without its comma")
    return data[:-1]


@dataclass(slots=True)
class Seat:
    """One agent: callgate's agent id and the SIP URI its sipp listens on."""

    id: str
    uri: str
    call: str | None = None
    asking: bool = False
    declined: bool = False  # callgate had no call for it since the last arrival or nudge


@dataclass(slots=True)
class Waiting:
    """A held call: when it arrived, and whether callgate has it (None while enqueueing)."""

    ani: str
    arrived: float
    queued: bool | None = None


@dataclass(slots=True)
class Latencies:
    """Round trips to callgate that were answered, in milliseconds, per operation."""

    by_op: dict[str, list[float]] = field(default_factory=dict)

    def add(self, op: str, ms: float) -> None:
        """Record one answered request."""
        self.by_op.setdefault(op, []).append(ms)


class CallgateDown(Exception):
    """callgate did not answer usably within the budget (or is on hold after that)."""


class Driver:
    """The agent driver of one Kamailio; ``run()`` until ``stop()``."""

    def __init__(
        self,
        *,
        callgate_url: str,
        token: str,
        seats: Sequence[Seat],
        evapi: tuple[str, int],
        journal: TextIO,
        budget_s: float = 0.3,
        holdoff_s: float = 2.0,
    ) -> None:
        self.url = callgate_url.rstrip("/")
        self.headers = {"Authorization": f"Bearer {token}"}
        self.seats = list(seats)
        self.by_id = {s.id: s for s in self.seats}
        self.on_call: dict[str, Seat] = {}
        self.waiting: OrderedDict[str, Waiting] = OrderedDict()
        self.evapi = evapi
        self.journal = journal
        self.budget = aiohttp.ClientTimeout(total=budget_s)
        self.holdoff_s = holdoff_s
        self.down_until = 0.0
        self.latencies = Latencies()
        self.counts: dict[str, int] = {}
        self.stale: set[str] = set()  # agents whose state callgate may not know (after an outage)
        self.answered: set[str] = set()  # calls on an agent whose answer was reported
        self._writer: asyncio.StreamWriter | None = None
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()

    # ------------------------------------------------------------------ bookkeeping

    def _count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    def _note(self, kind: str, **fields: Any) -> None:
        stamp = {"kind": kind, "mono": round(time.monotonic(), 6), "t": round(time.time(), 6)}
        self.journal.write(json.dumps({**stamp, **fields}) + "\n")

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def summary(self) -> dict[str, Any]:
        """Counts and callgate's latencies (ms) per operation."""
        return {"counts": dict(self.counts), "latency_ms": self.latencies.by_op}

    # ------------------------------------------------------------------ callgate

    def callgate_up(self) -> bool:
        """Whether callgate may be asked (not on hold after a failure)."""
        return time.monotonic() >= self.down_until

    async def _call(self, op: str, method: str, path: str, body: dict[str, Any] | None) -> tuple[int, Any]:
        """One request within the budget: (status, JSON or None). Timeouts, refusals and 5xx
        put callgate on hold and raise CallgateDown; 4xx are answers."""
        if not self.callgate_up():
            raise CallgateDown("on hold")
        assert self._session is not None
        started = time.perf_counter()
        try:
            async with self._session.request(
                method, self.url + path, json=body, headers=self.headers, timeout=self.budget
            ) as response:
                data = await response.json(content_type=None) if response.status != 204 else None
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as exc:
            self.down_until = time.monotonic() + self.holdoff_s
            self.stale.update(self.by_id)
            self._count(f"callgate_failed_{op}")
            self._note("callgate_failed", op=op, error=type(exc).__name__)
            raise CallgateDown(type(exc).__name__) from None
        if status >= 500:
            self.down_until = time.monotonic() + self.holdoff_s
            self.stale.update(self.by_id)
            self._count(f"callgate_failed_{op}")
            self._note("callgate_failed", op=op, error=f"http_{status}")
            raise CallgateDown(f"http_{status}")
        self.latencies.add(op, (time.perf_counter() - started) * 1000)
        return status, data

    async def _enqueue(self, call_id: str) -> None:
        held = self.waiting.get(call_id)
        if held is None:
            return
        try:
            status, data = await self._call(
                "enqueue",
                "POST",
                "/v1/queue/calls",
                {"call_id": call_id, "ani": held.ani, "enqueued_at": iso(held.arrived)},
            )
            held.queued = status == 201
            answer = data or {}
            self._note(
                "enqueue",
                call_id=call_id,
                status=status,
                desk=answer.get("desk"),
                priority=answer.get("priority"),
            )
        except CallgateDown:
            held.queued = False
            self._note("enqueue", call_id=call_id, status=None)
        self._dispatch()

    async def _report(self, call_id: str, kind: str, at: float) -> None:
        try:
            status, data = await self._call(
                "event", "POST", f"/v1/queue/calls/{call_id}/events", {"kind": kind, "at": iso(at)}
            )
        except CallgateDown:
            self._count("lost_events")
            self._note("event_lost", call_id=call_id, event=kind)
            return
        self._note(
            "event",
            call_id=call_id,
            event=kind,
            status=status,
            agent=(data or {}).get("agent_id"),
            waited_s=(data or {}).get("waited_s"),
        )

    async def _ready(self, seat: Seat) -> None:
        """Tell callgate the agent is available (only when it may think otherwise)."""
        if seat.id not in self.stale:
            return
        status, _ = await self._call(
            "state", "PUT", f"/v1/agents/{seat.id}/state", {"state": "available", "at": iso(time.time())}
        )
        if status == 200:
            self.stale.discard(seat.id)

    # ------------------------------------------------------------------ choosing

    def _dispatch(self) -> None:
        """Ask for a call for each free agent, in agent order, while calls wait."""
        ready = sum(1 for w in self.waiting.values() if w.queued is not None)
        asking = sum(1 for s in self.seats if s.asking)
        for seat in self.seats:
            if asking >= ready:
                return
            if seat.call is None and not seat.asking and not seat.declined:
                seat.asking = True
                asking += 1
                self._spawn(self._serve(seat))

    def _oldest(self, unqueued_only: bool) -> str | None:
        for call_id, held in self.waiting.items():
            if held.queued is None:
                continue
            if not unqueued_only or held.queued is False:
                return call_id
        return None

    async def _serve(self, seat: Seat) -> None:
        call_id: str | None = None
        try:
            call_id, via = await self._choose(seat)
            if call_id is not None:
                self.waiting.pop(call_id, None)
                seat.call = call_id
                self.on_call[call_id] = seat
                self._note("deliver", call_id=call_id, agent=seat.id, via=via)
                self._send({"cmd": "deliver", "call_id": call_id, "uri": seat.uri})
        finally:
            seat.asking = False
        self._dispatch()

    async def _choose(self, seat: Seat) -> tuple[str | None, str]:
        """The call this agent takes: the ACD's own first (calls callgate never queued), then
        callgate's choice, and the oldest waiting call while callgate is on hold."""
        own = self._oldest(unqueued_only=True)
        if own is not None:
            return own, "fallback"
        if self.callgate_up():
            try:
                for _ in range(4):
                    await self._ready(seat)
                    status, data = await self._call(
                        "next", "POST", f"/v1/agents/{seat.id}/next", {"at": iso(time.time())}
                    )
                    if status != 200 or not isinstance(data, dict):
                        # Nothing this agent may take (A3: a star it lacks): the next free
                        # agent is asked instead, this one again after a change.
                        seat.declined = True
                        self._note("next", agent=seat.id, status=status, call_id=None)
                        return None, "callgate"
                    call_id = str(data["call_id"])
                    self._note("next", agent=seat.id, status=status, call_id=call_id, desk=data.get("desk"))
                    if call_id in self.waiting:
                        return call_id, "callgate"
                    # A call that left meanwhile (abandoned, or served during an outage): the
                    # agent is busy with it in callgate; free it and choose again.
                    self.stale.add(seat.id)
                return None, "callgate"
            except CallgateDown:
                pass
        return self._oldest(unqueued_only=False), "fallback"

    # ------------------------------------------------------------------ Kamailio

    def _send(self, command: dict[str, Any]) -> None:
        if self._writer is None:
            return
        self._writer.write(netstring(json.dumps(command).encode()))

    def handle(self, event: dict[str, Any]) -> None:
        """One event from Kamailio."""
        kind = str(event.get("event"))
        call_id = str(event.get("call_id"))
        at = sip_time(str(event.get("t", "0")))
        self._count(f"sip_{kind}")
        if kind == "arrived":
            self._undecline()
            self.waiting[call_id] = Waiting(str(event.get("ani", "")), at)
            self._spawn(self._enqueue(call_id))
        elif kind == "abandoned":
            self.waiting.pop(call_id, None)
            self._note("abandoned", call_id=call_id)
            self._spawn(self._report(call_id, "abandoned", at))
        elif kind == "answered":
            seat = self.on_call.get(call_id)
            if seat is not None and call_id not in self.answered:  # the 200 OK comes again on a lost ACK
                self.answered.add(call_id)
                self._note("answered", call_id=call_id, agent=seat.id)
                self._spawn(self._report(call_id, "answered", at))
        elif kind == "completed":
            seat = self.on_call.pop(call_id, None)
            self.answered.discard(call_id)
            if seat is not None:
                self._spawn(self._finish(seat, call_id, at))
        elif kind in ("gone", "failed"):
            seat = self.on_call.pop(call_id, None)
            self._note(kind, call_id=call_id, agent=seat.id if seat else None)
            if seat is not None:
                seat.call = None
                self.stale.add(seat.id)
                self._dispatch()

    async def _nudge(self) -> None:
        """Ask again every REDISPATCH_S while calls wait: a call no free agent could take (a star
        it needs, A3) becomes theirs as it waits, without any SIP event to say so."""
        while True:
            await asyncio.sleep(REDISPATCH_S)
            self._undecline()
            self._dispatch()

    def _undecline(self) -> None:
        for seat in self.seats:
            seat.declined = False

    async def _finish(self, seat: Seat, call_id: str, at: float) -> None:
        await self._report(call_id, "completed", at)
        seat.call = None
        self.stale.add(seat.id)  # callgate put the agent in wrap-up; this rig has none
        self._dispatch()

    async def _connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        host, port = self.evapi
        for _ in range(200):
            with contextlib.suppress(OSError):
                return await asyncio.open_connection(host, port)
            await asyncio.sleep(0.05)
        raise ConnectionError(f"Kamailio's evapi does not accept connections on {host}:{port}")

    async def run(self) -> None:
        """Connect to Kamailio and callgate; serve until stop() or Kamailio closes."""
        connector = aiohttp.TCPConnector(limit=32, keepalive_timeout=30)
        async with aiohttp.ClientSession(connector=connector) as session:
            self._session = session
            reader, self._writer = await self._connect()
            self.stale.update(self.by_id)
            self._note("connected", agents=[s.id for s in self.seats])
            stop = asyncio.ensure_future(self._stopping.wait())
            self._spawn(self._nudge())
            try:
                while True:
                    read = asyncio.ensure_future(read_netstring(reader))
                    await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if stop.done():
                        read.cancel()
                        break
                    try:
                        payload = read.result()
                    except asyncio.IncompleteReadError:
                        break
                    self.handle(json.loads(payload))
            finally:
                stop.cancel()
                for task in list(self._tasks):
                    task.cancel()
                await asyncio.gather(*self._tasks, return_exceptions=True)
                self._writer.close()
                self.journal.flush()

    def stop(self) -> None:
        """End run() (from a signal handler or another task)."""
        self._stopping.set()


def parse_seats(text: str) -> list[Seat]:
    """``A0001=sip:A0001@127.0.0.1:5071,…`` as seats, in that order."""
    seats = []
    for part in text.split(","):
        agent, _, uri = part.partition("=")
        if not agent or not uri.startswith("sip:"):
            raise argparse.ArgumentTypeError(f"{part!r}: write AGENT_ID=sip:…")
        seats.append(Seat(agent.strip(), uri.strip()))
    return seats


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m loadtests.sip.acd_driver``: the driver as a process (token in CALLGATE_IVR_TOKEN)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--callgate-url", required=True)
    parser.add_argument("--evapi", required=True, help="HOST:PORT of Kamailio's evapi")
    parser.add_argument("--agents", required=True, type=parse_seats, help="AGENT_ID=sip:URI,… in order")
    parser.add_argument("--journal", required=True, type=Path)
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--budget-ms", type=float, default=300.0)
    parser.add_argument("--holdoff-s", type=float, default=2.0)
    args = parser.parse_args(argv)
    host, _, port = str(args.evapi).rpartition(":")

    async def go() -> dict[str, Any]:
        with args.journal.open("w", encoding="utf-8", buffering=1) as journal:
            driver = Driver(
                callgate_url=args.callgate_url,
                token=os.environ["CALLGATE_IVR_TOKEN"],
                seats=args.agents,
                evapi=(host, int(port)),
                journal=journal,
                budget_s=args.budget_ms / 1000,
                holdoff_s=args.holdoff_s,
            )
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, driver.stop)
            await driver.run()
            return driver.summary()

    summary = asyncio.run(go())
    args.summary.write_text(json.dumps(summary), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
