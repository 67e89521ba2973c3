"""Issue 10: a real SIP front end in the loop. Debian's Kamailio, with ivr/kamailio/kamailio.cfg,
asks a real `callgate serve` on every INVITE and sends sipp's calls to the VIP desk or the
general queue (Q1, Q2) with the ACD headers; with callgate hung or stopped, every call still
reaches the general queue (Q4 on the SIP side). Where each call landed is read from the log
the queue endpoints (sipp UAS) write per call, keyed by the caller's label, never the number."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from loadtests.sip import harness
from tests.ivr.kamailio_support import CALLERS, FIVE, callgate_env, ivr_token, write_province

pytestmark = pytest.mark.timeout(600)

# A Call-ID that SIP allows but callgate's call_id parameter does not (it answers 400).
ODD_CALL_ID = "%u-%p~!odd@%s"


@dataclass(frozen=True, slots=True)
class Served:
    """The running callgate and how Kamailio reaches it."""

    process: harness.CallgateProcess
    lookup: harness.Lookup


@pytest.fixture(scope="module")
def sip_tools() -> harness.Tools:
    """kamailio and sipp, or a failure that says how to install them (never a skip)."""
    try:
        return harness.find_tools()
    except harness.SipToolsMissing as exc:
        pytest.fail(f"the Kamailio end-to-end test needs its SIP tools: {exc}", pytrace=False)


@pytest.fixture
async def callgate(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[Served]:
    """`callgate serve` over the test's province, on a free port, with an ivr token."""
    await write_province(conn, database_url, redis_url)
    env = callgate_env(database_url, redis_url, tmp_path / "callgate")
    token = await asyncio.to_thread(ivr_token, env)
    process = harness.CallgateProcess(env, tmp_path / "callgate.log", ready_within_s=60)
    await asyncio.to_thread(process.start)
    try:
        yield Served(process, harness.Lookup(process.url, token))
    finally:
        await asyncio.to_thread(process.stop)


def sip_callers() -> list[harness.Caller]:
    """Every test caller, in order."""
    return [harness.Caller(c.label, c.number) for c in CALLERS]


def landings(run: harness.CallRun) -> dict[str, list[str]]:
    """Label → the queues its calls reached (one entry per call)."""
    return {label: sorted(a.queue for a in arrivals) for label, arrivals in run.by_label().items()}


def acd_headers(arrival: harness.Arrival) -> dict[str, str | None]:
    """The X-Callgate-* headers a queue received (None: absent)."""
    names = ("Queue", "Priority", "Tier", "Level", "Degraded", "Source", "Error")
    return {name: arrival.header(name) for name in names}


def assert_all_answered(run: harness.CallRun) -> None:
    """Every call placed was answered, reached exactly one queue and was hung up cleanly."""
    assert (run.succeeded, run.failed) == (run.placed, 0), f"sipp logs in {run.workdir}"
    assert len(run.arrivals) == run.placed, f"sipp logs in {run.workdir}"


async def lookup_answer(served: Served, number: str) -> dict[str, Any]:
    """callgate's own JSON answer for a number (what Kamailio was told)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(
            f"{served.lookup.url}/v1/ivr/lookup",
            params={"ani": number, "dnis": "10010"},
            headers={"Authorization": f"Bearer {served.lookup.token}"},
        ) as response,
    ):
        assert response.status == 200
        answer: dict[str, Any] = await response.json()
        return answer


async def test_calls_land_on_the_queue_of_their_tier_with_the_acd_headers(
    sip_tools: harness.Tools, callgate: Served, tmp_path: Path
) -> None:
    # rule Q1, Q2, Q4
    callers = sip_callers()
    run = await asyncio.to_thread(
        harness.place_calls, callers, tmp_path / "sip", lookup=callgate.lookup, rate=20
    )
    assert_all_answered(run)
    assert landings(run) == {c.label: [c.expected.queue] for c in CALLERS}

    arrived = {a.label: a for a in run.arrivals}
    for caller in CALLERS:
        want = caller.expected
        got = acd_headers(arrived[caller.label])
        expected = {
            "Queue": want.queue,
            "Tier": want.tier,
            "Level": want.level,
            "Degraded": want.degraded,
            "Error": want.error,
        }
        assert {k: got[k] for k in expected} == expected, caller.label
        if want.error is None:
            # The headers carry callgate's own answer, unchanged.
            answer = await lookup_answer(callgate, caller.number)
            assert got["Priority"] == str(answer["queue"]["priority"]), caller.label
            assert got["Queue"] == answer["queue"]["name"], caller.label
            assert got["Tier"] == (answer["tier"]["scheme"] if answer["tier"] else "-"), caller.label
            assert got["Level"] == (answer["tier"]["level"] if answer["tier"] else "-"), caller.label
            # The SIP call's lookup came first: it may have filled the cache the second one read.
            sources = {got["Source"], answer["source"]}
            assert len(sources) == 1 or sources == {"cache", "database"}, caller.label
        else:
            assert (got["Priority"], got["Source"]) == ("0", "sip-fallback"), caller.label

    # VIP desk priorities follow Q2 (five-star above four-star above three-star).
    priority = {label: int(acd_headers(a)["Priority"] or -1) for label, a in arrived.items()}
    assert priority["five_star"] > priority["four_star"] > priority["three_star"] > priority["two_star"]


async def test_a_call_id_callgate_refuses_does_not_cost_the_caller_the_vip_desk(
    sip_tools: harness.Tools, callgate: Served, tmp_path: Path
) -> None:
    # rule Q4: the Call-ID is sent as its MD5 when callgate's call_id syntax cannot carry it
    run = await asyncio.to_thread(
        harness.place_calls,
        [harness.Caller("five_star_odd_call_id", FIVE)],
        tmp_path / "sip",
        lookup=callgate.lookup,
        calls=2,
        call_id_format=ODD_CALL_ID,
    )
    assert_all_answered(run)
    assert all("~!odd@" in a.call_id for a in run.arrivals)
    assert [acd_headers(a)["Queue"] for a in run.arrivals] == ["vip", "vip"]
    assert [acd_headers(a)["Error"] for a in run.arrivals] == [None, None]


async def test_with_callgate_hung_or_stopped_every_call_still_reaches_the_general_queue(
    sip_tools: harness.Tools, callgate: Served, tmp_path: Path
) -> None:
    # rule Q4
    callers = sip_callers()

    callgate.process.freeze()  # connections are accepted, nothing is answered
    try:
        hung = await asyncio.to_thread(
            harness.place_calls, callers, tmp_path / "hung", lookup=callgate.lookup, rate=10
        )
    finally:
        callgate.process.thaw()
    assert_all_answered(hung)
    assert landings(hung) == {c.label: ["general"] for c in CALLERS}
    errors = {acd_headers(a)["Error"] for a in hung.arrivals}
    # The first lookups time out; the hold-off then routes the rest without waiting.
    assert "timeout" in errors and errors <= {"timeout", "holdoff"}
    assert {acd_headers(a)["Degraded"] for a in hung.arrivals} == {"true"}
    # A timed-out lookup costs about the 1 s timeout, never the call.
    assert max(s.seconds for s in hung.setups) < 5.0

    callgate.process.stop()  # nothing listens on the port any more
    stopped = await asyncio.to_thread(
        harness.place_calls, callers, tmp_path / "stopped", lookup=callgate.lookup, rate=20
    )
    assert_all_answered(stopped)
    assert landings(stopped) == {c.label: ["general"] for c in CALLERS}
    assert {(acd_headers(a)["Error"], acd_headers(a)["Degraded"]) for a in stopped.arrivals} == {
        ("unreachable", "true")
    }


async def test_the_baseline_configuration_routes_without_asking_callgate(
    sip_tools: harness.Tools, tmp_path: Path
) -> None:
    # The WITHOUT_LOOKUP switch the setup-delay measurement compares against.
    run = await asyncio.to_thread(harness.place_calls, sip_callers(), tmp_path / "sip", lookup=None, rate=20)
    assert_all_answered(run)
    assert landings(run) == {c.label: ["general"] for c in CALLERS}
    assert {(acd_headers(a)["Source"], acd_headers(a)["Error"]) for a in run.arrivals} == {
        ("lookup-off", None)
    }
