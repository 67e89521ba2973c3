"""`callgate serve`: stores, migrations, first-run demo data, then the HTTP service."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import uvloop

from entitlements.errors import PolicyError
from entitlements.months import Month, shanghai_today
from entitlements.policy import load_policy
from gateway.batch import demo, evaluation
from gateway.http import server
from gateway.http.app import create_app
from gateway.http.keys import RELOADS
from gateway.logs import configure_logging, get_logger, load_log_key, set_log_key
from gateway.services.policies import Fleet, load_in_force
from gateway.settings import Settings
from gateway.stores import db, migrations
from gateway.stores.launch import start_stores
from gateway.stores.queries import subscribers, tiers, tokens

log = get_logger("serve")


class StartupRefused(RuntimeError):
    """The service must not start in this state."""


async def prepare(
    settings: Settings, demo_subscribers: int | None, *, production: bool
) -> list[tuple[str, str]] | None:
    """Migrate; on an empty embedded database load and evaluate the demo province.

    Returns sample callers per level in demo mode, None in production."""
    assert settings.database_url is not None
    conn = await db.connect(settings.database_url)
    try:
        applied = await migrations.migrate(conn)
        if applied:
            log.info("migrated", applied=applied)
        if production:
            demo_tokens = await tokens.live_demo_count(conn)
            if demo_tokens:
                raise StartupRefused(
                    f"production mode (store URLs set) refuses to start while {demo_tokens} demo "
                    "token(s) are live: revoke them with `callgate tokens revoke ID`"
                )
            return None
        today = shanghai_today(settings.clock())
        if demo_subscribers is None or await subscribers.count(conn):
            return await tiers.sample_callers(conn, settings.policy, today)
        print(
            f"first run: loading a demo province of {demo_subscribers:,} subscribers …",
            file=sys.stderr,
        )
        await demo.load(conn, demo_subscribers, 2015, today)
        # Last month's run gives the tiers in force today; this month's the ones from the 1st.
        policy = load_policy(settings.policy, settings.policy_override)
        for month in (Month.of(today) - 1, Month.of(today)):
            await evaluation.run(
                conn, policy, month, today, dsn=settings.database_url, redis_url=settings.redis_url,
                override=settings.policy_override, workers=1, now=settings.clock(),
            )  # fmt: skip
        return await tiers.sample_callers(conn, settings.policy, today)
    finally:
        await conn.close()


def serve(settings: Settings, *, workers: int = 1, demo_subscribers: int | None = None) -> int:
    """Run until SIGINT/SIGTERM; stop the embedded stores on the way out.

    SIGHUP re-reads the provincial override (O2) once serving; while starting it is held
    (blocked, so not lost), and worker processes inherit that until their handler is in.
    """
    try:  # every fault at once, before anything starts (a worker would only crash on it)
        load_in_force(settings)
    except PolicyError as exc:
        faults = "\n".join(f"  {fault}" for fault in exc.errors)
        print(f"callgate: the policy does not validate:\n{faults}", file=sys.stderr)
        return 1
    stores = start_stores(settings)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        resolved = stores.settings
        try:
            samples = asyncio.run(prepare(resolved, demo_subscribers, production=settings.production))
        except StartupRefused as exc:
            print(f"callgate: {exc}", file=sys.stderr)
            return 1
        passwords = asyncio.run(_demo_passwords(resolved)) if samples is not None else []
        _banner(resolved, samples, workers, passwords)
        if workers == 1:
            _run(resolved, reuse_port=False)
        else:
            _run_workers(resolved, workers)
        return 0
    finally:
        # serve owns the embedded stores of its data directory: stop them even when a
        # previous run left them running (a CLI command run meanwhile stops only its own).
        stores.stop(only_started_here=False)


def _run(settings: Settings, *, reuse_port: bool, fleet: Fleet | None = None) -> None:
    """One event loop (uvloop) serving until SIGINT/SIGTERM; SIGHUP reloads the policy (O2)."""
    uvloop.install()
    app = create_app(settings)
    reloads = app[RELOADS]
    reloads.fleet = fleet
    # Through EdgeRunner: requests aiohttp cannot parse get problem+json, not its quoting 400.
    server.run(app, host=settings.host, port=settings.port, reuse_port=reuse_port, on_hangup=reloads.hangup)


def _worker(settings: Settings, fleet_dir: Path) -> None:
    """A worker process: same app, the port shared with SO_REUSEPORT."""
    with contextlib.suppress(OSError, AttributeError):  # Linux: die with the supervisor
        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)
    configure_logging(settings.log_level)
    set_log_key(load_log_key(settings.log_key, settings.data_dir))
    _run(settings, reuse_port=True, fleet=Fleet(fleet_dir, os.getppid()))


def _start(process: multiprocessing.process.BaseProcess) -> None:
    """Start a worker with SIGHUP blocked: it waits, pending, until the worker's handler is in
    (an unhandled SIGHUP would end a worker that is still starting)."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
    try:
        process.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _run_workers(settings: Settings, count: int) -> None:
    """Supervise `count` workers: restart one that dies, stop all on SIGINT/SIGTERM, forward SIGHUP."""
    metrics_dir = Path(tempfile.mkdtemp(prefix="callgate-metrics-"))
    fleet_dir = Path(tempfile.mkdtemp(prefix="callgate-workers-"))  # each worker's policy status (O2)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)  # the workers' metrics are summed
    context = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    hangups = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopping.set())
    workers = [
        context.Process(target=_worker, args=(settings, fleet_dir), name=f"callgate-worker-{i}")
        for i in range(count)
    ]

    def forward_hangup(*_: object) -> None:
        # O2: every worker re-reads the override (no logging here: a signal handler must not
        # re-enter a log call it may have interrupted; the loop below logs it).
        for process in workers:
            if process.pid is not None and process.is_alive():
                with contextlib.suppress(OSError):
                    os.kill(process.pid, signal.SIGHUP)
        hangups.set()

    signal.signal(signal.SIGHUP, forward_hangup)
    for process in workers:
        _start(process)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGHUP})

    def note_hangups() -> None:
        if hangups.is_set():
            hangups.clear()
            log.info("policy_reload_forwarded", workers=sum(p.is_alive() for p in workers))

    try:
        while not stopping.wait(0.5):
            note_hangups()
            for i, process in enumerate(workers):
                if not process.is_alive():
                    log.warning("worker_restarted", worker=i, exitcode=process.exitcode)
                    with contextlib.suppress(OSError):
                        (fleet_dir / f"{process.pid}.json").unlink()
                    workers[i] = context.Process(
                        target=_worker, args=(settings, fleet_dir), name=process.name
                    )
                    _start(workers[i])
    finally:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGHUP})
        note_hangups()  # one forwarded just before the stop
        for process in workers:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
        shutil.rmtree(metrics_dir, ignore_errors=True)
        shutil.rmtree(fleet_dir, ignore_errors=True)


async def _demo_passwords(settings: Settings) -> list[tuple[str, str, bool]]:
    """The demo callers' own passwords still in force (H2–H4), for the banner."""
    assert settings.database_url is not None
    conn = await db.connect(settings.database_url)
    try:
        return await demo.demo_passwords(conn)
    finally:
        await conn.close()


def _banner(
    settings: Settings,
    samples: list[tuple[str, str]] | None,
    workers: int,
    passwords: list[tuple[str, str, bool]] = [],  # noqa: B006 - read only
) -> None:
    """What a new user needs: the URL, the demo tokens and a caller of each level (stdout, not logs)."""
    url = f"http://{settings.host}:{settings.port}"
    plural = f", {workers} workers" if workers > 1 else ""
    lines = [f"callgate serving on {url}{plural}  (agent page {url}/agent/, Ctrl-C to stop)"]
    if samples is not None:
        lines.append(f"embedded stores under {settings.data_dir.resolve()}")
        lines.append("demo tokens:")
        lines.extend(f"  {role:<6} {branch or '':<9} {token}" for token, role, branch in demo.DEMO_TOKENS)
        lines.extend(f"  agent  {agent:<9} {token}" for token, agent in demo.DEMO_AGENT_TOKENS)  # A1: bound
        if samples:
            lines.append("demo callers: " + ", ".join(f"{level} {msisdn}" for level, msisdn in samples))
        lines.append(
            f"demo service password: {demo.DEMO_PASSWORD} (a tenth of callers: initial, refused on the IVR)"
        )
        for msisdn, password, initial in passwords:
            note = (
                "initial: the IVR refuses it (H3), an agent accepts it"
                if initial
                else "suspended, in arrears"
            )
            lines.append(f"  {msisdn} password {password} ({note})")
    print("\n".join(lines), flush=True)
