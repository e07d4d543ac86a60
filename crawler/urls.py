"""Canonical URLs: one spelling per page, so the same page is never stored twice."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters that track the click, not the content. Documented in docs/dedup.md.
TRACKING_PARAMS = frozenset({
    "spm", "from", "fromsource", "share", "share_token", "shareid", "share_from",
    "isappinstalled", "scene", "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid",
    "igshid", "ref", "ref_src", "ref_url", "referrer", "cmpid", "_hsenc", "_hsmi", "wt.mc_id",
    "s_cid", "srcid", "xtor", "ncid", "sr_share", "tt_from", "vd_source",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hmsr", "hmpl", "hmcu", "hmkw", "hmci")
INDEX_PAGES = re.compile(r"/(index|default)\.(html?|php|aspx?|shtml)$", re.IGNORECASE)
DEFAULT_PORTS = {"http": 80, "https": 443}


def is_tracking_param(name: str) -> bool:
    """True for a query parameter that only tracks where a click came from."""
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def canonical_url(url: str) -> str:
    """Normalise a URL: case of scheme/host, default port, fragment, tracking
    parameters, sorted query, index pages and trailing slashes."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    port = parts.port
    netloc = host if port is None or DEFAULT_PORTS.get(scheme) == port else f"{host}:{port}"
    if parts.username:
        netloc = f"{parts.username}@{netloc}"
    path = parts.path or "/"
    path = INDEX_PAGES.sub("/", path)
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not is_tracking_param(k)]
    return urlunsplit((scheme, netloc, path, urlencode(sorted(query)), ""))


def same_site(url_a: str, url_b: str) -> bool:
    """True when both URLs are on the same host (ignoring a leading www.)."""
    def host(u: str) -> str:
        return (urlsplit(u).hostname or "").lower().removeprefix("www.")
    return host(url_a) == host(url_b)
