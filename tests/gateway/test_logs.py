"""Phone numbers never reach a log line raw."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
import structlog

from gateway.logs import (
    _BATCH,
    LOG_FAILURES,
    configure_logging,
    mask,
    mask_path,
    number_ref,
    request_done,
    request_line,
    scrub_text,
)
from tests.conftest import restore_logging


def test_mask_keeps_prefix_and_last_four() -> None:
    assert mask("18612345678") == "186****5678"


def test_number_ref_is_stable_and_not_the_number() -> None:
    assert number_ref("18612345678") == number_ref("18612345678")
    assert "12345678" not in number_ref("18612345678")
    assert number_ref("18612345678") != number_ref("18612345679")


def test_scrub_masks_every_form() -> None:
    text = "a 18612345678 b +8613912345678 c 0086 13812345678 d 037162345678 e 20261126"
    assert scrub_text(text) == "a 186****5678 b 139****5678 c 138****5678 d 037****5678 e 20261126"


def test_structlog_and_stdlib_lines_are_scrubbed() -> None:
    stream = io.StringIO()
    configure_logging("info", stream, cache=False)
    try:
        structlog.get_logger().info("lookup 18612345678", ani="+8618612345678", nested={"x": ["13912345678"]})
        logging.getLogger("aiohttp.server").warning("peer %s said %s", "18612345678", "hi")
    finally:
        restore_logging()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    blob = stream.getvalue()
    assert "18612345678" not in blob and "13912345678" not in blob
    assert lines[0]["ani"] == "186****5678"
    assert lines[1]["event"] == "peer 186****5678 said hi"


@contextlib.contextmanager
def captured() -> Iterator[io.StringIO]:
    """Logging to a fresh buffer, then back to the session's log file."""
    stream = io.StringIO()
    configure_logging("debug", stream, cache=False)
    try:
        yield stream
    finally:
        restore_logging()


TOKEN = "cg_agent_iX7dzTGsHpWId3q5fc3G2_hvdNqCQOxAslg2HZppi6w"


def test_digits_of_any_script_are_masked() -> None:
    assert scrub_text("ani=13٠٠٠119209 x") == "ani=130****9209 x"
    assert scrub_text("１８６１２３４５６７８") == "186****5678"
    assert scrub_text("caller १८६१२३४५६७८.") == "caller 186****5678."


def test_tokens_and_bearer_credentials_are_masked() -> None:
    assert TOKEN not in scrub_text(f"Authorization: Bearer {TOKEN}")
    assert scrub_text("b'Authorization: Bearer secretsecret\\x00'") == "b'Authorization: Bearer ***'"
    assert scrub_text("demo cg_demo_ivr_0000000000000000000000000000 here") == "demo cg_*** here"
    assert scrub_text("send a bearer token: Authorization: Bearer <token>") == (
        "send a bearer token: Authorization: Bearer <token>"
    )  # the 401 detail's own words stay readable


def test_a_request_path_is_masked_wherever_it_holds_a_number() -> None:
    assert mask_path("/v1/ivr/lookup") == "/v1/ivr/lookup"
    assert mask_path("/v1/work-orders/42/events") == "/v1/work-orders/42/events"
    assert mask_path("/v1/subscribers/13٠٠٠119209") == "/v1/subscribers/130****9209"
    assert mask_path("/v1/subscribers/186-1234-5678/status") == "/v1/subscribers/186****5678/status"
    assert mask_path("/v1/subscribers/1234567") == "/v1/subscribers/12***67"


def test_exception_text_is_scrubbed_in_structlog_and_stdlib_lines() -> None:
    with captured() as stream:
        try:
            raise KeyError(f"18612345678 with {TOKEN}")
        except KeyError:
            structlog.get_logger().exception("failed")
        try:
            raise ValueError(f"b'Authorization: Bearer {TOKEN}\\x00' ani=１８６１２３４５６７８")
        except ValueError as exc:
            logging.getLogger("aiohttp.server").error("Error handling request", exc_info=exc)
    blob = stream.getvalue()
    lines = [json.loads(line) for line in blob.splitlines()]
    assert len(lines) == 2 and all("exception" in line for line in lines)
    assert "18612345678" not in blob and "１８６１２３４５６７８" not in blob and TOKEN not in blob
    assert "186****5678" in lines[0]["exception"] and "186****5678" in lines[1]["exception"]


def test_a_line_with_unencodable_text_is_still_written() -> None:
    with captured() as stream:
        structlog.contextvars.bind_contextvars(request_id="\udcff")
        try:
            structlog.get_logger().info("request", path="/x\udcfe", big=2**80, odd={1: b"\xff"})
        finally:
            structlog.contextvars.clear_contextvars()
        logging.getLogger("aiohttp.server").warning("peer %s", "\udcff")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["request", "peer \\udcff"]
    assert lines[0]["request_id"] == "\\udcff" and lines[0]["path"] == "/x\\udcfe"


class Unwritable(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_a_line_that_cannot_be_written_is_dropped_and_counted_never_raised() -> None:
    LOG_FAILURES.take()
    stream = Unwritable()
    configure_logging("debug", stream, cache=False)
    try:
        structlog.get_logger().info("request", path="/v1/reactivations")
        logging.getLogger("aiohttp.server").error("Error handling request")
    finally:
        restore_logging()
    assert LOG_FAILURES.take() == 2


def test_the_direct_request_line_is_the_structlog_line() -> None:
    # The canonical line per request skips structlog's chain (issue 22): same keys, same
    # values, same masking of numbers and tokens; only the clock's reading differs.
    fields = {"method": "GET", "path": mask_path("/v1/subscribers/18612345678"), "route": "/x", "status": 200}
    with captured() as stream:
        structlog.contextvars.bind_contextvars(request_id="r-1", call_id=f"call-18612345678-{TOKEN}")
        try:
            structlog.get_logger(component="http").info("request", **fields, ms=0.25)
            request_line({**fields, "ms": 0.25}, "r-1", f"call-18612345678-{TOKEN}")
        finally:
            structlog.contextvars.clear_contextvars()
    via_chain, direct = (json.loads(line) for line in stream.getvalue().splitlines())
    assert "18612345678" not in stream.getvalue() and TOKEN not in stream.getvalue()
    # the same keys (the chain's order of context keys follows the contextvars' hashing)
    assert sorted(direct) == sorted(via_chain)
    assert {**direct, "timestamp": ""} == {**via_chain, "timestamp": ""}
    assert direct["call_id"] == "call-186****5678-cg_***" and direct["path"] == "/v1/subscribers/186****5678"
    assert direct["timestamp"][:4] == via_chain["timestamp"][:4] and direct["timestamp"].endswith("Z")


def test_no_request_line_above_info() -> None:
    stream = io.StringIO()
    configure_logging("warning", stream, cache=False)
    try:
        request_line({"method": "GET", "status": 200}, "r-1", None)
    finally:
        restore_logging()
    assert stream.getvalue() == ""


async def test_request_lines_of_a_loop_turn_are_written_together_and_in_order() -> None:
    with captured() as stream:
        for n in range(3):
            request_line({"method": "GET", "status": 200, "n": n}, f"r-{n}", None)
        assert stream.getvalue() == ""  # queued for the end of this turn
        await asyncio.sleep(0)
        assert [json.loads(line)["n"] for line in stream.getvalue().splitlines()] == [0, 1, 2]
        request_line({"method": "GET", "status": 200, "n": 3}, "r-3", None)
        structlog.get_logger().warning("after")  # another line: the queued one goes first
        lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line.get("n", line["event"]) for line in lines] == [0, 1, 2, 3, "after"]


@pytest.mark.parametrize(
    ("method", "path", "route", "status", "ms", "request_id", "call_id"),
    [
        ("GET", "/v1/ivr/lookup", "/v1/ivr/lookup", 200, 0.123, "3df82156-1d02", None),
        ("GET", "/v1/ivr/lookup", "/v1/ivr/lookup", 401, 12.0, "acd-4711", f"call-18612345678-{TOKEN}"),
        (
            "POST",
            mask_path("/v1/subscribers/18612345678/x"),
            "/v1/subscribers/{msisdn}/x",
            500,
            0.0,
            'a"b',
            "c\\d",
        ),
        ("GET", "/v1/路径", "unmatched", 404, 1234.567, "r-١٣٨١٢٣٤٥٦٧٨", "呼叫-1"),
    ],
)
def test_the_formatted_request_line_is_the_request_line(
    method: str, path: str, route: str, status: int, ms: float, request_id: str, call_id: str | None
) -> None:
    # The line every request writes (request_done) is, text for text, request_line's: same keys in
    # the same order, same scrubbing; only the clock's reading may differ
    with captured() as stream:
        request_done(method, path, route, status, ms, request_id, call_id)
        fields = {"method": method, "path": path, "route": route, "status": status, "ms": ms}
        request_line(fields, request_id, call_id)
        _BATCH.flush()
    done, line = stream.getvalue().splitlines()
    strip = re.compile(r'"timestamp":"[^"]*"')
    assert strip.sub("", done) == strip.sub("", line)
    assert "18612345678" not in done and TOKEN not in done and "١٣٨١٢٣٤٥٦٧٨" not in done
    assert list(json.loads(done)) == list(json.loads(line))
