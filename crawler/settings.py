"""Scrapy settings for expowatch crawls (`scrapy crawl NAME` and `expowatch crawl`)."""

import os

BOT_NAME = "expowatch"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
SPIDER_LOADER_CLASS = "crawler.spiderloader.SourceSpiderLoader"

# Where articles go and where extra sources come from (None: EXPOWATCH_DB_URL /
# EXPOWATCH_SOURCES, then the documented defaults).
EXPOWATCH_DB_URL = None
EXPOWATCH_SOURCES_FILE = None
EXPOWATCH_EVENTS_FILE = None  # None: EXPOWATCH_EVENTS, then the built-in taxonomy
# Near-duplicate threshold: estimated Jaccard similarity of shingles (see docs/dedup.md).
EXPOWATCH_DEDUP_THRESHOLD = 0.6
EXPOWATCH_BACKFILL = False
# Processes that run extraction off the reactor (None: one per core).
EXPOWATCH_EXTRACT_WORKERS = None

# Names the tool so site owners can find out who is calling and match it in robots.txt
# (User-agent: expowatch). EXPOWATCH_USER_AGENT replaces it for every crawl.
DEFAULT_USER_AGENT = "expowatch/0.1 (news monitoring crawler; +https://pypi.org/project/expowatch/)"
USER_AGENT = os.environ.get("EXPOWATCH_USER_AGENT") or DEFAULT_USER_AGENT
ROBOTSTXT_OBEY = True  # sources may opt out with obey_robots = false
# A site's robots.txt is reused from the store this long at most (its Cache-Control may say less).
EXPOWATCH_ROBOTS_MAX_AGE = 24 * 3600
DOWNLOAD_DELAY = 1.0  # default per-site delay; sources override with download_delay
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
# Items handled at once per response. An article page yields one item and a list page a few
# dozen requests; Scrapy starts this many asyncio workers for every response, so its default
# of 100 costs more reactor time than the pipelines do.
CONCURRENT_ITEMS = 8
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024  # no news page needs more; caps hostile bodies
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_TIMES = 2
# Waits between attempts: 0.5 s, 1 s, 2 s ... (doubling), never more than the maximum.
EXPOWATCH_RETRY_BACKOFF = 0.5
EXPOWATCH_RETRY_BACKOFF_MAX = 30.0
# A 429/503 Retry-After up to this many seconds is waited for (the whole site pauses);
# a longer one fails the request now and leaves it to the next scheduled run.
EXPOWATCH_RETRY_AFTER_MAX = 60.0
# robots.txt Crawl-delay is obeyed up to this many seconds between requests to a site;
# more would let one site hold a scheduled run for hours (120 requests an hour at 30 s).
EXPOWATCH_CRAWL_DELAY_MAX = 30.0
# Conditional GET (ETag / Last-Modified from the http_cache table) on feeds, sitemaps, list pages.
EXPOWATCH_CONDITIONAL_GET = True
# The crawl engine first sends a source's conditional requests through one shared crawler and
# builds the source's own crawler only if a page changed (crawler/engine/precheck.py).
EXPOWATCH_PRECHECK = True
# `expowatch sources check`: no store at all, and stop after this many articles (0: no limit).
# Bounded memory whatever a site publishes: entries kept from one feed or sitemap file (the
# sitemap protocol's own maximum, so a conforming file is never cut; a bigger one keeps its
# newest), and requests (articles, child sitemaps) taken from discovery in one crawl of a
# source (~1 kB each while queued; the rest is found again next round, as the store decides).
# Hitting either is logged and kept in the run's stats (expowatch/discovery/cap_reason).
EXPOWATCH_MAX_ENTRIES_PER_FILE = 50_000
EXPOWATCH_MAX_REQUESTS_PER_ROUND = 20_000
EXPOWATCH_DRY_RUN = False
EXPOWATCH_ARTICLE_LIMIT = 0
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"
LOG_FORMATTER = "crawler.logformatter.ExpowatchLogFormatter"

ITEM_PIPELINES = {
    "crawler.pipelines.ValidatePipeline": 100,
    "crawler.pipelines.ProcessPipeline": 200,
    "crawler.pipelines.StorePipeline": 300,
}
DOWNLOAD_HANDLERS = {
    "http": "crawler.http_handler.KeepAliveDownloadHandler",
    "https": "crawler.http_handler.KeepAliveDownloadHandler",
    # Only http(s) is fetched (crawler/safety.py refuses the rest); not loading these
    # handlers also saves every crawler their imports at start-up.
    "data": None,
    "file": None,
    "ftp": None,
    "s3": None,
}
DOWNLOADER_MIDDLEWARES = {
    # robots.txt from the store's cache (crawler/robots.py) instead of a fetch per crawl.
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "crawler.robots.CachedRobotsTxtMiddleware": 100,
    "crawler.safety.AddressGuardMiddleware": 40,  # SSRF guard, before robots.txt (100): see crawler/safety.py
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "crawler.middlewares.PoliteRetryMiddleware": 550,
    "crawler.middlewares.CrawlDelayMiddleware": 110,  # right after RobotsTxtMiddleware (100)
    "crawler.middlewares.ConditionalGetMiddleware": 560,
}
EXTENSIONS = {
    "crawler.runrecord.CrawlRunRecorder": 100,
    "crawler.progress.ProgressLine": 200,
}
