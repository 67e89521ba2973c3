"""Real `callgate serve` processes for tests that need more than one process (X3) or a
store layout the in-process app fixture does not build (X2): started on a free port each,
ready when /readyz says so, stopped with SIGTERM; their logs are kept for the leak scan."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import log_leaks

READY_DEADLINE_S = 90.0  # generous: a shared two-core machine starts Python slowly


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True, slots=True)
class Served:
    """One running `callgate serve`."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base(self) -> str:
        """The process's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def leaks(self) -> list[str]:
        """Log lines holding a raw number or a secret (should be none)."""
        return log_leaks(self.log.read_text(encoding="utf-8", errors="replace").split("\n"))


@contextmanager
def serving(tmp_path: Path, name: str, env: dict[str, str], workers: int = 1) -> Iterator[Served]:
    """`callgate serve --workers N` with the given CALLGATE_* environment, until the block ends."""
    port = free_port()
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CALLGATE_")},
        "CALLGATE_DATA_DIR": str(tmp_path / f"data-{name}"),
        "CALLGATE_PORT": str(port),
        "CALLGATE_LOG_LEVEL": "info",
        **env,
    }
    log = tmp_path / f"serve-{name}.log"
    with log.open("w") as handle:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli.main", "serve", "--workers", str(workers)],
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=handle,
        )
    try:
        deadline = time.monotonic() + READY_DEADLINE_S
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                assert process.poll() is None, log.read_text()[-3000:]
                assert time.monotonic() < deadline, f"serve {name} did not become ready"
                time.sleep(0.3)
        yield Served(process, port, log)
    finally:
        process.terminate()
        process.wait(timeout=30)


@contextmanager
def two_servers(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[Served, Served]]:
    """Two independent `callgate serve` processes (two hosts, in effect) on the same stores."""
    with ExitStack() as stack:
        first = stack.enter_context(serving(tmp_path, "a", env))
        second = stack.enter_context(serving(tmp_path, "b", env))
        yield first, second
