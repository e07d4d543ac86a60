"""The `expowatch` Typer app and the options every command shares."""

from __future__ import annotations

import sys
from enum import Enum
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
                 help="TOML file of \\[\\[source]] declarations, added to the built-in sources."),
]

class ListFormat(str, Enum):
    """--format of the listing commands."""

    table = "table"
    json = "json"


EXIT_FAILED = 1  # the work ran and failed (a source failed, a file is bad, the store is unusable)
EXIT_USAGE = 2  # the command line itself is wrong (Click's own code for usage errors)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one clear line to stderr and exit non-zero."""
    print(f"expowatch: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def open_store(db: str | None, *, writable: bool = False) -> str:
    """Resolve the store URL and bring its schema up to date.

    writable: also prove that this process may write (a read-only file, a read-only
    PostgreSQL replica or a locked database fail here, before any work starts).
    Any failure is one clear line and exit 1.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from storage.engine import resolve_db_url
    from storage.migrate import check_writable, ensure_schema

    url = resolve_db_url(db)
    try:
        ensure_schema(url)
        if writable:
            check_writable(url)
    except SQLAlchemyError as exc:
        reason = getattr(exc, "orig", None) or exc
        fail(f"cannot use the store {redact(url)}: {str(reason).strip().splitlines()[0]}")
    except OSError as exc:
        fail(f"cannot use the store {redact(url)}: {exc.strerror or exc}")
    return url


def redact(url: str) -> str:
    """A store URL with any password hidden, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
