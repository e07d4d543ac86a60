"""The `expowatch` Typer app and the options every command shares."""

from __future__ import annotations

import sys
from typing import Annotated, NoReturn

import typer
from typer.core import TyperGroup, TyperOption

# The order `expowatch --help` lists commands in: first steps, daily reading, checking a
# source, keeping watch, the store, several machines. Commands not named here come last.
COMMAND_ORDER = (
    "demo", "crawl", "search", "show", "export", "events", "sources", "extract", "runs", "health",
    "schedule", "alerts", "feed", "serve", "retag", "reextract", "db", "worker", "enqueue", "queue",
)
PROG_NAME = "expowatch"


class ExpowatchGroup(TyperGroup):
    """The root command: commands in a reading order, plain metavars, one-line usage errors."""

    def list_commands(self, ctx) -> list[str]:
        rank = {name: i for i, name in enumerate(COMMAND_ORDER)}
        return sorted(self.commands, key=lambda name: rank.get(name, len(rank)))

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Run the command line; a wrong command line is one line on stderr and exit 2."""
        prog_name = prog_name or PROG_NAME
        tidy_metavars(self)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except typer.TyperException as exc:  # Click's errors (Typer bundles its own Click)
            if type(exc).__name__ == "NoArgsIsHelpError":  # a bare `expowatch db`: the help
                exc.show()
                sys.exit(0)
            print(f"{PROG_NAME}: error: {one_line(exc.format_message())}", file=sys.stderr)
            sys.exit(getattr(exc, "exit_code", EXIT_FAILED))
        except typer.Abort:
            sys.exit(EXIT_FAILED)
        sys.exit(result if isinstance(result, int) else 0)


def one_line(message: str) -> str:
    """A message folded onto one line (Click and Typer wrap theirs)."""
    return " ".join(message.split())


def tidy_metavars(command) -> None:
    """No `<bool>` after a flag and `<str>` rather than `<list[str]>` after a repeatable option."""
    help_option = command.get_help_option(typer.Context(command))
    for param in [*command.params, *([help_option] if help_option else [])]:
        if isinstance(param, TyperOption) and param.metavar is None:
            if param.is_flag:
                param.metavar = ""
            elif param.multiple and not param.type_descriptor.is_choice:
                param.metavar = "<" + param.bare_type().removeprefix("list[").removesuffix("]") + ">"
    for sub in getattr(command, "commands", {}).values():
        tidy_metavars(sub)


def package_version() -> str:
    """The installed version, or pyproject's when run from a source checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("expowatch")
    except PackageNotFoundError:
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
        return tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["version"]


app = typer.Typer(
    name=PROG_NAME,
    cls=ExpowatchGroup,
    help="Watch expo, conference and news sites: crawl, extract, deduplicate, tag events, search.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"{PROG_NAME} {package_version()}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Watch expo, conference and news sites: crawl, extract, deduplicate, tag events, search."""


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

# The largest whole number a store column holds (SQLite and PostgreSQL BIGINT): the upper
# bound of every count, id and offset option, so a huge one is a usage error, not a crash.
MAX_STORE_INT = 2**63 - 1
MAX_YEAR = 9999  # the last year a date can name

EXIT_FAILED = 1  # the work ran and failed (a source failed, a file is bad, the store is unusable)
EXIT_USAGE = 2  # the command line itself is wrong (Click's own code for usage errors)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print one clear line to stderr and exit non-zero."""
    print(f"expowatch: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def open_store(db: str | None, *, writable: bool = False, must_exist: bool = False) -> str:
    """Resolve the store URL and bring its schema up to date.

    writable: also prove that this process may write (a read-only file, a read-only
    PostgreSQL replica or a locked database fail here, before any work starts).
    must_exist: a command that only reads fails when there is no store yet, creating
    nothing (no folder, no file, no tables).
    Any failure is one clear line: exit 2 for a URL that cannot name a store, else 1.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from storage.engine import StoreURLError, check_store_url, resolve_db_url, store_exists
    from storage.migrate import check_writable, ensure_schema

    url = resolve_db_url(db)
    try:
        check_store_url(url)
    except StoreURLError as exc:
        fail(str(exc), EXIT_FAILED if exc.missing_extra else EXIT_USAGE)
    try:
        if must_exist and not store_exists(url):
            fail(f"no store at {redact(url)}: nothing has been crawled into it yet "
                 "(`expowatch crawl` or `expowatch db upgrade` creates it; --db or EXPOWATCH_DB_URL chooses it)")
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
