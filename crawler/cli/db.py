"""`expowatch db ...`: schema migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from crawler.cli.app import EXIT_FAILED, EXIT_USAGE, DbOption, app, fail, open_store, redact

db_app = typer.Typer(help="The store's schema: migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Create the store or migrate it to the newest schema."""
    from storage.migrate import current_revision
    from storage.engine import get_engine

    url = open_store(db, writable=True)
    typer.echo(f"{redact(url)} is at schema revision {current_revision(get_engine(url))}")


@db_app.command("copy")
def copy(
    to: Annotated[str, typer.Option("--to", help="The target store URL, e.g. postgresql+psycopg://user@host/db (must be empty).")],
    db: DbOption = None,
) -> None:
    """Copy the whole store (articles, copies, tags, runs, raw HTML) into another, empty database."""
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from storage.copy import CopyError, copy_store
    from storage.engine import StoreURLError, check_store_url, resolve_db_url

    source = open_store(db, must_exist=True)
    target = resolve_db_url(to)
    try:
        check_store_url(target)
    except StoreURLError as exc:
        fail(f"--to: {exc}", EXIT_FAILED if exc.missing_extra else EXIT_USAGE)
    if target == source:
        fail("--to names the store being copied")
    try:
        report = copy_store(source, target)
    except CopyError as exc:
        fail(f"{redact(target)}: {exc}")
    except (OperationalError, ProgrammingError) as exc:
        fail(f"cannot write to {redact(target)}: {exc.orig}")
    total = sum(report.rows.values())
    typer.echo(f"copied {total} rows from {redact(source)} to {redact(target)}: "
               + ", ".join(f"{name} {n}" for name, n in report.rows.items() if n), err=True)
