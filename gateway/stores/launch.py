"""Resolve the store URLs: the configured ones, or embedded servers under the data dir."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gateway.settings import Settings
from gateway.stores.embedded import EmbeddedPostgres, EmbeddedRedis


@dataclass(slots=True)
class Stores:
    """Resolved settings plus the embedded servers this process started (if any)."""

    settings: Settings
    postgres: EmbeddedPostgres | None = None
    redis: EmbeddedRedis | None = None
    started_postgres: bool = False
    started_redis: bool = False

    def stop(self, *, only_started_here: bool = True) -> None:
        """Stop the embedded servers (by default only those this process started)."""
        if self.redis is not None and (self.started_redis or not only_started_here):
            self.redis.stop()
        if self.postgres is not None and (self.started_postgres or not only_started_here):
            self.postgres.stop()


def start_stores(settings: Settings, *, need_redis: bool = True) -> Stores:
    """Start what is not configured; return settings with both URLs filled in."""
    stores = Stores(settings)
    database_url, redis_url = settings.database_url, settings.redis_url
    if database_url is None:
        stores.postgres = EmbeddedPostgres(settings.data_dir / "postgres")
        stores.started_postgres = not stores.postgres.running()
        database_url = stores.postgres.start()
    if redis_url is None and need_redis:
        stores.redis = EmbeddedRedis(settings.data_dir / "redis")
        stores.started_redis = not stores.redis.running()
        redis_url = stores.redis.start()
    stores.settings = dataclasses.replace(settings, database_url=database_url, redis_url=redis_url)
    return stores
