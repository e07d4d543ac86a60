"""Crawling on several machines: a shared request queue in Redis (scrapy-redis), the store on PostgreSQL.

    expowatch enqueue SOURCE...   a round's discovery requests into Redis (enqueue_source)
    expowatch worker              any number, anywhere: crawl what is queued, store into PostgreSQL
    expowatch queue               what is queued, who holds what, what was poisoned

Modules: keys (Redis key names, connecting), serializer (JSON queue entries), queue (leased
per-source queues), scheduler (the Scrapy scheduler on them), leases (acknowledging finished
requests), pace (one download pace per site across workers), poison (dropping requests that
keep failing), spiders (source spiders as queue consumers), enqueue, worker, status.
See docs/scaling.md.
"""

from crawler.distributed.enqueue import Enqueued, enqueue_source  # noqa: F401
