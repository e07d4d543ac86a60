"""Command line: `expowatch`, a thin layer over the library. One module per command group."""

from crawler.cli import crawl, db, demo, events, extract, export, runs, schedule, search, show, sources, worker  # noqa: F401  (register commands)
from crawler.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()
