"""`expowatch schedule --redis`: the scheduler queues due sources for workers instead of crawling."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import func, select

from crawler.distributed.queue import queued
from crawler.replica import ReplicaWeb
from redisserver import redis_server, redis_url  # noqa: F401  (fixtures)
from storage.engine import session_factory
from storage.models import Article

pytestmark = pytest.mark.integration


def test_schedule_once_in_distributed_mode_queues_each_due_source_once(tmp_path, sqlite_url, redis_url, run_cli):
    with ReplicaWeb() as web:
        sources = web.write_sources_file(tmp_path / "sources.toml")
        first = run_cli("schedule", "--once", "--redis", redis_url, "--sources-file", str(sources), "--db", sqlite_url)
        assert first.returncode == 0, first.stderr
        server = redis.Redis.from_url(redis_url)
        waiting = {name: queued(server, name) for name in web.sites}
        assert all(n > 0 for n in waiting.values()), waiting
        assert sum(web.request_counts().values()) == 0  # nothing crawled here: the workers will
        again = run_cli("schedule", "--once", "--redis", redis_url, "--sources-file", str(sources), "--db", sqlite_url)
        assert again.returncode == 0, again.stderr
        assert {name: queued(server, name) for name in web.sites} == waiting  # not queued twice
        server.close()
    with session_factory(sqlite_url)() as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 0


def test_schedule_with_redis_down_says_so_and_exits_1(tmp_path, sqlite_url, run_cli):
    from pgserver import free_port

    with ReplicaWeb() as web:
        sources = web.write_sources_file(tmp_path / "sources.toml")
        proc = run_cli("schedule", "--once", "--redis", f"redis://127.0.0.1:{free_port()}/0",
                       "--sources-file", str(sources), "--db", sqlite_url)
    assert proc.returncode == 1
    assert "expowatch: error: source" in proc.stderr and "Redis" in proc.stderr
    assert "Traceback" not in proc.stderr
