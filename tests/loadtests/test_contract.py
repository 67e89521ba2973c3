"""loadtests/contract.py — what counts as a failed lookup under load (SPEC §6, Q1–Q4)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from loadtests.contract import check_lookup, problem_code

KNOWN = {"status": 200, "known": True, "level": "five_star"}
UNKNOWN = {"status": 200, "known": False, "level": None}
INVALID = {"status": 400, "code": "invalid_number", "level": None}


def answer(**fields: Any) -> bytes:
    body = {
        "msisdn": "13000119209", "known": True,
        "tier": {"scheme": "star", "level": "five_star", "valid_until": "2027-10-31"},
        "queue": {"name": "vip", "priority": 30}, "manager": None, "entitlements": [],
        "reactivation": {}, "degraded": False, "source": "cache",
    }  # fmt: skip
    body.update(fields)
    return orjson.dumps(body)


@pytest.mark.parametrize(
    ("status", "body", "expect", "why"),
    [
        pytest.param(200, answer(), KNOWN, None, id="a five-star caller answered five-star passes"),
        pytest.param(400, b'{"code": "invalid_number"}', INVALID, None, id="a malformed number's 400 passes"),
        pytest.param(
            200,
            answer(known=False, tier=None, queue={"name": "general", "priority": 0}),
            UNKNOWN,
            None,
            id="an unknown caller in the general queue passes",
        ),
        pytest.param(
            200,
            answer(
                degraded=True,
                known=False,
                tier=None,
                source="default",
                queue={"name": "general", "priority": 0},
            ),
            KNOWN,
            None,
            id="a degraded default route is an answer, not a failure (Q4)",
        ),
        pytest.param(
            200,
            answer(tier={"level": "four_star"}),
            KNOWN,
            "level 'four_star', expected 'five_star'",
            id="a known caller at the wrong level fails",
        ),
        pytest.param(
            200,
            answer(known=False),
            KNOWN,
            "known=False, expected True",
            id="a known caller answered unknown fails",
        ),
        pytest.param(
            200,
            answer(queue=None),
            KNOWN,
            "answer without queue, degraded or source (SPEC §6 shape)",
            id="no queue fails",
        ),
        pytest.param(
            200,
            b"not json",
            KNOWN,
            "answer without queue, degraded or source (SPEC §6 shape)",
            id="not JSON fails",
        ),
        pytest.param(503, b'{"code": "internal_error"}', KNOWN, "HTTP 503 internal_error", id="a 5xx fails"),
        pytest.param(
            400,
            b'{"code": "invalid_number"}',
            KNOWN,
            "HTTP 400 invalid_number",
            id="a valid number refused fails",
        ),
        pytest.param(200, answer(), INVALID, "200, expected 400", id="a malformed number accepted fails"),
        pytest.param(
            400,
            b'{"code": "invalid_request"}',
            INVALID,
            "400 with code 'invalid_request', expected 'invalid_number'",
            id="the wrong 400 code fails",
        ),
    ],
)
def test_check_lookup(status: int, body: bytes, expect: dict[str, Any], why: str | None) -> None:
    # rule Q1, rule Q2 and rule Q4
    assert check_lookup(status, body, expect, {}) == why


def test_the_answer_is_recorded_for_the_simulation() -> None:
    context: dict[str, Any] = {}
    check_lookup(200, answer(), KNOWN, context)
    assert context == {"queue": "vip", "priority": 30, "degraded": 0, "source": "cache"}


def test_problem_code() -> None:
    assert problem_code(b'{"code": "forbidden"}') == "forbidden"
    assert problem_code(b"<html>") == "" and problem_code(b"[1]") == ""
