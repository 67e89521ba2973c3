"""The province's policy in force in this process, held so that it can be replaced whole,
and its hot reload (O2).

Every request reads `holder.current` once and uses that one object throughout, so a
replacement (a hot reload of the provincial override) never mixes two policies in one
decision: the swap is a single attribute assignment. Long-lived services that derive
state from the policy (the lookup's pre-serialised answers) compare `generation` with
the one they built from and rebuild when it moved.

`PolicyReloads.reload` re-reads CALLGATE_POLICY_OVERRIDE: the bytes are read once,
hashed (SHA-256) and validated; a file with faults keeps the policy in force and raises
`PolicyRejected` listing each fault with its key path. With several worker processes
(`callgate serve --workers N`) each process holds its own policy: SIGHUP to the
supervisor is forwarded to every worker, and a reload asked of one worker over HTTP
signals the supervisor too. Each worker writes what it holds to a status file in the
supervisor's directory (`Fleet`), which is how the worker that answers the HTTP request
learns that every other one took the new file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import signal
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from entitlements.errors import PolicyError
from entitlements.policy import Policy, read_policy
from gateway.logs import get_logger
from gateway.services.errors import ServiceError
from gateway.settings import Settings

log = get_logger("policy")
FLEET_WAIT_S = 3.0  # how long a reload over HTTP waits for the other workers to confirm


@dataclass(frozen=True, slots=True)
class InForce:
    """A policy and where it came from: the override file and the SHA-256 of its bytes."""

    policy: Policy
    override: Path | None
    sha256: str | None
    loaded_at: datetime | None


class PolicyHolder:
    """The policy in force; `replace` swaps it atomically for this process."""

    __slots__ = ("_state", "generation")

    def __init__(
        self,
        policy: Policy,
        override: Path | None = None,
        sha256: str | None = None,
        loaded_at: datetime | None = None,
    ) -> None:
        self._state = InForce(policy, override, sha256, loaded_at)
        self.generation = 0

    @property
    def current(self) -> Policy:
        """The policy to decide with (read it once per request)."""
        return self._state.policy

    @property
    def state(self) -> InForce:
        """The policy in force with its override file and hash (one object: never half of two)."""
        return self._state

    def replace(self, policy: Policy, sha256: str | None = None, loaded_at: datetime | None = None) -> None:
        """Put a new policy in force; readers see either the old one or the new one."""
        self._state = InForce(policy, self._state.override, sha256, loaded_at)
        self.generation += 1


def override_bytes(path: Path) -> tuple[bytes, str]:
    """The override file's bytes and their SHA-256 (hex); `PolicyError` if it cannot be read."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise PolicyError(str(path), "", f"cannot read the override: {exc.strerror or exc}") from None
    return data, hashlib.sha256(data).hexdigest()


def load_in_force(settings: Settings) -> PolicyHolder:
    """The deployment's policy with its override, read now (not from `load_policy`'s cache)."""
    path = settings.policy_override
    if path is None:
        return PolicyHolder(read_policy(settings.policy), loaded_at=settings.clock())
    data, sha = override_bytes(path)
    return PolicyHolder(read_policy(settings.policy, path, data), path, sha, settings.clock())


def describe(state: InForce) -> dict[str, Any]:
    """The policy in force as `GET /v1/policy` and `/readyz` show it."""
    policy = state.policy
    return {
        "name": policy.name,
        "version": policy.version,
        "override": str(state.override) if state.override is not None else None,
        "override_sha256": state.sha256,
        "loaded_at": state.loaded_at.isoformat() if state.loaded_at is not None else None,
    }


class PolicyRejected(ServiceError):
    """The override does not validate; the policy in force is kept (`errors`: each fault)."""

    def __init__(self, error: PolicyError, kept: InForce) -> None:
        faults = error.errors
        super().__init__(
            "invalid_override",
            f"the override does not validate ({len(faults)} fault{'s' if len(faults) > 1 else ''}); "
            f"the policy in force is kept: {kept.policy.name} {kept.policy.version}",
            errors=[{"file": f.file, "key": f.key, "problem": f.problem} for f in faults],
            policy=describe(kept),
        )
        self.faults = faults


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a reload did: `changed` (a new file is in force) or not (same bytes, or no override)."""

    changed: bool
    state: InForce
    reason: str = ""


class Fleet:
    """The worker processes of one `callgate serve --workers N`: a status file each, and the
    supervisor that forwards SIGHUP to all of them."""

    def __init__(self, directory: Path, supervisor: int) -> None:
        self.directory = directory
        self.supervisor = supervisor
        self.pid = os.getpid()

    def publish(self, state: InForce, generation: int, last: dict[str, Any]) -> None:
        """Write this worker's policy (atomically: readers never see half a file)."""
        body = {"pid": self.pid, **describe(state), "generation": generation, "last": last}
        temporary = self.directory / f".{self.pid}.tmp"
        temporary.write_bytes(orjson.dumps(body))
        os.replace(temporary, self.directory / f"{self.pid}.json")

    def withdraw(self) -> None:
        """Remove this worker's status file (it is stopping)."""
        with contextlib.suppress(OSError):
            (self.directory / f"{self.pid}.json").unlink()

    def tell_others(self) -> bool:
        """Ask the supervisor to forward SIGHUP to every worker; False if it is gone."""
        try:
            os.kill(self.supervisor, signal.SIGHUP)
        except OSError:
            return False
        return True

    def statuses(self) -> list[dict[str, Any]]:
        """Every live worker's status, by pid."""
        found = []
        for path in sorted(self.directory.glob("*.json")):
            try:
                status = orjson.loads(path.read_bytes())
                os.kill(int(status["pid"]), 0)  # a worker that died without withdrawing is skipped
            except (OSError, ValueError, KeyError, orjson.JSONDecodeError):
                continue
            found.append(status)
        return found

    async def confirmations(self, sha256: str | None, timeout: float = FLEET_WAIT_S) -> dict[str, Any]:
        """Wait until every worker holds the file with `sha256` (or the timeout); who did, who not."""
        deadline = time.monotonic() + timeout
        while True:
            statuses = self.statuses()
            pending = [s["pid"] for s in statuses if s.get("override_sha256") != sha256]
            if not pending or time.monotonic() >= deadline:
                return {
                    "total": len(statuses),
                    "confirmed": len(statuses) - len(pending),
                    "pending": pending,
                    "all": not pending,
                }
            await asyncio.sleep(0.02)


class PolicyReloads:
    """Re-reading the override into the holder, for SIGHUP and `POST /v1/admin/policy/reload`."""

    def __init__(self, holder: PolicyHolder, settings: Settings) -> None:
        self.holder = holder
        self.settings = settings
        self.fleet: Fleet | None = None  # set by `callgate serve --workers N` in each worker
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self) -> None:
        """Announce this worker's policy to the fleet (a no-op for a single process)."""
        self._publish({"trigger": "start", "outcome": "loaded", "at": self.settings.clock().isoformat()})

    def stop(self) -> None:
        """Leave the fleet."""
        if self.fleet is not None:
            self.fleet.withdraw()

    def _publish(self, last: dict[str, Any]) -> None:
        if self.fleet is not None:
            try:
                self.fleet.publish(self.holder.state, self.holder.generation, last)
            except OSError as exc:  # the status is for the reload's answer; the reload stands
                log.warning("policy_status_unwritten", error=str(exc))

    async def reload(self, trigger: str) -> Outcome:
        """Re-read the override; swap the policy if its bytes changed and validate.

        Raises `PolicyRejected` (the policy in force is kept) when the file has faults.
        """
        async with self._lock:
            return self._reload(trigger)

    def _reload(self, trigger: str) -> Outcome:
        kept = self.holder.state
        at = self.settings.clock().isoformat()
        path = self.settings.policy_override
        if path is None:
            reason = "no override configured (CALLGATE_POLICY_OVERRIDE is unset)"
            log.info("policy_reload_skipped", trigger=trigger, reason=reason)
            return Outcome(False, kept, reason)
        try:
            data, sha = override_bytes(path)
            if sha == kept.sha256:
                log.info("policy_reload_unchanged", trigger=trigger, override_sha256=sha)
                self._publish({"trigger": trigger, "outcome": "unchanged", "at": at})
                return Outcome(False, kept, "the file is unchanged")
            # Parsing takes a few milliseconds on the event loop: one pause, no half states.
            policy = read_policy(self.settings.policy, path, data)
        except PolicyError as exc:
            rejected = PolicyRejected(exc, kept)
            log.warning(
                "policy_reload_rejected",
                trigger=trigger,
                errors=[str(fault) for fault in exc.errors],
                kept_version=kept.policy.version,
                kept_sha256=kept.sha256,
            )
            self._publish(
                {"trigger": trigger, "outcome": "rejected", "at": at, "errors": rejected.extra["errors"]}
            )
            raise rejected from None
        self.holder.replace(policy, sha, self.settings.clock())
        log.info(
            "policy_reloaded",
            trigger=trigger,
            name=policy.name,
            version=policy.version,
            override_sha256=sha,
            generation=self.holder.generation,
        )
        self._publish({"trigger": trigger, "outcome": "reloaded", "at": at})
        return Outcome(True, self.holder.state)

    def hangup(self) -> None:
        """SIGHUP: reload in the background (the signal handler must not wait)."""
        task = asyncio.get_running_loop().create_task(self._on_hangup())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _on_hangup(self) -> None:
        with contextlib.suppress(PolicyRejected):  # logged by the reload; the policy in force stays
            await self.reload("sighup")

    async def propagate(self, outcome: Outcome) -> dict[str, Any]:
        """After a reload asked of this worker: tell the others and report who holds the file."""
        if self.fleet is None:
            return {"total": 1, "confirmed": 1, "pending": [], "all": True}
        told = self.fleet.tell_others()
        report = await self.fleet.confirmations(outcome.state.sha256)
        return {**report, "told": told}
