"""The scheduler service: every enabled source on its own cron schedule, unattended.

    triggers.py  cron lines (5 fields, or 6 with seconds) as APScheduler triggers; pure
    service.py   SchedulerService: jobs in the store's database, serve() and run_once()
    jobs.py      the module-level function the stored jobs call
    supervisor.py EngineRunner: crawls in a warm crawl engine process (crawler/engine), supervised
    runner.py    CrawlRunner: `expowatch crawl SOURCE` subprocesses (--process-per-crawl)
    lock.py      one scheduler per store (flock beside SQLite, advisory lock on PostgreSQL)
    health.py    source health: a pure judgement over run records (storage/runs.py reads them)
    monitor.py   health of the declared sources from the store

See docs/scheduling.md.
"""
