"""`expowatch demo --serve` as a user runs it: a store crawled, a next round to publish, a clean stop."""

from __future__ import annotations

import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import func, select

from storage.engine import session_factory
from storage.models import Article

pytestmark = pytest.mark.integration  # starts the replica web and crawls it

STARTUP_DEADLINE = 240  # seconds: round one is a real crawl of six sites


class Served:
    """A running `demo --serve` and the lines it has printed so far."""

    def __init__(self, args: list[str], env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "demo", "--serve", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, deadline: float) -> re.Match:
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                assert self.proc.poll() is None, "\n".join(self.seen)
                continue
            self.seen.append(line)
            if found := re.search(pattern, line):
                return found
        raise AssertionError(f"no line matching {pattern!r} in time:\n" + "\n".join(self.seen))

    def stop(self, signum: int) -> int:
        self.proc.send_signal(signum)
        code = self.proc.wait(timeout=60)
        self.reader.join(timeout=30)  # stdout is closed: the reader has every line
        self.proc.stdout.close()
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return code


def free_port_range(n: int) -> int:
    """A port p with p .. p+n-1 free on 127.0.0.1 just now."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + n >= 65535:
            continue
        socks = []
        try:
            for port in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free port range")


def articles_in(db: Path) -> int:
    with session_factory(f"sqlite:///{db}", for_writing=False)() as session:
        return session.scalar(select(func.count()).select_from(Article))


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_serve_crawls_into_db_publishes_the_next_round_and_cleans_up(tmp_path, cli_env, run_cli, stop_with):
    db = tmp_path / "served.db"
    port = free_port_range(7)
    served = Served(["--db", str(db), "--port", str(port)], cli_env)
    try:
        sources_file = Path(served.wait_for(r"^# sources file: (\S+)$", STARTUP_DEADLINE).group(1))
        served.wait_for(rf'^# try: expowatch search --db sqlite:///{re.escape(str(db))} "Smart China Expo"$', 10)
        crawl_line = served.wait_for(r"^#      expowatch crawl (.+)$", 10).group(1)
        assert crawl_line == f"--sources-file {sources_file} --db sqlite:///{db}"
        admin = served.wait_for(r"^# publish the next round: curl -X POST (http://127\.0\.0\.1:(\d+)/\S+)$", 10)
        ports = served.wait_for(r"^# serving on 127\.0\.0\.1 ports ([\d, ]+); Ctrl-C stops$", 10).group(1)
        assert [int(p) for p in ports.split(", ")] == list(range(port, port + 6))
        assert int(admin.group(2)) == port + 6
        first = articles_in(db)
        assert first >= 40  # round one was crawled into --db

        request = urllib.request.Request(admin.group(1), method="POST")
        with urllib.request.urlopen(request, timeout=30) as answer:
            published = answer.read().decode()
        count = int(re.fullmatch(r"published round 2: (\d+) new articles \(crawl again to fetch them\)\n",
                                 published).group(1))
        served.wait_for(r"^published round 2:", 10)
        proc = run_cli("crawl", "--sources-file", str(sources_file), "--db", str(db), "--quiet", timeout=240)
        assert proc.returncode == 0, proc.stderr
        assert articles_in(db) == first + count
        assert sources_file.parent.is_dir()
    finally:
        code = served.stop(stop_with)
    assert code == 0
    assert "stopped" in served.seen
    assert not sources_file.parent.exists()  # the temporary folder is gone
    assert db.is_file()  # the user's store stays


def test_port_in_use_is_one_line(tmp_path, run_cli):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = run_cli("demo", "--serve", "--port", str(port), "--db", str(tmp_path / "d.db"))
    assert proc.returncode == 1 and proc.stderr.count("\n") == 1
    assert proc.stderr.startswith(f"expowatch: error: cannot serve the replica on 127.0.0.1 port {port} to {port + 6}:")


def test_port_without_serve_is_a_usage_error(run_cli):
    proc = run_cli("demo", "--port", "8000")
    assert proc.returncode == 2 and proc.stderr == "expowatch: error: --port is for --serve\n"
