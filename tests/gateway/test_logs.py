"""Phone numbers never reach a log line raw."""

from __future__ import annotations

import io
import json
import logging

import structlog

from gateway.logs import configure_logging, mask, number_ref, scrub_text


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
        from tests.conftest import LOG_FILE

        configure_logging("debug", LOG_FILE.open("a", encoding="utf-8"), cache=False)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    blob = stream.getvalue()
    assert "18612345678" not in blob and "13912345678" not in blob
    assert lines[0]["ani"] == "186****5678"
    assert lines[1]["event"] == "peer 186****5678 said hi"
