"""Scrapy settings for expowatch crawls (`scrapy crawl NAME` and `expowatch crawl`)."""

BOT_NAME = "expowatch"
SPIDER_MODULES = ["spiders"]
NEWSPIDER_MODULE = "spiders"
SPIDER_LOADER_CLASS = "crawler.spiderloader.SourceSpiderLoader"

# Where articles go and where extra sources come from (None: EXPOWATCH_DB_URL /
# EXPOWATCH_SOURCES, then the documented defaults).
EXPOWATCH_DB_URL = None
EXPOWATCH_SOURCES_FILE = None
EXPOWATCH_BACKFILL = False
# Processes that run extraction off the reactor (None: one per core).
EXPOWATCH_EXTRACT_WORKERS = None

USER_AGENT = "expowatch/0.1 (news monitoring crawler; +https://pypi.org/project/expowatch/)"
ROBOTSTXT_OBEY = True
DOWNLOAD_DELAY = 1.0  # default per-site delay; sources override with download_delay
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 2
DOWNLOAD_TIMEOUT = 30
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024  # no news page needs more; caps hostile bodies
DOWNLOAD_WARNSIZE = 4 * 1024 * 1024
RETRY_TIMES = 2
REDIRECT_MAX_TIMES = 5
COOKIES_ENABLED = False
TELNETCONSOLE_ENABLED = False
LOG_LEVEL = "INFO"

ITEM_PIPELINES = {
    "crawler.pipelines.ValidatePipeline": 100,
    "crawler.pipelines.ExtractPipeline": 200,
    "crawler.pipelines.StorePipeline": 300,
}
EXTENSIONS = {
    "crawler.runrecord.CrawlRunRecorder": 100,
}
