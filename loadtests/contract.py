"""What a lookup answer must look like under load (SPEC §6 shapes, Q1–Q4): pure checks the
locustfile applies to every answer. Kept free of locust, which patches the standard library
with gevent on import, so the checks can be tested on their own."""

from __future__ import annotations

from typing import Any

import orjson


def problem_code(body: bytes) -> str:
    """The stable `code` of a problem+json body ("" when there is none)."""
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    return str(answer.get("code", "")) if isinstance(answer, dict) else ""


def check_lookup(status: int, body: bytes, expect: dict[str, Any], context: dict[str, Any]) -> str | None:
    """Why a lookup answer breaks the contract (SPEC §6, Q1–Q4), or None; fills ``context``
    with the answer's queue, priority, degraded and source."""
    if status == 400 and expect.get("status") == 400:
        code = problem_code(body)
        return (
            None if code == expect.get("code") else f"400 with code {code!r}, expected {expect.get('code')!r}"
        )
    if status != 200:
        return f"HTTP {status} {problem_code(body)}".strip()
    if expect.get("status") != 200:
        return f"200, expected {expect.get('status')}"
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        answer = None
    queue = answer.get("queue") if isinstance(answer, dict) else None
    if (
        not isinstance(answer, dict)
        or not isinstance(queue, dict)
        or "degraded" not in answer
        or "source" not in answer
    ):
        return "answer without queue, degraded or source (SPEC §6 shape)"
    context.update(
        queue=queue.get("name", ""),
        priority=queue.get("priority", ""),
        degraded=int(bool(answer["degraded"])),
        source=answer["source"],
    )
    if answer["degraded"]:
        return None  # Q4: a degraded answer is an answer; counted, not failed
    if "known" in expect and answer.get("known") != expect["known"]:
        return f"known={answer.get('known')}, expected {expect['known']}"
    level = (answer.get("tier") or {}).get("level")
    if expect.get("level") and level != expect["level"]:
        return f"level {level!r}, expected {expect['level']!r}"
    return None
