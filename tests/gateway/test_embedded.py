"""The embedded stores: the Redis append-only file (a large one takes a while to read back:
start-up waits for it while the server answers LOADING, then compacts the file), no server
left behind when start-up gives up, and a cluster stopped from any handle."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import redis

from gateway.stores import embedded
from gateway.stores.embedded import EmbeddedPostgres, EmbeddedRedis


def write_aof(path: Path, commands: int, keys: int) -> None:
    """`commands` SETs over `keys` distinct keys, in the append-only file's own format."""
    value = b"x" * 40
    with path.open("wb") as out:
        out.write(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n")
        for i in range(commands):
            name = b"k:%d" % (i % keys)
            out.write(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(name), name, len(value), value))


def test_a_large_append_only_file_is_waited_for_and_compacted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "redis"
    directory.mkdir()
    aof = directory / "appendonly.aof"
    write_aof(aof, 2_500_000, 1_000)
    before = aof.stat().st_size
    # enough to start the process, not to read the file: only LOADING answers keep start() waiting
    monkeypatch.setattr(embedded, "REDIS_START_SECONDS", 0.5)
    monkeypatch.setattr(embedded, "REDIS_AOF_COMPACT_BYTES", 1024 * 1024)
    server = EmbeddedRedis(directory)
    url = server.start()
    try:
        client = redis.Redis.from_url(url)
        assert client.dbsize() == 1_000  # every key read back
        assert client.get("k:999") == b"x" * 40
        for _ in range(200):  # the rewrite runs in the background
            if client.info("persistence")["aof_rewrite_in_progress"] == 0 and aof.stat().st_size < before:
                break
            time.sleep(0.05)
        assert aof.stat().st_size < before // 10  # 2,500,000 SETs compacted to 1,000 keys
        client.close()
        loaded = re.search(
            r"DB loaded from append only file: ([0-9.]+) seconds", (directory / "redis.log").read_text()
        )
        assert loaded is not None and float(loaded.group(1)) > 0.5  # start() outwaited its first deadline
    finally:
        server.stop()


def test_a_server_that_does_not_answer_in_time_is_not_left_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "REDIS_START_SECONDS", 0.0)  # gives up at once
    server = EmbeddedRedis(tmp_path / "redis", durable=False)
    with pytest.raises(embedded.EmbeddedStoreError, match="did not start"):
        server.start()
    assert server.process is not None and server.process.poll() is not None


def test_a_cluster_started_elsewhere_is_stopped_by_a_fresh_handle(tmp_path: Path) -> None:
    # the service, a benchmark or a previous run started it; `stop` must work from a new
    # object too (as root, pg_ctl has to run as the cluster's system user)
    starter = EmbeddedPostgres(tmp_path / "pg", durable=False)
    starter.start()
    try:
        other = EmbeddedPostgres(tmp_path / "pg", durable=False)
        assert other.running()
        other.stop()
        assert not other.running()
    finally:
        starter.stop()
