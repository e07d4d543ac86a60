"""`expowatch serve`: the read-only web view, JSON API and Atom feeds over the store."""

from __future__ import annotations

from typing import Annotated

import typer

from crawler.cli.app import EXIT_USAGE, DbOption, SourcesFileOption, app, fail, redact
from crawler.cli.events import EventsFileOption, load_events
from crawler.cli.sources import load_registry

PUBLIC_WARNING = ("WARNING: serving on {host} without --token: anyone who can reach this machine "
                  "on the network can read the whole store")


def read_only_store(db: str | None) -> str:
    """The store URL, checked to exist and to be at the code's schema, without writing to it."""
    from sqlalchemy.exc import SQLAlchemyError

    from storage.engine import make_read_only_engine, resolve_db_url
    from storage.migrate import current_revision, head_revision

    url = resolve_db_url(db)
    try:
        engine = make_read_only_engine(url)
        try:
            revision = current_revision(engine)
        finally:
            engine.dispose()
    except (SQLAlchemyError, OSError, ValueError) as exc:
        reason = getattr(exc, "orig", None) or exc
        fail(f"cannot read the store {redact(url)}: {str(reason).strip().splitlines()[0]}")
    if revision != head_revision(url):
        fail(f"the store {redact(url)} is at schema {revision or 'none'}, not {head_revision(url)}: "
             f"run `expowatch db upgrade --db ...` first (serve never writes to the store)")
    return url


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on. Anything but loopback needs --token "
                                           "(or --public).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free port; the address is printed).")]
        = 8765,
    token: Annotated[str | None, typer.Option(envvar="EXPOWATCH_TOKEN", show_envvar=True,
                                              help="Every request must carry it (?token= once, then a cookie; "
                                                   "or Authorization: Bearer).")] = None,
    public: Annotated[bool, typer.Option("--public", help="Serve a non-loopback address without a token "
                                                          "(anyone on the network can read the store).")] = False,
    sources_file: SourcesFileOption = None,
    events_file: EventsFileOption = None,
    db: DbOption = None,
) -> None:
    """Serve a read-only web view of the store: search, articles, events, sources, JSON API, feeds.

    The store is opened read-only (SQLite mode=ro, PostgreSQL read-only transactions).
    Binds 127.0.0.1 unless --host says otherwise. Ctrl-C or SIGTERM stops it.
    """
    from crawler.web.app import WebConfig
    from crawler.web.server import address_of, bind, is_loopback, serve_forever

    if not is_loopback(host) and not token and not public:
        fail(f"--host {host}: other machines could read the store; give --token SECRET "
             f"(or --public to serve it to anyone)", EXIT_USAGE)
    if token is not None and len(token) < 8:
        fail("--token: use at least 8 characters", EXIT_USAGE)
    taxonomy = load_events(events_file)
    registry = load_registry(sources_file)
    url = read_only_store(db)
    try:
        sock = bind(host, port)
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    if not is_loopback(host) and not token:
        typer.echo(PUBLIC_WARNING.format(host=host), err=True)
    typer.echo(f"expowatch: serving {redact(url)} read-only at {address_of(sock)} (Ctrl-C stops)", err=True)
    serve_forever(WebConfig(db_url=url, taxonomy=taxonomy, registry=registry, token=token), sock)
