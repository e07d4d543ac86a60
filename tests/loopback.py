"""An HTTP server on 127.0.0.1, port 0, served from a daemon thread: the base of the tests' scripted sites."""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

POLL_SECONDS = 0.05  # how soon stop() stops the server (the default 0.5 s adds up over many tests)


class QuietServer(ThreadingHTTPServer):
    """A threading server that does not print a traceback when a client hangs up mid-answer."""

    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        if not isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)


class QuietServer6(QuietServer):
    """QuietServer on an IPv6 address."""

    address_family = socket.AF_INET6


def serve(answer: Callable[[BaseHTTPRequestHandler], None], *, protocol_version: str = "HTTP/1.0",
          address: str = "127.0.0.1", port: int = 0, poll_interval: float = POLL_SECONDS) -> QuietServer:
    """Serve GET requests with answer(request) on address (127.0.0.1, a free port by default) from a
    daemon thread; stop with stop()."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            answer(self)

        def log_message(self, *args: object) -> None:
            pass  # the tests read what arrived from the site's own record

    Handler.protocol_version = protocol_version
    httpd = (QuietServer6 if ":" in address else QuietServer)((address, port), Handler)
    threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": poll_interval}, daemon=True).start()
    return httpd


def stop(httpd: ThreadingHTTPServer) -> None:
    """Stop serving and close the listening socket."""
    httpd.shutdown()
    httpd.server_close()
