"""X1: what routing by slot costs the lookup's Redis client — process CPU per GET of
`PipelinedRedis` against one Redis (unix socket and TCP) and against a 3-master + 3-replica
Redis Cluster on loopback, 32 concurrent GET loops as a busy lookup has in flight.

    .venv/bin/python benchmarks/bench_cluster_get.py [--gets 40000] [--rounds 3]

CPU time (not wall time) is what the gateway's one core spends, and it varies far less than
throughput on a shared machine. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from gateway.stores.embedded_cluster import EmbeddedRedisCluster, free_port
from gateway.stores.fastredis import PipelinedRedis

CONCURRENCY = 32
KEYS = [f"s:{{186{i:08d}}}".encode() for i in range(2000)]


async def cpu_per_get(url: str, gets: int) -> float:
    """Microseconds of this process's CPU per GET (the best of three passes)."""
    fast = PipelinedRedis(url, connections=2)  # as the lookup opens it
    await fast.execute([(b"SET", k, b"x" * 40) for k in KEYS], 5.0)

    async def loop(i: int) -> None:
        for j in range(gets // CONCURRENCY):
            await fast.get(KEYS[(i * 7919 + j) % len(KEYS)], 1.0)

    best = float("inf")
    try:
        for _ in range(3):
            started = time.process_time()
            await asyncio.gather(*(loop(i) for i in range(CONCURRENCY)))
            best = min(best, (time.process_time() - started) / gets * 1e6)
    finally:
        await fast.close()
    return best


async def measure(urls: dict[str, str], gets: int, rounds: int) -> None:
    """Alternate the targets `rounds` times; print a line per round."""
    for n in range(rounds):
        results = {name: await cpu_per_get(url, gets) for name, url in urls.items()}
        row = ", ".join(f"{name} {us:.1f} µs" for name, us in results.items())
        print(f"round {n + 1}: client CPU per GET: {row}", flush=True)


def main() -> None:
    """Start the stores, measure, stop them."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gets", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    rig = EmbeddedRedisCluster(work / "cluster")
    cluster_url = rig.start()
    port = free_port()
    socket = work / "single.sock"
    single = subprocess.Popen(
        [str(rig.binary), "--port", str(port), "--unixsocket", str(socket), "--save", "",
         "--appendonly", "no", "--dir", str(work)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        urls = {
            "one Redis (unix)": f"unix://{socket}",
            "one Redis (tcp)": f"redis://127.0.0.1:{port}",
            "cluster 3+3 (tcp)": cluster_url,
        }
        asyncio.run(measure(urls, args.gets, args.rounds))
    finally:
        rig.stop()
        single.kill()
        single.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
