"""SSRF guard: a source reaches only public addresses, unless it says otherwise.

Every request a crawl sends (start URLs, articles, each redirect hop, meta refreshes,
robots.txt) passes AddressGuardMiddleware before anything else: its host is resolved
here (getaddrinfo, in a thread) and the request is refused when ANY address it resolves
to is loopback, private, link-local (cloud metadata at 169.254.169.254), multicast,
reserved, unspecified or otherwise not globally routable, including IPv4 addresses
wrapped in IPv6 (::ffff:a.b.c.d, 6to4, Teredo, NAT64). Only http and https are fetched.

A source with `allow_private_addresses = true` (intranet sites, the replica web, tests)
skips the address check; the scheme check still applies. An operator may allow single
hosts or networks for every source with EXPOWATCH_ALLOWED_PRIVATE_HOSTS (comma-separated
`host`, `host:port` or CIDR network), e.g. an intranet mirror at 10.2.0.0/16.

The address that was checked is the address connected to, IPv4 and IPv6 alike: the guard
pins the addresses it accepted for the host, and PinnedNameResolver, installed as the
reactor's name resolver by the guard and by the download handler, answers connections
from those pins only. Nothing resolves the name a second time, so a name that answers
"public" to the check and "private" a moment later (DNS rebinding) still reaches only the
checked address, whatever the DNS settings (DNSCACHE_ENABLED, DNS_RESOLVER) say. A host
no guard looked up resolves to nothing, and the handler refuses a request the guard did
not pass.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from scrapy.exceptions import IgnoreRequest
from scrapy.http import Request
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import IHostnameResolver, IHostResolution, IResolutionReceiver
from twisted.internet.threads import deferToThread
from zope.interface import implementer

logger = logging.getLogger(__name__)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
# host, port -> the addresses (as text) the host resolves to; raises OSError when it cannot.
Resolver = Callable[[str, int], Iterable[str]]

ALLOWED_SCHEMES = frozenset({"http", "https"})  # file:, ftp:, s3:, data: would read what no site serves
DEFAULT_PORTS = {"http": 80, "https": 443}
ALLOW_ENV = "EXPOWATCH_ALLOWED_PRIVATE_HOSTS"
ALLOW_SETTING = ALLOW_ENV
STAT_CHECKED = "expowatch/addresses/checked"
STAT_REFUSED = "expowatch/addresses/refused"
# Request meta key: the host the guard passed this request for (the handler refuses others).
GUARDED = "expowatch_guarded_host"
# The Source a request is for, when its crawler's spider is not that source's (the engine's
# pre-check sends many sources' requests through one crawler: crawler.engine.precheck).
REQUEST_SOURCE = "expowatch_source"


def source_of(request: Request, spider: Any) -> Any:
    """The Source declaration request is fetched for: named in its meta, else the spider's (or None)."""
    return request.meta.get(REQUEST_SOURCE) or getattr(spider, "source", None)
# Hosts whose addresses are remembered for connections. A crawl meets a few hundred hosts; a
# pin that falls out is looked up and checked again by the guard on the next request.
PIN_CAPACITY = 20_000
# Cloud instance-metadata services: named in the refusal, since reaching one is the classic SSRF prize.
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean
    "fd00:ec2::254",  # AWS over IPv6
    "100.100.100.200",  # Alibaba Cloud
))
NAT64_PREFIX = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052: the last 32 bits are an IPv4 address
# The ipaddress flags that make an address unfit, checked in this order (the first names the reason).
NON_PUBLIC_FLAGS = (
    ("is_unspecified", "an unspecified address"),
    ("is_loopback", "a loopback address"),
    ("is_link_local", "a link-local address"),
    ("is_site_local", "a site-local address"),  # fec0::/10, deprecated but still routed inside some networks
    ("is_multicast", "a multicast address"),
    ("is_private", "a private address"),
    ("is_reserved", "a reserved address"),
)
REFUSAL_HINT = "only public addresses are fetched unless the source sets allow_private_addresses = true"


class AddressRefused(IgnoreRequest):
    """A request the guard will not send; the message says which address and why."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host (IPv4 and IPv6)."""
    return [info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address carries (IPv4-mapped, 6to4, Teredo, NAT64), if any."""
    if address.version == 4:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]  # (server, client): the client is the host reached
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def non_public_reason(address: Address) -> str | None:
    """What an address is that must not be fetched ("a loopback address", ...); None for a public one."""
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    inner = embedded_ipv4(address)
    if inner is not None:
        reason = non_public_reason(inner)
        if reason:
            return f"{reason} (IPv4 {inner} inside IPv6)"
        if address.ipv4_mapped is not None or address in NAT64_PREFIX:
            return None  # the connection goes to that public IPv4 address
    for flag, label in NON_PUBLIC_FLAGS:
        if getattr(address, flag, False):  # is_site_local exists for IPv6 only
            return label
    if not address.is_global:  # e.g. 100.64.0.0/10, carrier-grade NAT: no flag above, still not public
        return "an address that is not globally routable"
    return None


@dataclass(frozen=True)
class AllowList:
    """Hosts (`name`, `name:port`) and networks that may be reached although not public."""

    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, entries: Iterable[str], *, where: str = ALLOW_ENV) -> AllowList:
        """Read `host`, `host:port`, `[v6]:port` or CIDR entries; ValueError names a bad entry."""
        hosts: set[str] = set()
        networks: list[Network] = []
        for raw in entries:
            entry = raw.strip().lower()
            if not entry:
                continue
            if "/" in entry:
                try:
                    networks.append(ipaddress.ip_network(entry, strict=False))
                except ValueError as exc:
                    raise ValueError(f"{where}: {raw!r} is not a network: {exc}") from None
                continue
            try:
                parts = urlsplit(f"http://{entry}")
                port, host = parts.port, parts.hostname
            except ValueError as exc:
                raise ValueError(f"{where}: {raw!r} is not host, host:port or a network: {exc}") from None
            if not host:
                raise ValueError(f"{where}: {raw!r} is not host, host:port or a network")
            hosts.add(f"{host}:{port}" if port else host)
        return cls(frozenset(hosts), tuple(networks))

    @classmethod
    def from_settings(cls, settings) -> AllowList:
        """The allow-list from the EXPOWATCH_ALLOWED_PRIVATE_HOSTS setting and environment variable."""
        entries = list(settings.getlist(ALLOW_SETTING)) if settings is not None else []
        entries += os.environ.get(ALLOW_ENV, "").split(",")
        return cls.parse(entries)

    def allows_host(self, host: str, port: int) -> bool:
        return host in self.hosts or f"{host}:{port}" in self.hosts

    def allows_address(self, address: Address) -> bool:
        return any(address in net for net in self.networks if net.version == address.version)


NO_ALLOWANCE = AllowList()


@dataclass(frozen=True)
class Target:
    """Where a URL points: scheme, host and port, from the URL as written."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Target:
        """Split a URL; AddressRefused when it is not an http(s) URL with a host."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise AddressRefused(f"refused: malformed URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in ALLOWED_SCHEMES:
            raise AddressRefused(f"refused: scheme {scheme or '(none)'!r} is never fetched (only http and https)")
        if not parts.hostname:
            raise AddressRefused("refused: the URL has no host")
        return cls(scheme, parts.hostname.rstrip(".").lower(), port or DEFAULT_PORTS[scheme])


def lookup(host: str, port: int, resolver: Resolver = system_resolver) -> list[Address]:
    """The addresses of a host (a literal address is its own answer); AddressRefused when there are none."""
    if is_literal(host):
        return [ipaddress.ip_address(host)]
    try:
        answers = list(resolver(host, port))
    except (OSError, UnicodeError) as exc:  # socket.gaierror is an OSError
        raise AddressRefused(f"refused: {host} could not be resolved to check its address ({exc})") from None
    if not answers:
        raise AddressRefused(f"refused: {host} resolves to no address")
    found: list[Address] = []
    for text in answers:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise AddressRefused(f"refused: {host} resolves to {text!r}, which is not an IP address") from None
        if address not in found:
            found.append(address)
    return found


def checked_addresses(url: str, *, resolver: Resolver = system_resolver, allow: AllowList = NO_ALLOWANCE,
                      check: bool = True) -> tuple[list[Address], bool]:
    """The addresses to connect to for url, and whether they were checked.

    check=False (a source with allow_private_addresses) and hosts on the allow-list are
    looked up without the check; every other host goes through check_url.
    """
    target = Target.of(url)
    if not check or allow.allows_host(target.host, target.port):
        return lookup(target.host, target.port, resolver), False
    return check_url(url, resolver=resolver, allow=allow), True


def check_url(url: str, *, resolver: Resolver = system_resolver, allow: AllowList = NO_ALLOWANCE) -> list[Address]:
    """The addresses a URL's host resolves to, when every one is public (or allowed).

    Raises AddressRefused naming the host, the address and the reason when the scheme is
    not http(s), the host cannot be resolved, or ANY address it resolves to is not public.
    A host on the allow-list is not checked (the empty list is returned).
    """
    target = Target.of(url)
    if allow.allows_host(target.host, target.port):
        return []
    literal = is_literal(target.host)
    found = lookup(target.host, target.port, resolver)
    for address in found:
        if allow.allows_address(address):
            continue
        reason = non_public_reason(address)
        if reason:
            shown = target.host if literal else f"{target.host} resolves to {address}, which"
            raise AddressRefused(f"refused: {shown} is {reason}; {REFUSAL_HINT}")
    return found


@dataclass
class AddressGuardMiddleware:
    """Downloader middleware refusing requests to non-public addresses (see the module docstring).

    Register it before RobotsTxtMiddleware (100), so that a refused URL costs not even a
    robots.txt request; robots.txt requests pass through it as well.
    """

    crawler: Any
    resolver: Resolver = system_resolver
    allow: AllowList = field(default=NO_ALLOWANCE)

    @classmethod
    def from_crawler(cls, crawler) -> AddressGuardMiddleware:
        check_safety_settings(crawler.settings)  # also for `scrapy crawl`, which skips crawl_settings
        return cls(crawler, allow=AllowList.from_settings(crawler.settings))

    async def process_request(self, request: Request) -> None:
        """Pass the request on, its host's addresses pinned; or raise AddressRefused (recorded with the source and URL)."""
        stats = self.crawler.stats
        stats.inc_value(STAT_CHECKED)
        source = source_of(request, self.crawler.spider)
        check = not (source is not None and source.allow_private_addresses)
        try:
            target = Target.of(request.url)  # the scheme rule holds for every source
            if is_literal(target.host):  # nothing to resolve: judged here, without a thread
                addresses, checked = checked_addresses(request.url, resolver=self.resolver, allow=self.allow,
                                                       check=check)
            else:
                addresses, checked = await maybe_deferred_to_future(deferToThread(
                    checked_addresses, request.url, resolver=self.resolver, allow=self.allow, check=check))
        except AddressRefused as exc:
            stats.inc_value(STAT_REFUSED)
            self._refused(request, str(exc))
            raise
        pinned_resolver().pin(target.host, addresses, checked=checked)
        request.meta[GUARDED] = target.host

    def _refused(self, request: Request, reason: str) -> None:
        """Requests with the spider's errback are recorded there; others (robots.txt) here."""
        spider = self.crawler.spider
        name = getattr(source_of(request, spider), "name", getattr(spider, "name", "?"))
        record = getattr(spider, "record_error", None)
        if request.errback is None and record is not None:
            record(request.url, reason, "robots" if request.meta.get("dont_obey_robotstxt") else "other")
        elif record is None and REQUEST_SOURCE not in request.meta:  # its sender reports it (the pre-check's crawl)
            logger.warning("%s: %s: %s", name, request.url, reason)


def is_literal(host: str) -> bool:
    """True for an IP address written as one (what a URL's hostname gives: no brackets)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def host_key(host: str) -> str:
    """A host name as pins are keyed: lower case, no trailing dot, IDNA (ASCII) form."""
    host = host.rstrip(".").lower()
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


@implementer(IHostnameResolver)
class PinnedNameResolver:
    """The reactor's name resolver: answers a host with the addresses the guard pinned for it, nothing else.

    Checked pins (the guard judged every address public) win over unchecked ones (hosts of
    sources with allow_private_addresses, or on the allow-list), so a private source's lookup
    of a name can never replace what a guarded source's check found. A literal address is
    its own answer. A host with no pin resolves to no address: the connection fails.
    """

    def __init__(self, capacity: int = PIN_CAPACITY) -> None:
        self.capacity = capacity
        self.checked: OrderedDict[str, tuple[Address, ...]] = OrderedDict()
        self.unchecked: OrderedDict[str, tuple[Address, ...]] = OrderedDict()

    def pin(self, host: str, addresses: Iterable[Address], *, checked: bool) -> None:
        """Connections to host go to these addresses from now on (literal hosts need no pin)."""
        if is_literal(host):
            return
        table = self.checked if checked else self.unchecked
        key = host_key(host)
        table[key] = tuple(addresses)
        table.move_to_end(key)
        while len(table) > self.capacity:
            table.popitem(last=False)

    def addresses_for(self, host: str) -> tuple[Address, ...]:
        """What a connection to host may use: its pinned addresses, or the literal address itself."""
        if is_literal(host):
            return (ipaddress.ip_address(host),)
        key = host_key(host)
        return self.checked.get(key) or self.unchecked.get(key) or ()

    def resolveHostName(self, resolutionReceiver: IResolutionReceiver, hostName: str, portNumber: int = 0,
                        addressTypes=None, transportSemantics: str = "TCP") -> IResolutionReceiver:  # noqa: N802,N803
        """IHostnameResolver: hand the receiver the pinned addresses of hostName, at once."""
        resolutionReceiver.resolutionBegan(_Resolution(hostName))
        found = self.addresses_for(hostName)
        if not found:
            logger.warning("not connecting to %s: the address guard has not looked it up", hostName)
        for address in found:
            kind = IPv4Address if address.version == 4 else IPv6Address
            if addressTypes is None or kind in addressTypes:
                resolutionReceiver.addressResolved(kind("TCP", str(address), portNumber))
        resolutionReceiver.resolutionComplete()
        return resolutionReceiver


@implementer(IHostResolution)
@dataclass(frozen=True)
class _Resolution:
    """IHostResolution: the name being resolved (this resolver answers at once, so nothing to cancel)."""

    name: str

    def cancel(self) -> None:
        pass


_PINS = PinnedNameResolver()


def pinned_resolver() -> PinnedNameResolver:
    """The process's pinned resolver, made the reactor's name resolver if something replaced it.

    Scrapy installs its own resolver (DNS_RESOLVER / TWISTED_DNS_RESOLVER) when a
    CrawlerProcess starts; the guard and the download handler call this before every
    request, so the crawl always connects through the pins whatever those settings say.
    """
    from twisted.internet import reactor

    if reactor.nameResolver is not _PINS:
        reactor.installNameResolver(_PINS)
    return _PINS


def guarded_host(request: Request) -> str:
    """The request's host when the guard passed it; AddressRefused otherwise (the handler's last check)."""
    host = Target.of(request.url).host
    if request.meta.get(GUARDED) != host:
        raise AddressRefused(f"refused: {host} was not checked by the address guard "
                             "(crawler.safety.AddressGuardMiddleware must stay in DOWNLOADER_MIDDLEWARES)")
    return host


# -- settings that would turn a safety mechanism off -------------------------------------

GUARD_PATH = "crawler.safety.AddressGuardMiddleware"
ROBOTS_PATH = "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"
HANDLER_PATH = "crawler.http_handler.KeepAliveDownloadHandler"
# Numeric caps and the range a crawl may set them to: beyond these, the cap no longer protects.
SETTING_RANGES: dict[str, tuple[float, float, str]] = {
    "DOWNLOAD_MAXSIZE": (1, 100 * 1024 * 1024, "bytes (0 would mean no cap on bodies)"),
    "DOWNLOAD_TIMEOUT": (0.1, 600, "seconds (a drip would hold the crawl for longer)"),
    "REDIRECT_MAX_TIMES": (0, 20, "hops"),
    "RETRY_TIMES": (0, 10, "retries"),
    "EXPOWATCH_RETRY_AFTER_MAX": (0, 3600, "seconds"),
}


def unsafe_settings(settings) -> list[str]:
    """What in these settings would disable a safety mechanism, one sentence each ([] when none).

    The SSRF guard must stay a downloader middleware before robots.txt, http(s) must be
    fetched by the guarded handler, and the size, time and redirect caps stay in range.
    DNS settings (DNSCACHE_ENABLED, DNS_RESOLVER) are free: the guard does not depend on them.
    """
    from scrapy.utils.misc import load_object

    problems: list[str] = []
    middlewares = settings.getwithbase("DOWNLOADER_MIDDLEWARES")
    guard = middlewares.get(GUARD_PATH)
    robots = middlewares.get(ROBOTS_PATH)
    if guard is None:
        problems.append(f"DOWNLOADER_MIDDLEWARES must keep {GUARD_PATH} (the SSRF guard)")
    elif robots is not None and guard >= robots:
        problems.append(f"DOWNLOADER_MIDDLEWARES: {GUARD_PATH} must come before RobotsTxtMiddleware ({robots})")
    handlers = settings.getwithbase("DOWNLOAD_HANDLERS")
    for scheme in sorted(ALLOWED_SCHEMES):
        path = handlers.get(scheme)
        try:
            handler = load_object(path) if path else None
        except (ImportError, ValueError, NameError, AttributeError):
            handler = None
        if handler is None or not issubclass(handler, load_object(HANDLER_PATH)):
            problems.append(f"DOWNLOAD_HANDLERS[{scheme!r}] must stay {HANDLER_PATH} (it connects only to checked "
                            f"addresses), not {path!r}")
    for name, (low, high, unit) in SETTING_RANGES.items():
        try:
            value = settings.getfloat(name)
        except (TypeError, ValueError):
            problems.append(f"{name} must be a number, not {settings.get(name)!r}")
            continue
        if not low <= value <= high:
            problems.append(f"{name} = {settings.get(name)} is outside {_number(low)}..{_number(high)} {unit}")
    return problems


def check_safety_settings(settings) -> None:
    """ValueError naming every setting that would disable a safety mechanism (see unsafe_settings)."""
    problems = unsafe_settings(settings)
    if problems:
        raise ValueError("refused settings: " + "; ".join(problems))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
