"""The scheduler service (APScheduler): not built yet; see issue 9.

Until then, run `expowatch crawl` from cron.
"""
