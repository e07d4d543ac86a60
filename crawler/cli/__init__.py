"""Command line: `expowatch`, a thin layer over the library. One module per command group."""

from crawler.cli import (  # noqa: F401  (register commands)
    crawl,
    db,
    demo,
    discover,
    events,
    export,
    extract,
    reextract,
    runs,
    schedule,
    search,
    show,
    sources,
    worker,
)
from crawler.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
