"""`sources discover`: survey a homepage, propose a [[source]] declaration, and dry-run it.

Both steps are Scrapy crawls with the project's settings (address guard, size caps,
robots.txt, politeness) run one after the other in one process; neither opens a store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from scrapy.crawler import CrawlerProcess

from spiders.check import CheckReport, dry_run_settings
from spiders.discovery import Listing
from spiders.proposal import (
    MIN_ARTICLES_FOR_PATTERN,
    Declaration,
    language_of,
    name_for,
    propose_pattern,
    propose_timezone,
)
from spiders.sources import DEFAULT_SCHEDULE, Source, SourceError, parse_sources
from spiders.survey import Survey, survey_spider_for

DEFAULT_DISCOVER_DELAY = 1.0  # the crawl's own default politeness (Source.download_delay)
# A further list page is declared when at least this share of its article links is not
# on the list pages already chosen (a second section, not the same list under another name).
NEW_LINKS_SHARE = 0.5


class NothingFound(ValueError):
    """The homepage could not be read, or offers no feed, sitemap or list page of articles."""


@dataclass
class Discovery:
    """A survey, the declaration proposed from it (or why none), and the dry run of that declaration."""

    survey: Survey
    declaration: Declaration | None = None
    source: Source | None = None
    problem: str | None = None
    report: CheckReport | None = None


def propose(survey: Survey, name: str | None = None, *, allow_private_addresses: bool = False,
            download_delay: float | None = None) -> tuple[Declaration, Source]:
    """The declaration a survey supports, validated as a sources file would be; NothingFound if none."""
    if survey.home_error:
        raise NothingFound(f"{survey.homepage}: cannot read the homepage: {survey.home_error}")
    origin = survey.origin
    netloc = urlsplit(origin).netloc
    found_urls = [e.url for entries in survey.feeds.values() for e in entries]
    found_urls += [e.url for kind, entries in survey.sitemaps.values() if kind != "sitemapindex" for e in entries]
    found_urls += [u for links in survey.list_pages.values() for u in links] + survey.home_links
    proposal = propose_pattern([u for u in found_urls if urlsplit(u).netloc == netloc], origin)
    if proposal is None:
        raise NothingFound(f"{survey.homepage}: no feed, sitemap or list page with at least "
                           f"{MIN_ARTICLES_FOR_PATTERN} article links of one URL shape was found")
    regex = re.compile(proposal.pattern)

    def matching(entries: list[Listing]) -> frozenset[str]:
        return frozenset(e.url for e in entries if regex.search(e.url))

    feeds = _distinct({url: matching(entries) for url, entries in survey.feeds.items()},
                      prefer=survey.linked_feeds)
    sitemaps_matching = _sitemap_articles(survey, matching)
    robots = [u for u in survey.robots_sitemaps if sitemaps_matching.get(u)]
    children = {e.url for kind, entries in survey.sitemaps.values() if kind == "sitemapindex" for e in entries}
    top = {u: m for u, m in sitemaps_matching.items() if u not in children and u not in survey.robots_sitemaps}
    robots_covered = frozenset().union(*(sitemaps_matching[u] for u in robots)) if robots else frozenset()
    sitemaps = [u for u in _distinct(top) if not sitemaps_matching[u] <= robots_covered]
    lists = _list_pages(survey, regex)
    if not (feeds or sitemaps or robots or lists):
        raise NothingFound(f"{survey.homepage}: articles look like {proposal.example}, but no feed, "
                           "sitemap or list page lists them")
    language = language_of(survey.lang)
    zone, zone_reason = propose_timezone(survey.offsets, language)
    if zone == "UTC" and survey.icp_licence:
        zone, zone_reason = "Asia/Shanghai", "the site shows a Chinese ICP licence number; no offset in its dates (check)"

    declaration = Declaration()
    declaration.add("name", name or name_for(survey.homepage), "" if name else "from the host name; rename at will")
    declaration.add("homepage", survey.home_url or survey.homepage)
    declaration.add("feeds", feeds, _count_comment(feeds, "feed", "linked from the homepage or at a usual location"))
    declaration.add("sitemaps", sitemaps, _count_comment(sitemaps, "sitemap", "at a usual location"))
    if robots:
        declaration.add("discover_sitemaps", True, f"robots.txt lists {len(robots)} sitemap(s) of articles: "
                                                   + ", ".join(robots))
    declaration.add("list_pages", lists, _count_comment(lists, "list page", "navigation pages listing many article "
                                                                            "links (pagination is followed)"))
    declaration.add("article_pattern", proposal.pattern,
                    f"the common shape of {proposal.matched} article URLs found, e.g. {proposal.example}")
    if language:
        declaration.add("language", language, f'the homepage says lang="{survey.lang}"')
    declaration.add("timezone", zone, zone_reason)
    declaration.add("schedule", DEFAULT_SCHEDULE, "hourly; news sites may want */30")
    if allow_private_addresses:
        declaration.add("allow_private_addresses", True, "the site is on a private or loopback address")
    if download_delay is not None and download_delay != DEFAULT_DISCOVER_DELAY:
        declaration.add("download_delay", download_delay, "as given to sources discover")
    try:
        (source,) = parse_sources(declaration.toml(), where="proposed declaration")
    except SourceError as exc:  # a proposal the sources file would refuse is a bug here: say so plainly
        raise NothingFound(f"{survey.homepage}: the proposed declaration is invalid: {exc}") from None
    return declaration, source


def _count_comment(urls: list[str], what: str, how: str) -> str:
    return f"none found ({what}s {how})" if not urls else how


def _distinct(found: dict[str, frozenset[str]], prefer: list[str] = ()) -> list[str]:
    """URLs with matching articles, one per distinct set of them (/feed and /feed/ are one feed)."""
    order = [u for u in prefer if u in found] + [u for u in found if u not in prefer]
    chosen: list[str] = []
    seen: set[frozenset[str]] = set()
    for url in order:
        if found[url] and found[url] not in seen:
            seen.add(found[url])
            chosen.append(url)
    return chosen


def _sitemap_articles(survey: Survey, matching) -> dict[str, frozenset[str]]:
    """Matching article URLs per sitemap; an index gets its children's (as far as the survey read them)."""
    own = {url: (matching(entries) if kind != "sitemapindex" else frozenset())
           for url, (kind, entries) in survey.sitemaps.items()}
    for _ in range(3):  # indexes of indexes: the survey follows two levels
        for url, (kind, entries) in survey.sitemaps.items():
            if kind == "sitemapindex":
                own[url] = frozenset().union(*(own.get(e.url, frozenset()) for e in entries))
    return own


def _list_pages(survey: Survey, regex: re.Pattern[str]) -> list[str]:
    """The list pages with the most article links, and others that add a section of their own."""
    scored = sorted(((frozenset(u for u in links if regex.search(u)), url) for url, links in survey.list_pages.items()),
                    key=lambda pair: len(pair[0]), reverse=True)
    chosen: list[str] = []
    covered: set[str] = set()
    for articles, url in scored:
        if len(articles) < MIN_ARTICLES_FOR_PATTERN:
            break
        if not chosen or len(articles - covered) >= NEW_LINKS_SHARE * len(articles):
            chosen.append(url)
            covered |= articles
    if not chosen and sum(1 for u in survey.home_links if regex.search(u)) >= MIN_ARTICLES_FOR_PATTERN:
        chosen.append(survey.home_url or survey.homepage)
    return chosen


def discover_site(url: str, name: str | None = None, *, allow_private_addresses: bool = False,
                  download_delay: float | None = None, check_limit: int = 3) -> Discovery:
    """Survey a homepage, propose a declaration, and dry-run it (nothing is stored)."""
    from crawler.spiderloader import spider_class_for

    delay = DEFAULT_DISCOVER_DELAY if download_delay is None else download_delay
    surveying = Source(name="survey", homepage=url, list_pages=(url,), article_pattern=".",
                       allow_private_addresses=allow_private_addresses, download_delay=delay)
    settings = dry_run_settings(None, check_limit)
    # Every failure is in the survey or the dry-run report (and the one error line): Scrapy's
    # own ERROR lines (retries given up, with tracebacks) would bury that line.
    settings.set("LOG_LEVEL", "CRITICAL", priority="cmdline")
    process = CrawlerProcess(settings)
    survey_crawler = process.create_crawler(survey_spider_for(surveying))
    outcome: dict[str, object] = {}

    def after_survey(_):
        survey = survey_crawler.spider.survey
        outcome["discovery"] = discovery = Discovery(survey)
        try:
            discovery.declaration, discovery.source = propose(
                survey, name, allow_private_addresses=allow_private_addresses, download_delay=download_delay)
        except NothingFound as exc:
            discovery.problem = str(exc)
            return None
        check = process.create_crawler(spider_class_for(discovery.source))
        outcome["check"] = check
        return process.crawl(check)

    done = process.crawl(survey_crawler)
    done.addCallback(after_survey)
    done.addErrback(lambda failure: outcome.setdefault("failure", failure))
    process.start()
    if "failure" in outcome:
        outcome["failure"].raiseException()
    discovery: Discovery = outcome["discovery"]
    check = outcome.get("check")
    if check is not None and check.spider is not None:
        spider = check.spider
        discovery.report = CheckReport(
            source=discovery.source.name, discovery_ok=spider.discovery["ok"],
            discovery_failed=spider.discovery["failed"], articles_found=len(spider.requested),
            articles=list(spider.checked_articles), errors=list(spider.errors))
    return discovery
