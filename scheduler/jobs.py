"""The function APScheduler jobs call. The job store keeps only a reference to it
("scheduler.jobs:run_scheduled_crawl") and the source name, never a closure: the
work is done by the service running in this process."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scheduler.runner import CrawlOutcome
    from scheduler.service import SchedulerService

_service: SchedulerService | None = None


def bind(service: SchedulerService | None) -> None:
    """Make service the one that runs scheduled crawls in this process (None: unbind)."""
    global _service
    _service = service


def run_scheduled_crawl(source: str) -> CrawlOutcome:
    """APScheduler job: crawl one source through the running service."""
    if _service is None:
        raise RuntimeError(f"no expowatch scheduler service runs in this process to crawl {source!r}")
    return _service.run_job(source)
