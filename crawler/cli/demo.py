"""`expowatch demo`: the whole cycle offline, on the bundled replica web."""

from __future__ import annotations

from typing import Annotated

import typer

from crawler.cli.app import EXIT_USAGE, app, fail, open_store


@app.command()
def demo(
    db: Annotated[str | None, typer.Option("--db", help="Store for the demo (default: a fresh file in a temporary directory).")] = None,
    serve: Annotated[bool, typer.Option(
        "--serve", help="Crawl round one, serve the web view of the store, keep the replica web running (Enter or the printed admin URL "
                        "publishes the next round; Ctrl-C stops).")] = False,
    port: Annotated[int, typer.Option(
        "--port", min=0, max=65535 - 7, help="With --serve: the sites listen on PORT to PORT+5 and the admin URL on "
                                             "PORT+6 (default: any free ports).")] = 0,
) -> None:
    """Crawl the bundled replica sites on 127.0.0.1, then crawl again after new articles appear."""
    from crawler.replica.demo import run_demo, serve_replica

    if db is not None:
        open_store(db, writable=True)  # a bad --db is one line before any site starts
    if port and not serve:
        fail("--port is for --serve", EXIT_USAGE)
    if serve:
        try:
            raise typer.Exit(serve_replica(db, port))
        except OSError as exc:
            fail(f"cannot serve the replica on 127.0.0.1 port {port} to {port + 6}: {exc.strerror or exc}")
    raise typer.Exit(run_demo(db))
