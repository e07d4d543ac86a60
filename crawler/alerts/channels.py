"""Channels are Apprise URLs: checking one, hiding its secrets, sending one message to it.

Every use of Apprise goes through here. Apprise loads its plugins lazily, and its
mail plugin imports the standard library's deprecated imghdr (a shim for PGPy):
that one DeprecationWarning is silenced around Apprise calls, nothing else.
"""

from __future__ import annotations

import logging
import re
import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator
from urllib.parse import urlencode, urlsplit

if TYPE_CHECKING:
    from crawler.alerts.messages import Message

DELIVERY_HEADER = "X-Expowatch-Delivery"
JSON_SCHEMES = ("json", "jsons")  # Apprise's JSON webhook: its message field carries our JSON document
ERROR_CHARS = 500  # of Apprise's last error, kept in the outbox


@contextmanager
def _apprise() -> Iterator:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
        import apprise

        # Apprise's log lines about a failed send come back as the delivery's error (kept in the
        # outbox and logged once by crawler.alerts.delivery), so they do not reach the root log too.
        logging.getLogger("apprise").propagate = False
        yield apprise


def _instantiate(url: str):
    with _apprise() as apprise:
        return apprise.Apprise.instantiate(url, suppress_exceptions=True) if "://" in url else None


def channel_problem(url: object) -> str | None:
    """Why Apprise cannot send to url, or None."""
    if not isinstance(url, str) or "://" not in url:
        return f"{url!r} is not an Apprise URL (such as mailtos://..., json://..., slack://...)"
    if _instantiate(url) is None:
        return f"Apprise cannot use {redact_channel(url)!r} (unknown scheme or missing parts; see the Apprise wiki)"
    return None


def redact_channel(url: str) -> str:
    """A channel URL with its password and tokens hidden (Apprise's privacy form), for messages and status."""
    plugin = _instantiate(str(url))
    if plugin is None:
        return re.sub(r"//[^/@]*@", "//***@", str(url))
    return plugin.url(privacy=True).split("?", 1)[0]  # without Apprise's default options


def channel_url(url: str, message: Message) -> str:
    """url with the delivery id added the Apprise way: a +header (mail and webhooks) and, for JSON
    webhooks, a :delivery_id payload field."""
    extra = {f"+{DELIVERY_HEADER}": message.delivery_id}
    if urlsplit(url).scheme.lower() in JSON_SCHEMES:
        extra[":delivery_id"] = message.delivery_id
    return url + ("&" if "?" in url else "?") + urlencode(extra)


def _formats(plugin) -> tuple:
    """The body formats a plugin takes, preferred first (Apprise gives one, or a tuple for mail)."""
    formats = plugin.notify_format
    return tuple(formats) if isinstance(formats, (tuple, list)) else (formats,)


def send_message(url: str, message: Message) -> str | None:
    """Send message to one Apprise URL; None when sent, else the reason it was not."""
    with _apprise() as apprise, apprise.LogCapture(level=logging.WARNING, fmt="%(message)s") as captured:
        plugin = apprise.Apprise.instantiate(channel_url(url, message), suppress_exceptions=True)
        if plugin is None:
            return "Apprise cannot use this channel URL"
        if urlsplit(url).scheme.lower() in JSON_SCHEMES:
            ok = plugin.notify(body=message.json(), title=message.subject, body_format=apprise.NotifyFormat.TEXT)
        elif _formats(plugin)[0] == apprise.NotifyFormat.HTML:  # mail: HTML, and Apprise adds a plain-text twin
            ok = plugin.notify(body=message.html, title=message.subject, body_format=apprise.NotifyFormat.HTML)
        else:
            ok = plugin.notify(body=message.text, title=message.subject, body_format=apprise.NotifyFormat.TEXT)
    if ok:
        return None
    lines = [line.strip() for line in captured.getvalue().splitlines() if line.strip()]
    return (" / ".join(lines[-2:]) or "Apprise reported a failure without a reason")[:ERROR_CHARS]
