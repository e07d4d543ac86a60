"""The `expowatch` Typer app and the options every command shares."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer

app = typer.Typer(
    name="expowatch",
    help="Watch expo, conference and news sites: crawl, extract, deduplicate, tag events, search.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="EXPOWATCH_DB_URL", show_envvar=True,
                 help="Store URL (sqlite:///PATH or postgresql+psycopg://...) or a SQLite file path. "
                      "Default: ~/.local/share/expowatch/expowatch.db"),
]
SourcesFileOption = Annotated[
    str | None,
    typer.Option("--sources-file", envvar="EXPOWATCH_SOURCES", show_envvar=True,
                 help="TOML file of [[source]] declarations, added to the built-in sources."),
]

EXIT_FAILED = 1  # the work ran and failed (a source failed, a file is bad, the store is unusable)
EXIT_USAGE = 2  # the command line itself is wrong (Click's own code for usage errors)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one clear line to stderr and exit non-zero."""
    print(f"expowatch: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def open_store(db: str | None) -> str:
    """Resolve the store URL and bring its schema up to date; a clear error if it cannot be opened."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from storage.engine import resolve_db_url
    from storage.migrate import ensure_schema

    url = resolve_db_url(db)
    try:
        ensure_schema(url)
    except (OperationalError, ProgrammingError) as exc:
        fail(f"cannot open the store {redact(url)}: {exc.orig}")
    return url


def redact(url: str) -> str:
    """A store URL with any password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
