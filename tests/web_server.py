"""`expowatch serve` as a real process for tests: started on port 0, its printed address read back."""

from __future__ import annotations

import queue
import re
import subprocess
import sys
import threading
import time

ADDRESS = re.compile(r"read-only at (http://\S+/)")
START_TIMEOUT_S = 60  # a cold interpreter imports Starlette, SQLAlchemy and the taxonomy: seconds on a busy machine


class ServeProcess:
    """`expowatch serve ARGS --port 0`; .url once it listens; stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, *args: str, env: dict[str, str]):
        self.proc = subprocess.Popen([sys.executable, "-m", "crawler.cli", "serve", "--port", "0", *args],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
        self.lines: queue.Queue[str] = queue.Queue()
        self.stderr: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = self._wait_for_address()

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            found = ADDRESS.search(line)
            if found:
                return found.group(1)
        self.stop()
        raise AssertionError(f"expowatch serve did not start: {''.join(self.stderr)}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._reader.join(10)
        self.proc.stderr.close()
        return self.proc.returncode

    def __enter__(self) -> ServeProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
