"""Redis Cluster (X1): the `redis+cluster://` URL, key slots, and the redis-py client for
everything off the lookup's hot path.

`CALLGATE_REDIS_URL=redis+cluster://[user:password@]host:port[,host:port…]` names any seed
nodes of the cluster; the clients learn the rest (CLUSTER SLOTS) and follow MOVED/ASK and
failovers. Every key that a command or a Lua script uses together with another shares a
hash tag (``{MSISDN}``, ``{desk:NAME}``, ``{agent:ID}``), so each script touches one slot;
keys always used alone (``call:…``, ``ca:…``) are spread by the hash of the whole key.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, unquote

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster

SCHEME = "redis+cluster"
SLOTS = 16384


class ClusterUrlError(ValueError):
    """A `redis+cluster://` URL that names no usable seed node."""


@dataclass(frozen=True, slots=True)
class ClusterAddress:
    """A parsed `redis+cluster://` URL: the seed nodes and the credentials every node takes."""

    seeds: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None

    def node_url(self, host: str, port: int) -> str:
        """The plain `redis://` URL of one node, with the cluster's credentials."""
        auth = ""
        if self.password is not None:
            user = self.username or ""
            auth = f"{_quote(user)}:{_quote(self.password)}@"
        return f"redis://{auth}{host}:{port}"


def _quote(text: str) -> str:
    return quote(text, safe="")


def is_cluster(url: str | None) -> bool:
    """Whether a CALLGATE_REDIS_URL names a Redis Cluster."""
    return url is not None and url.startswith(SCHEME + "://")


def parse(url: str) -> ClusterAddress:
    """`redis+cluster://[user:pass@]h1:p1,h2:p2` → seeds and credentials (ClusterUrlError if unusable)."""
    if not is_cluster(url):
        raise ClusterUrlError(f"not a {SCHEME}:// URL")
    rest = url[len(SCHEME) + 3 :].split("?", 1)[0].rstrip("/")
    username = password = None
    if "@" in rest:
        userinfo, rest = rest.rsplit("@", 1)
        user, _, secret = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(secret) if secret else None
    seeds: list[tuple[str, int]] = []
    for part in rest.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ClusterUrlError(f"seed {part.strip()!r} is not host:port")
        seeds.append((host.strip("[]"), int(port)))
    return ClusterAddress(tuple(seeds), username, password)


def key_slot(key: bytes) -> int:
    """The cluster slot of a key: CRC16 (XMODEM, what `binascii.crc_hqx` computes) of its
    hash tag — the part between the first ``{`` and the next ``}`` when not empty — mod 16384."""
    start = key.find(b"{")
    if start >= 0:
        end = key.find(b"}", start + 1)
        if end > start + 1:
            key = key[start + 1 : end]
    return binascii.crc_hqx(key, 0) & (SLOTS - 1)


def client(url: str, **options: Any) -> Redis:
    """The redis-py client for `url`: `RedisCluster` for a cluster URL, else `Redis.from_url`.

    Typed as `Redis`: the services use only commands both clients offer (single-key
    commands, registered scripts, SCAN, pub/sub, DEL — which the cluster client splits by
    slot). The one place that reaches under the command API (`cache.write_records`, the
    connection pool) checks for the cluster client itself.
    """
    if not is_cluster(url):
        return Redis.from_url(url, **options)
    address = parse(url)
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in address.seeds],
        username=address.username,
        password=address.password,
        **options,
    )
    return cast(Redis, cluster)  # see the docstring: the command API the services use is shared


def is_cluster_client(redis: object) -> bool:
    """Whether a redis-py client (from `client`) talks to a cluster."""
    return isinstance(redis, RedisCluster)
