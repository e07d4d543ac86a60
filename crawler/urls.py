"""Canonical URLs: one spelling per page, so the same page is never stored twice.

The rules, and the list of tracking parameters, are documented in docs/dedup.md.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from w3lib.url import canonicalize_url as w3lib_canonicalize_url

# Query parameters that track the click, not the content (compared case-insensitively).
TRACKING_PARAMS = frozenset({
    # share buttons and Chinese platforms (WeChat, Weibo, Toutiao, Bilibili, Alibaba's spm)
    "spm", "from", "fromsource", "share", "share_token", "shareid", "share_from", "share_source",
    "share_medium", "isappinstalled", "scene", "sr_share", "tt_from", "vd_source", "wfr", "timestamp",
    # ad and mail click ids
    "fbclid", "gclid", "gclsrc", "dclid", "msclkid", "yclid", "twclid", "ttclid", "mc_cid", "mc_eid",
    "igshid", "_hsenc", "_hsmi", "wt.mc_id", "s_cid", "cmpid", "ncid", "xtor", "srcid",
    # referrers
    "ref", "ref_src", "ref_url", "referrer",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmsr", "hmpl", "hmcu", "hmkw", "hmci")
INDEX_PAGES = re.compile(r"/(index|default)\.(html?|php|aspx?|shtml|jsp)$", re.IGNORECASE)
DEFAULT_PORTS = {"http": 80, "https": 443}
WEB_SCHEMES = frozenset(DEFAULT_PORTS)
# Host prefixes that name the same site in another dress (desktop, mobile, WAP).
SITE_HOST_PREFIXES = ("www.", "m.", "wap.", "mobile.")
CANONICAL_URL_CACHE = 65536  # URLs remembered by canonical_url: a large crawl's links, a few MB


class URLError(ValueError):
    """A URL that cannot name a web page; the message quotes it."""


def is_tracking_param(name: str) -> bool:
    """True for a query parameter that only tracks where a click came from."""
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


@lru_cache(maxsize=CANONICAL_URL_CACHE)
def canonical_url(url: str) -> str:
    """One spelling of a web page's URL.

    Lower-case scheme and host (IDNA), no default port, no fragment, no tracking
    parameters, remaining parameters sorted, percent-escapes normalised (w3lib),
    index pages and trailing slashes dropped. Raises URLError for a URL that is
    not http(s) with a host. Cached: a crawl asks for the same URL at discovery,
    at the store check and when it stores the page.
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise URLError(f"malformed URL {url!r}: {exc}") from exc
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        raise URLError(f"not an http(s) URL with a host: {url!r}")
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking_param(k)]
    cleaned = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    parts = urlsplit(w3lib_canonicalize_url(cleaned, keep_blank_values=True, keep_fragments=False))
    host = parts.hostname.rstrip(".")
    netloc = host if parts.port in (None, DEFAULT_PORTS[parts.scheme]) else f"{host}:{parts.port}"
    path = INDEX_PAGES.sub("/", parts.path or "/")
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    return urlunsplit((parts.scheme, netloc, path, parts.query, ""))


def site_of(url: str) -> str:
    """The host of a URL without a www./m./wap./mobile. prefix: what 'same site' compares."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    for prefix in SITE_HOST_PREFIXES:
        if host.startswith(prefix) and host.count(".") > 1:
            return host[len(prefix):]
    return host


def same_site(url_a: str, url_b: str) -> bool:
    """True when both URLs are on the same site (hosts equal but for a www./m. prefix)."""
    return site_of(url_a) == site_of(url_b)


def page_canonical_url(page_url: str, declared: str | None) -> str:
    """The canonical URL of a fetched page: its rel=canonical / og:url when trustworthy.

    The declared URL (resolved against the page) is honoured when it is http(s), on the
    same site, and not the site's home page while the page is not (a template that
    points every article at the home page would otherwise fold them all into one).
    Anything else falls back to the page's own URL, canonicalised.
    """
    own = canonical_url(page_url)
    if not declared or not declared.strip():
        return own
    try:
        candidate = canonical_url(urljoin(page_url, declared.strip()))
    except ValueError:  # URLError or urljoin's: a broken link element; the page's own URL still names it
        return own
    if not same_site(candidate, own):
        return own
    if urlsplit(candidate).path == "/" and not urlsplit(candidate).query and urlsplit(own).path != "/":
        return own
    return candidate
