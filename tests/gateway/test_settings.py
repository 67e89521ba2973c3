"""Settings come from the environment and fail fast with a precise message."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from gateway.settings import Settings, SettingsError


def test_defaults_are_local_development() -> None:
    settings = Settings.from_env({})
    assert settings.embedded and not settings.production
    assert (settings.host, settings.port, settings.policy) == ("127.0.0.1", 8080, "unicom-2015")
    assert settings.data_dir == Path("var")
    assert settings.lookup_budget_ms == 50


def test_urls_set_means_production() -> None:
    settings = Settings.from_env(
        {"CALLGATE_DATABASE_URL": "postgresql://db/x", "CALLGATE_REDIS_URL": "redis://r:6379/0"}
    )
    assert settings.production and not settings.embedded


def test_pinned_clock() -> None:
    settings = Settings.from_env({"CALLGATE_NOW": "2026-11-26T10:00:00+08:00"})
    assert settings.clock() == datetime.fromisoformat("2026-11-26T10:00:00+08:00")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"CALLGATE_PORT": "http"},
            "CALLGATE_PORT='http' is not an integer",
            id="port not a number",
        ),
        pytest.param({"CALLGATE_PORT": "70000"}, "out of range", id="port out of range"),
        pytest.param({"CALLGATE_NOW": "yesterday"}, "not an ISO 8601 timestamp", id="clock not a timestamp"),
        pytest.param({"CALLGATE_NOW": "2026-11-26T10:00:00"}, "has no UTC offset", id="clock without offset"),
        pytest.param(
            {"CALLGATE_DATABASE_URL": "mysql://x"},
            "must start with one of",
            id="wrong database scheme",
        ),
        pytest.param({"CALLGATE_REDIS_URL": "memcached://x"}, "CALLGATE_REDIS_URL", id="wrong redis scheme"),
        pytest.param({"CALLGATE_LOOKUP_BUDGET_MS": "0"}, "out of range", id="zero budget refused"),
        pytest.param({"CALLGATE_LOG_LEVEL": "loud"}, "CALLGATE_LOG_LEVEL", id="unknown log level"),
        pytest.param(
            {"CALLGATE_POLICY_OVERRIDE": "/nonexistent.toml"}, "no such file", id="missing override"
        ),
    ],
)
def test_bad_values_fail_fast(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.from_env(env)


def test_a_replica_url_reads_the_replica_and_needs_a_primary() -> None:
    # rule X2: the replica is optional; it is read only beside a configured primary
    env = {"CALLGATE_DATABASE_URL": "postgresql://db/x", "CALLGATE_DATABASE_REPLICA_URL": "postgresql://ro/x"}
    assert Settings.from_env(env).database_replica_url == "postgresql://ro/x"
    assert Settings.from_env({"CALLGATE_DATABASE_URL": "postgresql://db/x"}).database_replica_url is None
    with pytest.raises(SettingsError, match="needs CALLGATE_DATABASE_URL"):
        Settings.from_env({"CALLGATE_DATABASE_REPLICA_URL": "postgresql://ro/x"})
    with pytest.raises(SettingsError, match="CALLGATE_DATABASE_REPLICA_URL must start with"):
        Settings.from_env({**env, "CALLGATE_DATABASE_REPLICA_URL": "mysql://ro/x"})
