"""The Starlette application: configuration, the read-only store, templates, errors, the token gate."""

from __future__ import annotations

import hmac
from contextlib import asynccontextmanager
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy.exc import OperationalError
from starlette.applications import Starlette
from starlette.datastructures import QueryParams
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates
from starlette.types import ASGIApp, Receive, Scope, Send

from crawler.web.params import BadParameter

TEMPLATES = Path(__file__).parent / "templates"
TOKEN_COOKIE = "expowatch_token"
TOKEN_PARAM = "token"
log = logging.getLogger(__name__)


@dataclass
class WebConfig:
    """What `expowatch serve` gives the app: the store, the taxonomy, the sources, an optional token."""

    db_url: str
    taxonomy: Any = None  # crawler.events Taxonomy (default: the built-in events)
    registry: Mapping = field(default_factory=dict)  # declared sources by name (for health's schedule check)
    token: str | None = None


def _with_params(request: Request, **changes: Any) -> str:
    """The current page's URL path and query with some parameters changed (None: removed)."""
    items = [(k, v) for k, v in request.query_params.multi_items() if k not in changes and v.strip()]
    for key, value in changes.items():
        if value is None or value == "":
            continue
        items.extend((key, str(v)) for v in (value if isinstance(value, (list, tuple)) else [value]))
    return urlencode(items)


def web_link(url: str | None) -> str:
    """url when it is http(s), else "#": a stored URL never becomes a javascript: or data: link."""
    return url if url and url.lower().startswith(("http://", "https://")) else "#"


def _environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.globals["with_params"] = _with_params
    env.filters["web_link"] = web_link
    env.filters["when"] = lambda value, tz=None, fmt="%Y-%m-%d %H:%M": (
        value.astimezone(tz).strftime(fmt) if value and tz else value.strftime(fmt) if value else "")
    return env


templates = Jinja2Templates(env=_environment())


def wants_json(request: Request) -> bool:
    """True for what programs read (API, downloads, feeds, schema): their errors are JSON."""
    path = request.url.path
    return path.startswith(("/api/", "/export.", "/openapi")) or path.endswith(".atom")


def error_response(request: Request, status: int, message: str) -> Response:
    """An error as JSON for the API, as a page for people; never a traceback."""
    if wants_json(request):
        return JSONResponse({"error": message, "status": status}, status_code=status)
    return templates.TemplateResponse(request, "error.html", {"status": status, "message": message},
                                      status_code=status)


async def _bad_parameter(request: Request, exc: Exception) -> Response:
    return error_response(request, 400, str(exc))


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(request, exc.status_code, exc.detail or "error")


async def _store_error(request: Request, exc: Exception) -> Response:
    log.error("reading the store failed on %s: %s", request.url.path, exc)
    return error_response(request, 503, "the store cannot be read right now; try again")


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("error serving %s", request.url.path)
    return PlainTextResponse("internal error (logged by the server)", status_code=500)


SECURITY_HEADERS = [
    # Pages need no script at all: the browser refuses any, a second wall behind autoescaping.
    (b"content-security-policy", b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                                 b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


class SecurityHeaders:
    """Adds SECURITY_HEADERS to every response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers if scope["type"] == "http" else send)


class TokenGate:
    """Every request must carry the token: `Authorization: Bearer T`, the cookie, or `?token=T` once
    (then a cookie is set and the token is removed from the address)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    def _ok(self, value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), self.token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        auth = request.headers.get("authorization", "")
        given = request.query_params.get(TOKEN_PARAM)
        if self._ok(auth[7:] if auth.lower().startswith("bearer ") else None) or self._ok(request.cookies.get(TOKEN_COOKIE)):
            if given is None:
                await self.app(scope, receive, send)
                return
        if self._ok(given):
            rest = QueryParams([(k, v) for k, v in request.query_params.multi_items() if k != TOKEN_PARAM])
            response: Response = RedirectResponse(request.url.path + (f"?{rest}" if str(rest) else ""), status_code=303)
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="strict")
        else:
            response = PlainTextResponse("a token is needed: add ?token=... once, or send Authorization: Bearer ...",
                                         status_code=401)
        await response(scope, receive, send)


def create_app(config: WebConfig) -> Starlette:
    """The web view over the store at config.db_url, opened read-only."""
    from crawler.events import load_taxonomy
    from crawler.web import api, pages
    from storage.engine import read_only_session_factory

    if config.taxonomy is None:
        config.taxonomy = load_taxonomy(None)
    sessions = read_only_session_factory(config.db_url)
    middleware = [Middleware(SecurityHeaders)]
    if config.token:
        middleware.append(Middleware(TokenGate, token=config.token))

    @asynccontextmanager
    async def close_store(_app):
        yield
        sessions.kw["bind"].dispose()

    app = Starlette(
        routes=[*pages.ROUTES, *api.ROUTES],
        middleware=middleware,
        exception_handlers={BadParameter: _bad_parameter, HTTPException: _http_error,
                            OperationalError: _store_error, Exception: _server_error},
        lifespan=close_store,
    )
    app.state.config = config
    app.state.sessions = sessions
    return app
