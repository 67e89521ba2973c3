"""Settings: one frozen dataclass built once from the environment (SPEC §6)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from gateway.stores import cluster


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable and the fix."""


def _parse_now(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise SettingsError(
            f"CALLGATE_NOW={raw!r} is not an ISO 8601 timestamp (e.g. 2026-11-26T10:00:00+08:00)"
        ) from exc
    if value.tzinfo is None:
        raise SettingsError(
            f"CALLGATE_NOW={raw!r} has no UTC offset; write it like 2026-11-26T10:00:00+08:00"
        )
    return value


def _parse_int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise SettingsError(f"{name}={raw!r} is not an integer") from exc
    if not lo <= value <= hi:
        raise SettingsError(f"{name}={value} is out of range [{lo}, {hi}]")
    return value


def _parse_url(env: Mapping[str, str], name: str, schemes: tuple[str, ...]) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return None
    if not raw.startswith(tuple(f"{s}://" for s in schemes)):
        raise SettingsError(f"{name} must start with one of {', '.join(s + '://' for s in schemes)}")
    return raw


def _parse_redis_url(env: Mapping[str, str]) -> str | None:
    """CALLGATE_REDIS_URL: one Redis, or a Redis Cluster by any of its nodes (X1)."""
    url = _parse_url(env, "CALLGATE_REDIS_URL", ("redis", "rediss", "unix", cluster.SCHEME))
    if cluster.is_cluster(url):
        assert url is not None
        try:
            cluster.parse(url)
        except cluster.ClusterUrlError as exc:
            raise SettingsError(
                f"CALLGATE_REDIS_URL: {exc} (expected redis+cluster://host:port[,host:port…])"
            ) from None
    return url


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable; see the README's configuration table."""

    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8080
    now: datetime | None = None
    policy: str = "unicom-2015"
    policy_override: Path | None = None
    lookup_budget_ms: int = 50
    log_key: str | None = None
    log_level: str = "info"
    workers: int = 1
    sms_gateway_url: str | None = None
    rate_limit: int = 50
    machine_rate_limit: int = 20000
    #: H1: how long a call's number is remembered for own-number verification (≥ 2 h).
    call_memory_s: int = 7200
    #: X2: a streaming replica for lookup misses and read-only views (None: the primary only).
    database_replica_url: str | None = None

    @property
    def embedded(self) -> bool:
        """True when callgate starts its own PostgreSQL and Redis."""
        return self.database_url is None or self.redis_url is None

    @property
    def production(self) -> bool:
        """Both store URLs set: nothing embedded, no demo data."""
        return self.database_url is not None and self.redis_url is not None

    def clock(self) -> datetime:
        """The current instant: CALLGATE_NOW when pinned, else the system clock."""
        return self.now if self.now is not None else datetime.now(UTC)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build and validate the settings, failing fast with a precise message."""
        env = os.environ if env is None else env
        now_raw = env.get("CALLGATE_NOW", "").strip()
        level = env.get("CALLGATE_LOG_LEVEL", "info").lower()
        if level not in {"debug", "info", "warning", "error"}:
            raise SettingsError(f"CALLGATE_LOG_LEVEL={level!r}: use debug, info, warning or error")
        policy = env.get("CALLGATE_POLICY", "unicom-2015").strip()
        if not policy:
            raise SettingsError("CALLGATE_POLICY is empty; unset it or name a policy")
        override = env.get("CALLGATE_POLICY_OVERRIDE", "").strip()
        override_path = Path(override) if override else None
        if override_path is not None and not override_path.is_file():
            raise SettingsError(f"CALLGATE_POLICY_OVERRIDE={override!r}: no such file")
        replica = _parse_url(env, "CALLGATE_DATABASE_REPLICA_URL", ("postgresql", "postgres"))
        if replica is not None and not env.get("CALLGATE_DATABASE_URL", "").strip():
            raise SettingsError("CALLGATE_DATABASE_REPLICA_URL needs CALLGATE_DATABASE_URL (the primary)")
        return cls(
            database_url=_parse_url(env, "CALLGATE_DATABASE_URL", ("postgresql", "postgres")),
            redis_url=_parse_redis_url(env),
            data_dir=Path(env.get("CALLGATE_DATA_DIR", "").strip() or "var"),
            host=env.get("CALLGATE_HOST", "").strip() or "127.0.0.1",
            port=_parse_int(env, "CALLGATE_PORT", 8080, 0, 65535),
            now=_parse_now(now_raw) if now_raw else None,
            policy=policy,
            policy_override=override_path,
            lookup_budget_ms=_parse_int(env, "CALLGATE_LOOKUP_BUDGET_MS", 50, 1, 10_000),
            log_key=env.get("CALLGATE_LOG_KEY") or None,
            log_level=level,
            workers=_parse_int(env, "CALLGATE_WORKERS", 1, 1, 64),
            sms_gateway_url=_parse_url(env, "CALLGATE_SMS_URL", ("http", "https")),
            rate_limit=_parse_int(env, "CALLGATE_RATE_LIMIT", 50, 1, 1_000_000),
            machine_rate_limit=_parse_int(env, "CALLGATE_MACHINE_RATE_LIMIT", 20_000, 1, 10_000_000),
            call_memory_s=_parse_int(env, "CALLGATE_CALL_MEMORY_S", 7200, 7200, 7 * 86400),
            database_replica_url=replica,
        )
