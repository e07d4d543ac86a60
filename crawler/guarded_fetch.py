"""One page fetched outside a crawl (`expowatch extract URL`), under the crawl's own rules.

Every hop is checked by the SSRF guard (crawler/safety.py) and connected to the address
that was checked, redirects are followed only as far as REDIRECT_MAX_TIMES, and the body is
cut off at DOWNLOAD_MAXSIZE and DOWNLOAD_TIMEOUT: the caps of crawler/settings.py.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from crawler import settings as crawl_defaults
from crawler.safety import NO_ALLOWANCE, Address, AllowList, Resolver, Target, checked_addresses, system_resolver

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


class FetchFailed(Exception):
    """The page could not be fetched; the message says why (refused, too large, HTTP status ...)."""


@dataclass(frozen=True)
class FetchedBody:
    """What one fetch returned: the body, the charset the server named, and the final URL."""

    body: bytes
    http_charset: str | None
    url: str


def fetch_page(url: str, *, allow_private: bool = False, allow: AllowList = NO_ALLOWANCE,
               resolver: Resolver = system_resolver, max_bytes: int = crawl_defaults.DOWNLOAD_MAXSIZE,
               timeout: float = crawl_defaults.DOWNLOAD_TIMEOUT,
               max_redirects: int = crawl_defaults.REDIRECT_MAX_TIMES) -> FetchedBody:
    """GET url as a crawl would; FetchFailed (or safety.AddressRefused) says why not."""
    for _ in range(max_redirects + 1):
        addresses, _checked = checked_addresses(url, resolver=resolver, allow=allow, check=not allow_private)
        target = Target.of(url)
        connection = _connect(target, addresses, timeout)
        try:
            parts = urlsplit(url)
            connection.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), headers={
                "User-Agent": crawl_defaults.USER_AGENT, "Accept-Encoding": "identity"})
            response = connection.getresponse()
            location = response.getheader("Location")
            if response.status in REDIRECT_STATUSES and location:
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise FetchFailed(f"HTTP {response.status}")
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise FetchFailed(f"body of {declared} bytes is larger than DOWNLOAD_MAXSIZE ({max_bytes} bytes)")
            body = response.read(max_bytes + 1)
            if len(body) > max_bytes:
                raise FetchFailed(f"body larger than DOWNLOAD_MAXSIZE ({max_bytes} bytes)")
            return FetchedBody(body, response.headers.get_content_charset(), url)
        except (OSError, http.client.HTTPException) as exc:
            raise FetchFailed(f"{type(exc).__name__}: {exc}") from None
        finally:
            connection.close()
    raise FetchFailed(f"max redirections reached ({max_redirects})")


def _connect(target: Target, addresses: list[Address], timeout: float) -> http.client.HTTPConnection:
    """An HTTP(S) connection to host whose socket goes to the first reachable checked address."""
    error: OSError | None = None
    for address in addresses:
        try:
            sock = socket.create_connection((str(address), target.port), timeout=timeout)
            break
        except OSError as exc:
            error = exc
    else:
        raise FetchFailed(f"cannot connect to {target.host}: {error}")
    if target.scheme == "https":
        context = ssl.create_default_context()
        connection = http.client.HTTPSConnection(target.host, target.port, timeout=timeout, context=context)
        try:
            sock = context.wrap_socket(sock, server_hostname=target.host)
        except OSError as exc:
            sock.close()
            raise FetchFailed(f"TLS with {target.host} failed: {exc}") from None
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=timeout)
    connection.sock = sock  # the request goes over this socket: the checked address, not a new lookup
    return connection
