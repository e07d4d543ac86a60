"""Log lines that name the URL and reason without dumping whole items (raw HTML) into the log."""

from __future__ import annotations

from scrapy.logformatter import LogFormatter


class ExpowatchLogFormatter(LogFormatter):
    """Scrapy's formatter, but a dropped item is logged by its URL, not by its repr."""

    def dropped(self, item, exception, response, spider=None, *args, **kwargs):
        entry = super().dropped(item, exception, response, spider, *args, **kwargs)
        entry["msg"] = "Dropped: %(exception)s"
        entry["args"] = {"exception": exception}
        return entry
