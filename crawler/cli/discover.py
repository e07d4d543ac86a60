"""`expowatch sources discover URL`: a source declaration written from a homepage (nothing stored)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crawler.cli.app import fail
from crawler.cli.sources import print_report, sources_app


@sources_app.command("discover")
def discover(
    url: Annotated[str, typer.Argument(help="The site's homepage (http or https).")],
    name: Annotated[str | None, typer.Option("--name", help="The source's name (default: from the host).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", metavar="FILE",
                                                help="Also write the declaration to FILE (appended if it exists).")] = None,
    allow_private_addresses: Annotated[bool, typer.Option(
        "--allow-private-addresses", help="Allow a site on a private or loopback address (an intranet, a test site).")] = False,
    download_delay: Annotated[float, typer.Option(
        min=0, help="Seconds between requests to the site while surveying it (a crawl's default).")] = 1.0,
    limit: Annotated[int, typer.Option(min=1, help="How many articles the dry run fetches and extracts.")] = 3,
) -> None:
    """Find a site's feeds, sitemaps and list pages, and print a ready \\[\\[source]] declaration.

    The homepage, robots.txt, usual feed and sitemap locations and the navigation pages
    are fetched as a crawl fetches (address guard, size caps, robots.txt, politeness);
    then the proposed declaration is dry-run like `sources check`. Nothing is stored.
    Exits 1 when the homepage cannot be read or offers nothing to crawl.
    """
    from spiders.discover import discover_site
    from spiders.proposal import NAME_PATTERN
    from spiders.sources import SourceError, load_sources_file

    if not url.startswith(("http://", "https://")) or "://" not in url or not url.split("://", 1)[1].strip("/"):
        fail(f"{url!r} is not an http(s) URL of a homepage", code=2)
    if name is not None and not NAME_PATTERN.match(name):
        fail(f"--name {name!r}: lower-case letters, digits, '-' or '_' (max 64)", code=2)
    if output is not None and output.exists():
        try:
            existing = load_sources_file(output)
        except SourceError as exc:
            fail(f"cannot add to {output}: {exc}")
        if name and any(s.name == name for s in existing):
            fail(f"{output} already declares a source {name!r}; choose another --name")
    discovery = discover_site(url, name, allow_private_addresses=allow_private_addresses,
                              download_delay=download_delay, check_limit=limit)
    if discovery.declaration is None:
        fail(discovery.problem or f"{url}: nothing found")
    text = discovery.declaration.toml()
    typer.echo(text)
    if output is not None:
        _write(output, text, discovery.source.name)
    if discovery.report is not None:
        print_report(discovery.report)
        if not discovery.report.ok:
            fail(f"{url}: the proposed declaration found no article that could be extracted; adjust it before use")


def _write(output: Path, text: str, name: str) -> None:
    """Write (or append) the declaration, refusing a file that would then declare the name twice."""
    from spiders.sources import SourceError, load_sources_file

    before = output.read_text(encoding="utf-8") if output.exists() else ""
    if before and any(s.name == name for s in load_sources_file(output)):
        fail(f"{output} already declares a source {name!r}; choose another --name")
    combined = (before.rstrip("\n") + "\n\n" if before.strip() else "") + text
    try:
        output.write_text(combined, encoding="utf-8")
    except OSError as exc:
        fail(f"cannot write {output}: {exc.strerror or exc}")
    try:
        load_sources_file(output)
    except SourceError as exc:  # never leave a broken sources file behind
        output.write_text(before, encoding="utf-8")
        fail(f"not written to {output}: {exc}")
    typer.echo(f"declaration written to {output}", err=True)
