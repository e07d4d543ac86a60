"""Running the web view with uvicorn: in the foreground (`expowatch serve`) or in a thread (the demo, tests).

The socket is bound here, before uvicorn starts, so port 0 works and the real address
is known (and printed) before the first request.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
import time

from crawler.web.app import WebConfig, create_app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
START_TIMEOUT_S = 10.0  # uvicorn starts in well under a second; more means something is wrong
POLL_S = 0.02


def is_loopback(host: str) -> bool:
    """True when host only accepts connections from this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free port); OSError when it cannot bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections whose proto says TCP; without
    # it each response on a kept-alive connection waited some 40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def address_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def _server(config: WebConfig):
    import uvicorn

    return uvicorn.Server(uvicorn.Config(create_app(config), log_level="warning", access_log=False,
                                         server_header=False, lifespan="on"))


def _stopped(signum, _frame) -> None:
    raise SystemExit(0)


def serve_forever(config: WebConfig, sock: socket.socket) -> None:
    """Serve on sock until SIGINT/SIGTERM, then exit 0.

    uvicorn's own handlers let open requests finish, then re-send the signal to the
    handlers that were there before: ours, which end the process with status 0 (a
    stop that was asked for is not a failure).
    """
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stopped)
    _server(config).run(sockets=[sock])


class WebServer:
    """The web view served from a background thread: `with WebServer(config) as web: web.url`."""

    def __init__(self, config: WebConfig, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self.config = config
        self.sock = bind(host, port)
        self.url = address_of(self.sock)
        self._server = _server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self.sock]},
                                        name="expowatch-web", daemon=True)

    def start(self) -> "WebServer":
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the web view did not start on {self.url}")
            time.sleep(POLL_S)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(START_TIMEOUT_S)
        self.sock.close()

    def __enter__(self) -> "WebServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
