"""A Redis that fills up with sessions, as docs/guides/redis-sessions.md describes: each
request without a cookie that writes its session adds one, kept for the idle timeout.
With Redis' default ``maxmemory-policy noeviction`` a full Redis refuses writes, and
every request that uses its session answers 503; with ``volatile-lru`` (the guide's
advice) Redis drops the least recently used sessions and service goes on. The outage's
log line names no session."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.support import RedisServer, free_port

pytestmark = pytest.mark.redis

VALUE = "x" * 20_000  # large sessions: a 2 MB Redis is full after about a hundred


@pytest.fixture(params=["noeviction", "volatile-lru"])
def small_redis(request) -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    options = ("--maxmemory", "2mb", "--maxmemory-policy", request.param)
    server = RedisServer(free_port(), options=options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_a_full_redis_and_its_eviction_policy(small_redis, caplog):
    import redis
    from starlette.testclient import TestClient

    from micropie import App, RedisSessionBackend

    class Site(App):
        async def visit(self):
            self.request.session["data"] = VALUE
            return "stored"

        async def plain(self):
            return "no session"

    sessions = RedisSessionBackend(small_redis.url)
    app = Site(sessions)
    app.shutdown_handlers.append(sessions.aclose)
    statuses: Counter[int] = Counter()
    with TestClient(app) as client:
        for _ in range(400):  # new visitors, none sending a cookie back
            client.cookies.clear()
            statuses[client.get("/visit").status_code] += 1
        assert client.get("/plain").text == "no session"
    with redis.Redis.from_url(small_redis.url) as admin:
        stored, evicted = admin.dbsize(), admin.info("stats")["evicted_keys"]
    assert stored < 400
    outage_lines = [r for r in caplog.records if "session store is unavailable" in r.getMessage()]
    if "noeviction" in small_redis.options:
        assert statuses[200] == stored and statuses[503] == 400 - stored, statuses
        assert evicted == 0
        (line,) = [record.getMessage() for record in outage_lines]
        assert "command not allowed when used memory > 'maxmemory'" in line, line
        # redis-py's message named the failed HSET with its key: no session id is logged
        assert "micropie:session:" not in line and not re.search(r"[0-9a-f]{8}-", line), line
    else:
        assert statuses == {200: 400}
        assert evicted >= 400 - stored
        assert outage_lines == []
