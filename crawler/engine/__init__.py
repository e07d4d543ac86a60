"""The warm crawl engine: one long-lived process with Scrapy's reactor, many crawls in it.

    protocol.py  the messages between the scheduler and an engine (JSON lines on stdin/stdout)
    process.py   the engine process: CrawlerRunner, one crawler per "crawl" command
    pace.py      limits across the crawls of one engine: requests at once, one site's pace
    __main__.py  `python -m crawler.engine CONFIG_JSON` (started by scheduler.supervisor)

The extraction pool and the store writer (crawler.workers) are process-wide, so they stay
warm from one crawl to the next. The scheduler supervises the process from outside
(scheduler/supervisor.py): timeouts, engine deaths, recycling.
"""
