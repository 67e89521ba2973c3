"""Locust scenarios for callgate: the IVR's calls, the ACD's connects, agents and branches.

* ``IvrCaller`` — one lookup per call (``GET /v1/ivr/lookup``, role ivr) with the caller mix
  of ``loadtests/prepare.py`` (every tier and state, unknown, withheld and invalid numbers,
  ``+86`` / ``0086`` prefixes), arriving as a Poisson process at ``--lookup-rate`` per second
  in total; then, for ``--connected-share`` of the answered calls, the ACD step
  ``POST /v1/calls/{call_id}/connected {"agent_id"}`` (the agent widget's screen pop). A 404
  from a build without that endpoint is tolerated and counted, not a failure.
* ``AgentDesk`` — the agent's view (``GET /v1/subscribers/{msisdn}``), emergency reactivation
  attempts (``POST /v1/reactivations`` with an Idempotency-Key, sometimes replayed) and the
  charging side's credit authorisations (``POST /v1/credit/authorize``, role ivr).
* ``BranchDesk`` — a city branch's work-order queue (``GET /v1/work-orders``).

Every request is named by its route template, never by its URL, so no phone number reaches
locust's statistics, CSV or HTML report. Each request's exact latency (float ms) and, for
lookups, the answer's queue and priority are kept and written at the end to
``--samples-dir`` (one CSV per process); ``loadtests/report.py`` reads them.

Run by ``loadtests/run``; by hand (after ``loadtests/prepare.py``)::

    .venv/bin/locust -f loadtests/locustfile.py --headless -u 23 -r 23 -t 60s \\
        --host http://127.0.0.1:8080 --lookup-rate 1000 --ivr-users 20 --agent-users 2 --branch-users 1
"""

from __future__ import annotations

import bisect
import csv
import functools
import itertools
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

import orjson
from geventhttpclient import HTTPClient
from geventhttpclient.url import URL
from locust import FastHttpUser, User, between, events, task
from locust.argument_parser import LocustArgumentParser
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `locust -f loadtests/locustfile.py` puts only loadtests/ on the path

from loadtests.contract import check_lookup, problem_code  # noqa: E402 - after the path line above

LOOKUP = "/v1/ivr/lookup"
CONNECTED = "/v1/calls/{call_id}/connected"
PROFILE = "/v1/subscribers/{msisdn}"
REACTIVATIONS = "/v1/reactivations"
CREDIT = "/v1/credit/authorize"
WORK_ORDERS = "/v1/work-orders"
SAMPLE_FIELDS = [
    "t", "name", "ms", "status", "ok", "error",
    "group", "queue", "priority", "degraded", "source", "tolerated",
]  # fmt: skip
REFUSALS = {
    "not_entitled", "not_suspended", "monthly_limit", "arrears_too_long", "previous_unpaid",
    "identity_not_verified", "cancelled", "unknown_subscriber",
}  # fmt: skip


class Options:
    """The scenario's settings, filled from the command line at init."""

    prepared: ClassVar[dict[str, Any]] = {}
    lookup_rate = 10.0
    ivr_users = 1
    connected_share = 0.6
    samples_dir = ROOT / "artifacts" / "loadtest" / "samples"
    seed = 1


_samples: list[tuple[Any, ...]] = []
_ids = itertools.count(1)


def _arguments(parser: LocustArgumentParser) -> None:
    group = parser.add_argument_group("callgate")
    group.add_argument(
        "--prepared", default=str(ROOT / "var" / "loadtest" / "prepared.json"),
        help="test data and tokens written by loadtests/prepare.py",
    )  # fmt: skip
    group.add_argument("--lookup-rate", type=float, default=10.0, help="IVR lookups per second, in total")
    group.add_argument("--ivr-users", type=int, default=1, help="IVR users sharing that rate")
    group.add_argument("--agent-users", type=int, default=0, help="agent desks")
    group.add_argument("--branch-users", type=int, default=0, help="branch desks")
    group.add_argument("--connected-share", type=float, default=0.6, help="share of calls the ACD connects")
    group.add_argument("--samples-dir", default=str(Options.samples_dir), help="where per-request CSVs go")
    group.add_argument("--seed", type=int, default=1, help="random seed of the caller mix")


def _init(environment: Environment, **_kw: Any) -> None:
    opts = environment.parsed_options
    if opts is None:
        return
    Options.prepared = json.loads(Path(opts.prepared).read_text(encoding="utf-8"))
    Options.lookup_rate = opts.lookup_rate
    Options.ivr_users = max(1, opts.ivr_users)
    Options.connected_share = opts.connected_share
    Options.samples_dir = Path(opts.samples_dir)
    Options.seed = opts.seed
    # Every desk class has a fixed count so the IVR users carry exactly the configured rate.
    IvrCaller.fixed_count = opts.ivr_users
    AgentDesk.fixed_count = opts.agent_users
    BranchDesk.fixed_count = opts.branch_users


def _record(
    request_type: str,
    name: str,
    response_time: float,
    response_length: int,
    response: Any,
    context: dict[str, Any],
    exception: BaseException | None,
    start_time: float,
    **_kw: Any,
) -> None:
    status = getattr(response, "status_code", 0) or context.get("status", 0) or 0
    error = "" if exception is None else _error_text(exception)
    _samples.append(
        (
            round(start_time, 4), name, round(response_time, 3), status, int(exception is None), error,
            context.get("group", ""), context.get("queue", ""), context.get("priority", ""),
            context.get("degraded", ""), context.get("source", ""), int(bool(context.get("tolerated"))),
        )
    )  # fmt: skip


def _error_text(exception: BaseException) -> str:
    """Our own failure messages carry no number; anything else is reduced to its type."""
    text = str(exception)
    if isinstance(exception, Failed) or type(exception).__name__ == "CatchResponseError":
        return text[:200]
    return type(exception).__name__


def _write_samples(**_kw: Any) -> None:
    if not _samples:
        return
    Options.samples_dir.mkdir(parents=True, exist_ok=True)
    path = Options.samples_dir / f"samples-{os.getpid()}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(SAMPLE_FIELDS)
        writer.writerows(_samples)
    _samples.clear()


# Locust's event hooks are unannotated; registering the typed listeners by call keeps them typed.
events.init_command_line_parser.add_listener(_arguments)  # type: ignore[no-untyped-call]  # see above
events.init.add_listener(_init)  # type: ignore[no-untyped-call]  # see above
events.request.add_listener(_record)  # type: ignore[no-untyped-call]  # see above
events.test_stop.add_listener(_write_samples)  # type: ignore[no-untyped-call]  # see above


@dataclass(frozen=True, slots=True)
class CallerGroup:
    """One group of the caller mix, its numbers already URL-encoded as ``ani=…``."""

    name: str
    expect: dict[str, Any]
    numbers: list[tuple[str, str | None]]  # (encoded query part, level the lookup must answer)


@functools.cache
def _caller_table() -> tuple[list[CallerGroup], list[float]]:
    """The prepared caller groups and their cumulative weights (built once per process)."""
    groups = [
        CallerGroup(g["name"], g["expect"], [(urlencode({"ani": ani}), level) for ani, level in g["numbers"]])
        for g in Options.prepared["callers"].values()
    ]
    return groups, list(itertools.accumulate(g["weight"] for g in Options.prepared["callers"].values()))


def _json(response: ResponseContextManager) -> dict[str, Any] | None:
    try:
        body = orjson.loads(response.content or b"")
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _ok(response: ResponseContextManager) -> None:
    response.success()  # type: ignore[no-untyped-call]  # locust leaves success() unannotated


def _fail(response: ResponseContextManager, why: str) -> None:
    response.failure(why)  # type: ignore[no-untyped-call]  # locust leaves failure() unannotated


def _fail_status(response: ResponseContextManager) -> None:
    body = _json(response) or {}
    code = body.get("code", "")
    _fail(response, f"HTTP {response.status_code} {code}".strip() if response.status_code else "no response")


class Failed(Exception):
    """A request that answered, but not as the contract says (our own message, no numbers)."""


class IvrCaller(User):
    """One lookup per call, Poisson arrivals, and the ACD's connect for a share of calls.

    The hot path talks to the service through a bare geventhttpclient connection and reports
    to locust itself: half the CPU of FastHttpUser per request, which leaves the cores to the
    service under test (the generator shares the machine).
    """

    weight = 1  # spawned by fixed_count (set at init); -u should equal the sum of the three counts

    def on_start(self) -> None:
        """Each IVR user is its own Poisson process; together they make the configured rate."""
        self.user_n = next(_ids)
        self.calls = 0
        self.rng = random.Random(f"{Options.seed}:{self.user_n}")
        self.rate = Options.lookup_rate / Options.ivr_users
        self.next_call = time.monotonic()  # the first call at spawn; call() schedules the next
        self.groups, self.cum_weights = _caller_table()
        host = self.host
        if not host:
            raise ValueError("--host is required (the service's base URL)")
        self.http = HTTPClient.from_url(URL(host), concurrency=1, connection_timeout=5, network_timeout=10)
        token = Options.prepared["tokens"]["ivr"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.json_headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        self.agent_ids = [f"A{n:04d}" for n in range(1, 201)]
        self.pid = os.getpid()

    def on_stop(self) -> None:
        """Close the connection."""
        self.http.close()

    def wait_time(self) -> float:
        """The time left until this user's next arrival; a late call is sent at once."""
        return max(0.0, self.next_call - time.monotonic())

    @task
    def call(self) -> None:
        """One incoming call: the lookup, then maybe the ACD's connect."""
        self.next_call += self.rng.expovariate(self.rate)
        group = self.groups[bisect.bisect(self.cum_weights, self.rng.random() * self.cum_weights[-1])]
        query, level = self.rng.choice(group.numbers)
        self.calls += 1
        # Short digit runs only, so a call id never looks like a phone number in a log.
        call_id = f"lt-p{self.pid}-u{self.user_n}-c{self.calls}"
        context: dict[str, Any] = {"group": group.name}
        status, body = self._send("GET", LOOKUP, f"{LOOKUP}?{query}&dnis=10010&call_id={call_id}", context)
        if status == 0:
            return
        why = check_lookup(status, body, {**group.expect, "level": level}, context)
        self._report("GET", LOOKUP, context, None if why is None else Failed(why))
        if status == 200 and self.rng.random() < Options.connected_share:
            self._connected(call_id)

    def _connected(self, call_id: str) -> None:
        # The ACD reports the pick-up; a build without the endpoint answers 404: tolerated, counted.
        body = orjson.dumps({"agent_id": self.rng.choice(self.agent_ids)})
        context: dict[str, Any] = {}
        status, answer = self._send("POST", CONNECTED, f"/v1/calls/{call_id}/connected", context, body)
        if status == 0:
            return
        failure = None
        if status == 404:
            context["tolerated"] = True
        elif not 200 <= status < 300:
            failure = Failed(f"HTTP {status} {problem_code(answer)}".strip())
        self._report("POST", CONNECTED, context, failure)

    def _send(
        self, method: str, name: str, path: str, context: dict[str, Any], body: bytes | None = None
    ) -> tuple[int, bytes]:
        """One request; on a transport error it is reported here and status 0 returned."""
        context["start"] = time.time()
        started = time.perf_counter()
        try:
            if body is None:
                response = self.http.get(path, headers=self.headers)
            else:
                response = self.http.post(path, body=body, headers=self.json_headers)
            content = response.read()
            context["ms"] = (time.perf_counter() - started) * 1000
            context["status"] = response.status_code
            context["length"] = len(content)
            return response.status_code, content
        except Exception as exc:  # any transport failure is a failed request, reported and counted
            context["ms"] = (time.perf_counter() - started) * 1000
            context["status"] = 0
            context["length"] = 0
            self._report(method, name, context, exc)
            return 0, b""

    def _report(self, method: str, name: str, context: dict[str, Any], failure: BaseException | None) -> None:
        self.environment.events.request.fire(
            request_type=method,
            name=name,
            response_time=context["ms"],
            response_length=context["length"],
            response=None,
            context=context,
            exception=failure,
            start_time=context["start"],
        )


class AgentDesk(FastHttpUser):
    """An agent: profile views, reactivation attempts, and the charging side's debits.

    Paced like a busy desk rather than a real one (an agent takes a call every few minutes):
    a request every 2–6 s, a reactivation one time in ten, and four in five of those from the
    customer's own number — the service password check (argon2) is deliberately slow.
    """

    weight = 1
    wait_time = between(2.0, 6.0)

    def on_start(self) -> None:
        """Tokens and numbers from the prepared data."""
        self.rng = random.Random(f"agent:{Options.seed}:{next(_ids)}")
        data = Options.prepared["agent"]
        self.profiles: list[str] = data["profiles"]
        self.suspended: list[str] = data["suspended"]
        self.password: str = data["password"]
        self.credit_numbers: list[str] = list(data.get("credit", []))
        tokens = Options.prepared["tokens"]
        self.agent = {"Authorization": f"Bearer {tokens['agent']}"}
        self.ivr = {"Authorization": f"Bearer {tokens['ivr']}"}

    @task(6)
    def view_profile(self) -> None:
        """The agent's view of a caller."""
        msisdn = self.rng.choice(self.profiles)
        with self.client.get(
            f"/v1/subscribers/{msisdn}", name=PROFILE, headers=self.agent, catch_response=True
        ) as response:
            body = _json(response)
            if response.status_code == 200 and body is not None:
                _ok(response)
            else:
                _fail_status(response)

    @task(1)
    def reactivate(self) -> None:
        """An emergency reactivation attempt; a grant or a refusal (409) are both answers."""
        if not self.suspended:
            return
        msisdn = self.rng.choice(self.suspended)
        body = {
            "msisdn": msisdn,
            "channel": "agent",
            "verification": (
                {"method": "own_number"}
                if self.rng.random() < 0.8
                else {"method": "service_password", "password": self.password}
            ),
        }
        headers = {**self.agent, "Idempotency-Key": uuid.uuid4().hex}
        first = self._reactivation(headers, body)
        if first is not None and self.rng.random() < 0.1:
            self._reactivation(headers, body, replay_of=first)

    def _reactivation(
        self,
        headers: dict[str, str],
        body: dict[str, Any],
        replay_of: tuple[int, dict[str, Any]] | None = None,
    ) -> tuple[int, dict[str, Any]] | None:
        with self.client.post(
            REACTIVATIONS, name=REACTIVATIONS, headers=headers, json=body, catch_response=True
        ) as response:
            answer = _json(response)
            status = response.status_code
            if answer is None or status not in (201, 409):
                _fail_status(response)
                return None
            if status == 409 and answer.get("code") not in REFUSALS:
                _fail(response, f"409 with code {answer.get('code')!r}, not a refusal code")
                return None
            if replay_of is not None and (status, answer) != replay_of:
                _fail(response, "an Idempotency-Key replay did not return the original response")
                return None
            _ok(response)
            if replay_of is None and status == 201 and answer.get("mode") == "prepaid_credit":
                self.credit_numbers.append(body["msisdn"])
            return status, answer

    @task(3)
    def authorize(self) -> None:
        """A small debit of the temporary credit (approved or declined are both answers)."""
        pool = self.credit_numbers or self.profiles
        body = {"msisdn": self.rng.choice(pool), "amount_yuan": "2.50", "ref": uuid.uuid4().hex}
        with self.client.post(
            CREDIT, name=CREDIT, headers=self.ivr, json=body, catch_response=True
        ) as response:
            answer = _json(response)
            if (
                response.status_code == 200
                and answer is not None
                and isinstance(answer.get("approved"), bool)
            ):
                _ok(response)
            else:
                _fail_status(response)


class BranchDesk(FastHttpUser):
    """A city branch watching its new and dispatched work orders."""

    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        """The branch token and code from the prepared data."""
        self.rng = random.Random(f"branch:{Options.seed}:{next(_ids)}")
        tokens = Options.prepared["tokens"]
        self.auth = {"Authorization": f"Bearer {tokens['branch']}"}
        self.branch: str = tokens["branch_code"]

    @task
    def work_orders(self) -> None:
        """The branch's queue, by status."""
        status = self.rng.choice(["new", "dispatched", "overdue"])
        query = urlencode({"branch": self.branch, "status": status})
        with self.client.get(
            f"{WORK_ORDERS}?{query}", name=WORK_ORDERS, headers=self.auth, catch_response=True
        ) as response:
            body = _json(response)
            if response.status_code == 200 and body is not None and isinstance(body.get("items"), list):
                _ok(response)
            else:
                _fail_status(response)
