"""The Redis session store as operators run it: users without script permission, Redis
builds with scripting disabled, and outages seen by an app with apps mounted in it."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import redis

from micropie import App, HttpMiddleware, RedisSessionBackend
from tests.support import RedisServer, free_port, wait_until

pytestmark = pytest.mark.redis

STORE_DOWN = "503 Service Unavailable: the session store is not answering, try again"


class Counter(App):
    async def index(self):
        return "ok"

    async def count(self):
        self.session["count"] = self.session.get("count", 0) + 1
        return str(self.session["count"])


def counting_app(url: str) -> Counter:
    backend = RedisSessionBackend(url)
    app = Counter(backend, session_store_timeout=5)
    app.shutdown_handlers.append(backend.aclose)
    return app


def script_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "session read script" in r.getMessage()]


def test_a_redis_user_without_scripting_permission_keeps_sessions(
    client_factory, redis_server, caplog
):
    """ACL user with ``-@scripting`` (as managed Redis plans give): reads fall back to a
    MULTI transaction, the TTL still restarts, and one line says so."""
    admin = redis.Redis.from_url(redis_server.url, decode_responses=True)
    admin.acl_setuser(
        "web", enabled=True, passwords=["+pw"], keys=["*"], commands=["+@all", "-@scripting"]
    )
    url = f"redis://web:pw@127.0.0.1:{redis_server.port}/0"
    with caplog.at_level(logging.WARNING, "micropie"), client_factory(counting_app(url)) as client:
        assert [client.get("/count").text for _ in range(4)] == ["1", "2", "3", "4"]
        (key,) = admin.keys("micropie:session:*")
        admin.expire(key, 5)
        assert client.get("/count").text == "5"
        assert admin.ttl(key) > 60
    assert admin.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0) <= 1
    assert len(script_warnings(caplog)) == 1
    assert "permission" in script_warnings(caplog)[0]
    assert key.removeprefix("micropie:session:") not in caplog.text  # session ids are secrets
    admin.close()


def test_a_redis_with_evalsha_disabled_keeps_sessions(client_factory, caplog):
    """``rename-command EVALSHA ""`` (scripting switched off): the same fallback."""
    server = RedisServer(free_port(), options=("--rename-command", "EVALSHA", ""))
    server.start()
    try:
        app = counting_app(server.url)
        with caplog.at_level(logging.WARNING, "micropie"), client_factory(app) as client:
            assert [client.get("/count").text for _ in range(3)] == ["1", "2", "3"]
            cookie = client.cookies["session_id"]
    finally:
        server.stop()
    assert len(script_warnings(caplog)) == 1
    assert "unknown command" in script_warnings(caplog)[0]
    assert cookie not in caplog.text


def test_an_outage_is_logged_once_for_an_app_and_the_apps_mounted_in_it(
    client_factory, redis_server, caplog
):
    """A site sharing one store with the apps mounted in it (as the showcase does): one
    line when Redis goes, one when it is back, whichever app the requests reach."""
    backend = RedisSessionBackend(redis_server.url)
    site = Counter(backend, session_store_timeout=5)
    site.shutdown_handlers.append(backend.aclose)
    shop, inner = Counter(backend), Counter(backend)
    shop.mount("/inner", inner)
    site.mount("/shop", shop)
    paths = ["/count", "/shop/count", "/shop/inner/count"]
    with caplog.at_level(logging.WARNING, "micropie"), client_factory(site) as client:
        assert [client.get(path).text for path in paths] == ["1", "2", "3"]
        redis_server.stop()
        for path in paths * 2:
            response = client.get(path)
            assert (response.status_code, response.text) == (503, STORE_DOWN), path
        redis_server.start()
        assert wait_until(lambda: client.get("/count").status_code == 200, timeout=30)
        assert [client.get(path).status_code for path in paths] == [200] * 3
    lines = [r.getMessage() for r in caplog.records if "session store" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "unavailable" in lines[0] and "answers again" in lines[1]


class Account(App):
    async def about(self):
        return "about us"

    def about_sync(self):
        return "about us, from a thread"

    async def login(self):
        self.session["user"] = "ann"
        return "in"

    async def whoami(self):
        return self.session.get("user", "nobody")

    def whoami_sync(self):
        return self.session.get("user", "nobody")

    async def rename(self):
        self.session["user"] = "bob"
        return "renamed"

    async def logout(self):
        self.session.clear()
        return "out"

    async def has_session(self):
        return "yes" if self.session else "no"


class Seen(HttpMiddleware):
    """Records the status each answer had and what the session looked like to the hook."""

    def __init__(self, touch: bool = False) -> None:
        self.touch = touch
        self.seen: list[tuple[int, Any]] = []

    async def before_request(self, request):
        if self.touch:
            request.session.get("user")
        return None

    async def after_request(self, request, status_code, response_body, extra_headers):
        session = request.session  # not read by this hook unless it is a plain dict
        self.seen.append((status_code, dict(session) if type(session) is dict else "unread"))
        return None


@pytest.fixture
def persistent_redis(tmp_path):
    server = RedisServer(free_port(), data_dir=tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.mark.parametrize("hooks", [False, True], ids=["direct path", "with a hook"])
def test_a_store_outage_answers_503_only_where_the_session_is_used(
    client_factory, persistent_redis, caplog, hooks
):
    """Redis is down: pages that never use the session are served to visitors who have
    one; using it (reading, writing, clearing) answers 503; the cookie is left alone, and
    the session is intact once Redis is back."""
    backend = RedisSessionBackend(persistent_redis.url)
    app = Account(backend, session_store_timeout=5)
    app.shutdown_handlers.append(backend.aclose)
    seen = Seen()
    if hooks:
        app.middlewares.append(seen)
    with caplog.at_level(logging.WARNING, "micropie"), client_factory(app) as client:
        assert client.get("/login").text == "in"
        cookie = client.cookies["session_id"]
        persistent_redis.stop()
        for path in ["/about", "/about_sync"]:
            response = client.get(path)
            assert response.status_code == 200, path
            assert "set-cookie" not in response.headers
        for path in ["/whoami", "/whoami_sync", "/rename", "/logout", "/has_session"]:
            response = client.get(path)
            assert (response.status_code, response.text) == (503, STORE_DOWN), path
            assert response.headers["retry-after"] == "1"
            assert "set-cookie" not in response.headers
        persistent_redis.start()
        assert wait_until(lambda: client.get("/whoami").status_code == 200, timeout=30)
        assert client.get("/whoami").text == "ann"
        assert client.cookies["session_id"] == cookie
    assert "Traceback" not in caplog.text
    if hooks:  # each answer once; the 503s with no session, as when the store refuses early
        assert seen.seen[:8] == [(200, {"user": "ann"}), *[(200, "unread")] * 2, *[(503, {})] * 5]


def test_a_hook_using_the_session_during_an_outage_answers_503(client_factory, redis_server):
    """A before_request hook (CSRF checks, a login gate) that reads the session turns
    every request with a session cookie into the 503, through the after_request hooks."""
    backend = RedisSessionBackend(redis_server.url)
    app = Account(backend, session_store_timeout=5)
    app.shutdown_handlers.append(backend.aclose)
    gate = Seen(touch=True)
    app.middlewares.append(gate)
    with client_factory(app) as client:
        assert client.get("/login").text == "in"
        redis_server.stop()
        response = client.get("/about")
        assert (response.status_code, response.text) == (503, STORE_DOWN)
        assert gate.seen[-1] == (503, {})
        client.cookies.clear()
        assert client.get("/about").status_code == 200  # no session cookie: no session used


def test_an_outage_spares_handed_off_requests_that_do_not_use_the_session(
    client_factory, redis_server
):
    """examples/middleware/subapps: a hook hands /blog to a micropie app and /api to a
    Starlette app, both sharing the parent's session. During an outage only the pages
    that read it answer 503."""
    from examples.middleware.subapps.app import Blog, Mounts, Site, api

    backend = RedisSessionBackend(redis_server.url)
    app = Site(backend)
    app.middlewares.append(Mounts({"/blog": Blog(), "/api": api}))
    app.shutdown_handlers.append(backend.aclose)
    with client_factory(app) as client:
        assert client.get("/login?user=ann").status_code == 200
        redis_server.stop()
        assert client.get("/blog/post/1").json()["post"] == 1
        assert client.get("/").status_code == 200
        for path in ["/blog/", "/api/me"]:  # both read the session
            response = client.get(path)
            assert (response.status_code, response.text) == (503, STORE_DOWN), path
            assert "set-cookie" not in response.headers
