"""Command line: `expowatch`, a thin layer over the library. One module per command group."""

from crawler.cli import (  # noqa: F401  (register commands)
    alerts,
    crawl,
    db,
    demo,
    discover,
    events,
    export,
    extract,
    feed,
    reextract,
    runs,
    schedule,
    search,
    serve,
    show,
    sources,
    worker,
)
from crawler.cli.app import app


def main() -> None:
    """Console-script entry point. A store that fails mid-command (a damaged file) is one line, exit 1."""
    import sys

    from sqlalchemy.exc import DatabaseError

    from crawler.cli.app import EXIT_FAILED

    try:
        app()
    except DatabaseError as exc:
        from storage.runs import STORE_ERROR_HINT, store_error_message

        print(f"expowatch: error: {store_error_message(exc)}; {STORE_ERROR_HINT}", file=sys.stderr)
        raise SystemExit(EXIT_FAILED) from None
