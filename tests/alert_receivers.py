"""Real receivers for alert tests: an SMTP server (aiosmtpd) and an HTTP webhook receiver, on 127.0.0.1.

Both listen on port 0 (the system picks a free port) and record what arrived, so
tests can wait for messages with a deadline instead of sleeping.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

from aiosmtpd.smtp import SMTP

WAIT_S = 60  # any single expected message may take this long on a loaded machine


def wait_until(condition: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition") -> None:
    """Poll condition until it holds, failing after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


class SmtpReceiver:
    """An SMTP server in a thread: every mail it accepts, parsed, in .messages."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="smtp-receiver", daemon=True)
        self.port = 0

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's handler hook name)
        self.messages.append(email.message_from_bytes(envelope.original_content or envelope.content,
                                                      policy=email.policy.default))
        return "250 OK"

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            self._loop.create_server(lambda: SMTP(self, hostname="receiver.test"), "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()
        self._loop.run_until_complete(server.wait_closed())
        self._loop.close()

    def __enter__(self) -> "SmtpReceiver":
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def url(self, to: str = "analyst@example.org") -> str:
        """An Apprise mail URL to this server (plain SMTP, no login)."""
        return f"mailto://127.0.0.1:{self.port}?smtp=127.0.0.1&from=expowatch@example.org&to={to}&mode=insecure"


class WebhookReceiver:
    """An HTTP server recording every POST (headers and JSON body); it answers 503 to the first
    `fail_first` requests, refuses connections between stop() and start(), and while `hold` is
    set it records a POST but keeps the sender waiting for the answer (.holding counts them)."""

    def __init__(self, fail_first: int = 0) -> None:
        self.fail_first = fail_first
        self.hold = threading.Event()
        self.released = threading.Event()
        self.holding = 0
        self.requests: list[tuple[dict[str, str], dict]] = []  # the ones answered 200
        self.refused = 0  # requests answered 503
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> "WebhookReceiver":
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    failing = receiver.refused < receiver.fail_first
                    if failing:
                        receiver.refused += 1
                    else:
                        receiver.requests.append((dict(self.headers), json.loads(body)))
                        held = receiver.hold.is_set()
                        receiver.holding += held
                if not failing and held:
                    receiver.released.wait(WAIT_S)
                self.send_response(503 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(10)
            self._server = None

    def __enter__(self) -> "WebhookReceiver":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, path: str = "hook") -> str:
        return f"json://127.0.0.1:{self.port}/{path}"

    def documents(self) -> list[dict]:
        """The alert documents received (the JSON in each POST's message field)."""
        return [json.loads(body["message"]) for _, body in self.requests]
