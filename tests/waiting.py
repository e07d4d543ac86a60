"""Waiting for another process or thread: poll an observable condition with a deadline.

The one way tests wait (never a sleep for synchronisation): the store, Redis or a server
written by someone else is read until the condition holds, the deadline passes, or the
process being waited on ends first.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

POLL_S = 0.02  # seconds between looks: short beside any wait a test does, long beside a cheap read


def wait_until(condition: Callable[[], T], what: str, *, timeout: float = 60.0, interval: float = POLL_S,
               alive: Callable[[], bool] | None = None, error: type[Exception] = AssertionError) -> T:
    """Return condition()'s first true value; raise `error` naming `what` after `timeout` seconds,
    or as soon as alive() is false (the process that would make it true has ended)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if alive is not None and not alive():
            raise error(f"{what}: the process ended first")
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)  # polling: the other side gives no signal of its own


def wait_until_serving(process: subprocess.Popen, log: Path, accepts: Callable[[], bool], what: str, *,
                       timeout: float, error: type[Exception]) -> None:
    """Wait until a server process accepts connections; raise `error` with its log's tail if it exits first."""

    def ready() -> bool:
        if process.poll() is not None:
            raise error(f"{what} exited: {log.read_text()[-2000:]}")
        return accepts()

    wait_until(ready, f"{what} to accept connections", timeout=timeout, error=error)
