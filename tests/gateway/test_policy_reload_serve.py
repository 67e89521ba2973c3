"""O2 against a real `callgate serve --workers 2`: SIGHUP to the server and a reload asked
of one worker over HTTP reach both workers; an invalid file keeps the priority in force.

Which worker answered is read from the X-Request-Id prefix (one per process); each request
opens its own connection, so SO_REUSEPORT spreads them over both workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.conftest import log_leaks
from tests.gateway.lookup_support import FOUR, evaluated_province

DEADLINE_S = 60.0  # generous: a shared two-core machine; the reload itself takes milliseconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def override_text(priority: int) -> str:
    """An override giving four-star (and loyal, above it) the VIP-desk priority `priority` (Q2)."""
    return (
        'name = "unicom-2015"\n[routing.star]\n'
        f'loyal = {{ queue = "vip", priority = {priority} }}\n'
        f'four_star = {{ queue = "vip", priority = {priority} }}\n'
    )


class Server:
    """A running `callgate serve --workers 2` and requests to it."""

    def __init__(self, process: subprocess.Popen[bytes], port: int, tokens: dict[str, str]) -> None:
        self.process = process
        self.port = port
        self.tokens = tokens

    def request(self, path: str, role: str, method: str = "GET") -> tuple[int, str, dict[str, Any]]:
        """(status, answering worker, body), on a new connection."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            method=method,
            headers={"Authorization": f"Bearer {self.tokens[role]}", "Connection": "close"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status, headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as exc:
            status, headers, raw = exc.code, exc.headers, exc.read()
        return status, headers["X-Request-Id"].split("-")[0], json.loads(raw)

    def priority(self) -> tuple[str, int]:
        """(answering worker, four-star caller's queue priority)."""
        status, worker, body = self.request(f"/v1/ivr/lookup?ani={FOUR}", "ivr")
        assert status == 200 and body["tier"]["level"] == "four_star"
        return worker, int(body["queue"]["priority"])

    def settles_on(self, expected: int) -> set[str]:
        """Poll until both workers answer `expected`, then check that every later answer does too."""
        latest: dict[str, int] = {}
        deadline = time.monotonic() + DEADLINE_S
        while not (len(latest) >= 2 and set(latest.values()) == {expected}):
            assert time.monotonic() < deadline, f"workers still answer {latest}"
            worker, priority = self.priority()
            latest[worker] = priority
        after = [self.priority() for _ in range(20)]
        assert {priority for _, priority in after} == {expected}
        return set(latest)


@pytest.fixture
async def server(
    conn: asyncpg.Connection, database_url: str, redis_url: str, tmp_path: Path
) -> AsyncIterator[Server]:
    tokens = await evaluated_province(conn, database_url)
    override = tmp_path / "province.toml"
    override.write_text(override_text(20), encoding="utf-8")
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")},
        "CALLGATE_DATABASE_URL": database_url,
        "CALLGATE_REDIS_URL": redis_url,
        "CALLGATE_DATA_DIR": str(tmp_path / "data"),
        "CALLGATE_PORT": str(port),
        "CALLGATE_NOW": "2026-11-26T10:00:00+08:00",
        "CALLGATE_LOG_LEVEL": "info",
        "CALLGATE_POLICY_OVERRIDE": str(override),
    }
    with (tmp_path / "server.log").open("w") as log_handle:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli.main", "serve", "--workers", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log_handle,
        )
    running = Server(process, port, tokens)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                assert process.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "callgate did not become ready"
                time.sleep(0.3)
        yield running
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_sighup_and_the_http_reload_reach_both_workers(server: Server, tmp_path: Path) -> None:
    # rule O2: every worker process of `serve --workers N` re-reads the override
    override = tmp_path / "province.toml"
    workers = server.settles_on(20)
    assert len(workers) == 2  # two processes answer

    override.write_text(override_text(25), encoding="utf-8")
    os.kill(server.process.pid, signal.SIGHUP)  # to the supervisor, which forwards it
    assert server.settles_on(25) == workers

    # the reload asked of one worker: it tells the other, and says that both took the file
    override.write_text(override_text(27), encoding="utf-8")
    status, _, body = server.request("/v1/admin/policy/reload", "admin", "POST")
    assert status == 200 and body["reloaded"] is True
    assert body["workers"] == {"total": 2, "confirmed": 2, "pending": [], "all": True, "told": True}
    assert server.settles_on(27) == workers
    status, _, shown = server.request("/v1/policy", "admin")
    assert status == 200 and len(shown["workers"]) == 2
    assert {w["override_sha256"] for w in shown["workers"]} == {body["policy"]["override_sha256"]}

    # an invalid file: 400 with the fault's key path, the priority in force stays in both workers
    override.write_text(override_text(99), encoding="utf-8")
    status, _, problem = server.request("/v1/admin/policy/reload", "admin", "POST")
    assert status == 400 and problem["code"] == "invalid_override"
    assert [e["key"] for e in problem["errors"]] == ["routing.star"]
    os.kill(server.process.pid, signal.SIGHUP)  # the same file by signal: logged, kept
    assert server.settles_on(27) == workers
    assert server.process.poll() is None

    server.process.terminate()
    server.process.wait(timeout=30)
    logged = (tmp_path / "server.log").read_text(encoding="utf-8", errors="replace").split("\n")
    events = [json.loads(line) for line in logged if line.startswith("{")]
    reloaded = [e for e in events if e["event"] == "policy_reloaded"]
    assert sum(e["trigger"] == "sighup" for e in reloaded) >= 2  # both workers, by signal
    rejected = [e for e in events if e["event"] == "policy_reload_rejected"]
    assert {e["trigger"] for e in rejected} == {"http", "sighup"}
    assert any(e["event"] == "policy_reload_forwarded" for e in events)
    assert log_leaks(logged) == []


def test_serve_refuses_an_invalid_override_listing_every_fault(tmp_path: Path) -> None:
    # rule O2: the same check at start, before any store or worker (a worker would only crash on it)
    override = tmp_path / "province.toml"
    override.write_text(override_text(99) + '[sms]\nhotline = "x"\n', encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")},
        "CALLGATE_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        "CALLGATE_REDIS_URL": "redis://127.0.0.1:9/0",
        "CALLGATE_DATA_DIR": str(tmp_path / "data"),
        "CALLGATE_POLICY_OVERRIDE": str(override),
    }
    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli.main", "serve", "--workers", "2"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"{override}: routing.star: priorities must not rise" in done.stderr
    assert f"{override}: sms.hotline: a hotline is 3 to 12 digits" in done.stderr
