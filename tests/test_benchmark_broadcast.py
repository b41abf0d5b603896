"""Smoke test for benchmarks/broadcast.py: tiny runs yield complete tables (no timing asserted)."""

from __future__ import annotations

import asyncio

import pytest

from benchmarks import broadcast


def test_memory_run_delivers_everything():
    results = asyncio.run(broadcast.run([1, 3], paced=5, rate=1000, url=None))
    assert [(r.backend, r.subscribers, r.lost) for r in results] == [
        ("memory, 1 process", 1, 0),
        ("memory, 1 process", 3, 0),
    ]
    assert all(r.deliveries_per_second > 0 for r in results)
    table = broadcast.format_table(results)
    assert table.count("\n") == len(results) + 1


@pytest.mark.redis
@pytest.mark.slow
def test_redis_run_uses_two_worker_processes(redis_url):
    result = asyncio.run(broadcast.run_redis(redis_url, 3, paced=5, rate=1000))
    assert (result.backend, result.subscribers, result.lost) == ("Redis, 2 workers", 3, 0)
    assert result.p99_ms >= result.p50_ms >= 0
