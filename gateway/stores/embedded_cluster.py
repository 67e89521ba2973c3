"""A Redis Cluster on loopback from the same redis-server the embedded mode runs (X1):
masters and replicas made with `redis-cli --cluster create`, for the tests and the
benchmark — a real cluster, its failovers the engine's own.

    cluster = EmbeddedRedisCluster(Path("var/cluster"), masters=3, replicas=1)
    url = cluster.start()        # redis+cluster://127.0.0.1:P1,127.0.0.1:P2,…
    cluster.kill(port)           # SIGKILL one node (its replica takes over)
    cluster.stop()
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from gateway.stores.embedded import EmbeddedStoreError, find_redis_server

#: Milliseconds without an answer before the cluster counts a node as failed; short, so
#: that a killed master's replica takes over in seconds.
NODE_TIMEOUT_MS = 2000


def free_port() -> int:
    """A loopback port that is free, with its cluster-bus port (+10000) free too."""
    for _ in range(200):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port > 55_000:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        return port
    raise EmbeddedStoreError("no free loopback port pair for a cluster node")


def _ask(port: int, *command: str, timeout: float = 1.0) -> bytes:
    """One command to a node (RESP); the raw reply, b"" when the node does not answer."""
    payload = b"*%d\r\n" % len(command) + b"".join(
        b"$%d\r\n%b\r\n" % (len(part.encode()), part.encode()) for part in command
    )
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(payload)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
            sock.settimeout(0.05)  # the rest of a reply already on its way
        return b"".join(chunks)
    return b""


class EmbeddedRedisCluster:
    """`masters` masters with `replicas` replicas each, on loopback ports, under `directory`."""

    def __init__(self, directory: Path, *, masters: int = 3, replicas: int = 1) -> None:
        self.directory = directory.resolve()
        self.masters = masters
        self.replicas = replicas
        self.binary = find_redis_server()
        cli = self.binary.parent / "redis-cli"
        self.cli = cli if cli.exists() else Path(shutil.which("redis-cli") or "redis-cli")
        self.ports: list[int] = []
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def url(self) -> str:
        """The callgate URL of the cluster: every node as a seed."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def _start_node(self, port: int) -> None:
        node_dir = self.directory / str(port)
        node_dir.mkdir(parents=True, exist_ok=True)
        args = [
            str(self.binary), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(node_dir),
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            # A replica may always take over (the default refuses one that lost its master
            # "too long" ago, which a test killing a master on a busy machine may look like).
            "--cluster-replica-validity-factor", "0",
            "--save", "", "--appendonly", "no", "--logfile", str(node_dir / "redis.log"),
            "--maxclients", "4000",
        ]  # fmt: skip
        self.processes[port] = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL)

    def start(self) -> str:
        """Start the nodes, join them into a cluster, wait until every slot is served and
        every replica is in sync; return the URL."""
        if self.directory.exists():
            shutil.rmtree(self.directory)  # a cluster is made fresh each time: node ids change
        self.directory.mkdir(parents=True)
        self.ports = [free_port() for _ in range(self.masters * (1 + self.replicas))]
        for port in self.ports:
            self._start_node(port)
        deadline = time.monotonic() + 20
        for port in self.ports:
            while not _ask(port, "PING").startswith(b"+PONG"):
                if time.monotonic() > deadline or self.processes[port].poll() is not None:
                    self.stop()
                    raise EmbeddedStoreError(f"cluster node {port} did not start")
                time.sleep(0.05)
        created = subprocess.run(
            [str(self.cli), "--cluster", "create", *(f"127.0.0.1:{p}" for p in self.ports),
             "--cluster-replicas", str(self.replicas), "--cluster-yes"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        if created.returncode != 0:
            self.stop()
            raise EmbeddedStoreError(f"redis-cli --cluster create failed: {created.stdout[-800:]}")
        self.wait_stable(60)
        return self.url()

    def info(self, port: int, section: str) -> dict[str, str]:
        """`INFO section` (or CLUSTER INFO for "cluster-info") of one node as a dict."""
        raw = _ask(port, "CLUSTER", "INFO") if section == "cluster-info" else _ask(port, "INFO", section)
        out: dict[str, str] = {}
        for line in raw.decode(errors="replace").splitlines():
            name, sep, value = line.partition(":")
            if sep:
                out[name.strip()] = value.strip()
        return out

    def alive(self) -> list[int]:
        """Ports of the nodes still running."""
        return [p for p in self.ports if self.processes[p].poll() is None]

    def roles(self) -> dict[int, str]:
        """Port → "master" / "slave" for every live node."""
        return {p: self.info(p, "replication").get("role", "?") for p in self.alive()}

    def wait_stable(self, seconds: float) -> None:
        """Until every live node says cluster_state:ok, sees the same masters, and every live
        replica's link to its master is up."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            states = [self.info(p, "cluster-info").get("cluster_state") for p in self.alive()]
            roles = self.roles()
            links = [
                self.info(p, "replication").get("master_link_status")
                for p, r in roles.items()
                if r == "slave"
            ]
            masters = [p for p, r in roles.items() if r == "master"]
            if (
                all(s == "ok" for s in states)
                and all(link == "up" for link in links)
                and len(masters) >= self.masters
            ):
                return
            time.sleep(0.1)
        raise EmbeddedStoreError(f"the cluster did not settle within {seconds:g}s")

    def master_ports(self) -> list[int]:
        """Ports of the live masters that serve slots."""
        return [p for p, r in self.roles().items() if r == "master"]

    def owner(self, slot: int) -> int:
        """The port of the live master serving `slot`."""
        import redis

        for port in self.master_ports():
            client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1.0)
            try:
                ranges = client.execute_command("CLUSTER SLOTS")  # type: ignore[no-untyped-call]  # redis-py leaves it unannotated
                for start, end, master, *_ in ranges:
                    if int(start) <= slot <= int(end):
                        return int(master[1])
            except redis.RedisError:
                continue
            finally:
                client.close()
        raise EmbeddedStoreError(f"no live master serves slot {slot}")

    def kill(self, port: int) -> None:
        """SIGKILL one node (no goodbye: the cluster finds out by its silence)."""
        process = self.processes[port]
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def wait_failover(self, dead: int, seconds: float = 30) -> int:
        """Until a replica of `dead` serves its slots with the cluster ok again; that replica's port."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for port in self.alive():
                if self.info(port, "replication").get("role") != "master":
                    continue
                if self.info(port, "cluster-info").get("cluster_state") != "ok":
                    continue
                slots = _ask(port, "CLUSTER", "SLOTS")
                if b"\r\n:%d\r\n" % dead not in slots:
                    return self._promoted(port, dead)
            time.sleep(0.1)
        raise EmbeddedStoreError(f"no replica took over from {dead} within {seconds:g}s")

    def _promoted(self, asked: int, dead: int) -> int:
        roles = self.roles()
        # The promoted replica: a master now whose port was a replica at start.
        replicas_at_start = self.ports[self.masters :]
        for port, role in roles.items():
            if role == "master" and port in replicas_at_start:
                return port
        return asked

    def stop(self) -> None:
        """SIGKILL every node (their data is a test's, thrown away) and wait for them."""
        for port, process in self.processes.items():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=10)
            del port
