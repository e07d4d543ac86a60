"""`expowatch demo`: the whole cycle offline, on the bundled replica web."""

from __future__ import annotations

from typing import Annotated

import typer

from crawler.cli.app import app


@app.command()
def demo(
    db: Annotated[str | None, typer.Option("--db", help="Store for the demo (default: a fresh file in a temporary directory).")] = None,
    serve: Annotated[bool, typer.Option("--serve", help="Keep the replica web running, print its sources file, crawl it "
                                                        "once and serve the web view of the demo store (address printed).")]
        = False,
) -> None:
    """Crawl the bundled replica sites on 127.0.0.1, then crawl again after new articles appear."""
    from crawler.replica.demo import run_demo, serve_replica

    if serve:
        serve_replica(db)
        return
    raise typer.Exit(run_demo(db))
