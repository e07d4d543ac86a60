"""`expowatch db ...`: schema migrations."""

from __future__ import annotations

import typer

from crawler.cli.app import DbOption, app, open_store, redact

db_app = typer.Typer(help="The store's schema: migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(db: DbOption = None) -> None:
    """Create the store or migrate it to the newest schema."""
    from storage.migrate import current_revision
    from storage.engine import get_engine

    url = open_store(db)
    typer.echo(f"{redact(url)} is at schema revision {current_revision(get_engine(url))}")
