"""A client minting server-side sessions without end, against a real redis-server.

Every request without a cookie that writes the session makes a new one. In memory,
``max_sessions`` bounds them; Redis sessions are bounded by Redis itself: every session
key carries a TTL, so a ``volatile-*`` eviction policy drops the least recently used
sessions when ``maxmemory`` is reached (docs/sessions.md). A full Redis under the default
``noeviction`` refuses writes: those requests answer 503, and the log line says why
without naming any session.
"""

from __future__ import annotations

import logging
import shutil
from collections import Counter

import pytest
import redis
from starlette.testclient import TestClient

from micropie import App, RedisSessionBackend
from tests.support import RedisServer, free_port

pytestmark = pytest.mark.redis
FLOOD = 5_000


class Visits(App):
    async def visit(self):
        self.session["visits"] = self.session.get("visits", 0) + 1
        self.session["note"] = "private-value" + "." * 1000  # ~1 KB a session
        return str(self.session["visits"])


def visits(url: str) -> Visits:
    backend = RedisSessionBackend(url)
    app = Visits(backend)
    app.shutdown_handlers.append(backend.aclose)
    return app


@pytest.fixture
def bounded_redis(request):
    """A redis-server of the test's own with the options the test is parametrized with."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(free_port(), options=request.param)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize(
    "bounded_redis",
    [("--maxmemory", "2mb", "--maxmemory-policy", "volatile-lru")],
    indirect=True,
)
def test_cookieless_session_flood_is_bounded_by_redis_eviction(bounded_redis):
    app = visits(bounded_redis.url)
    statuses: Counter[int] = Counter()
    with TestClient(app) as client:
        for _ in range(FLOOD):  # ~3 times what 2 MB holds
            client.cookies.clear()
            statuses[client.get("/visit").status_code] += 1
        client.cookies.clear()
        assert client.get("/visit").text == "1"
        assert client.get("/visit").text == "2"  # a session still lives and is kept
    assert statuses == {200: FLOOD}  # no write refused, no 503
    store = redis.Redis.from_url(bounded_redis.url)
    try:
        assert store.dbsize() < FLOOD  # the oldest were evicted
        keys = store.keys("micropie:session:*")
        # every session expires (-1: a key without a TTL, never evicted by volatile-lru;
        # -2: evicted meanwhile, as Redis evicts on any command past maxmemory)
        assert keys and -1 not in {store.ttl(key) for key in keys[:500]}
    finally:
        store.close()


@pytest.mark.parametrize("bounded_redis", [()], indirect=True)
def test_full_redis_answers_503_and_logs_no_session_id_or_value(bounded_redis, caplog):
    app = visits(bounded_redis.url)
    store = redis.Redis.from_url(bounded_redis.url)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/visit").text == "1"
            session_id = client.cookies["session_id"]
            store.set("ballast", b"x" * 4 * 1024 * 1024)
            store.config_set("maxmemory", "1mb")  # noeviction: every write refused now
            with caplog.at_level(logging.WARNING, logger="micropie"):
                refused = client.get("/visit")
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            store.config_set("maxmemory", "0")
            store.delete("ballast")
            client.cookies["session_id"] = session_id
            assert client.get("/visit").status_code in (200, 503)  # 503 within the 1 s pause
    finally:
        store.close()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "The session store is unavailable (OutOfMemoryError" in logged
    assert "maxmemory" in logged  # Redis's reason is kept
    assert session_id not in logged
    assert "micropie:session:" not in logged
    assert "private-value" not in logged


class Reader(App):
    async def visit(self):
        self.session["visits"] = 1
        return "stored"

    async def read(self):
        return str(self.session.get("visits"))

    async def plain(self):
        return "no session"


@pytest.mark.parametrize("bounded_redis", [()], indirect=True)
def test_full_noeviction_redis_still_lets_sessions_be_read(bounded_redis):
    """A full ``noeviction`` Redis refuses writes, not the read that restarts a session's
    TTL: a request that only reads its session is served (the guide says so), as is a
    page without a session."""
    backend = RedisSessionBackend(bounded_redis.url)
    app = Reader(backend)
    app.shutdown_handlers.append(backend.aclose)
    store = redis.Redis.from_url(bounded_redis.url)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.get("/visit").text == "stored"
            assert client.get("/read").text == "1"
            store.set("ballast", b"x" * 4 * 1024 * 1024)
            store.config_set("maxmemory", "1mb")  # noeviction: every write refused now
            assert client.get("/read").text == "1"
            assert client.get("/plain").text == "no session"
    finally:
        store.close()
