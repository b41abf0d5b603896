"""Sessions (SPEC §6): cookie handling, the three shipped backends and the no-work paths."""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import itsdangerous
import pytest
import redis

from micropie import (
    App,
    CookieSessionBackend,
    InMemorySessionBackend,
    MissingDependencyError,
    RedisSessionBackend,
    SessionBackend,
    SessionCookieTooLarge,
)
from micropie import sessions as sessions_module

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
SECRET = "test secret key"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class CountingBackend(InMemorySessionBackend):
    """The in-memory backend, counting the calls the manager makes."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self.saves = 0

    async def load(self, session_id: str) -> dict[str, Any]:
        self.loads += 1
        return await super().load(session_id)

    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        self.saves += 1
        await super().save(session_id, data, timeout)


class SessionApp(App):
    """Handlers that read, write, empty and regenerate the session."""

    async def index(self):
        return "no session here"

    async def count(self):
        self.session["count"] = self.session.get("count", 0) + 1
        return str(self.session["count"])

    async def peek(self):
        return self.session.get("user", "anonymous")

    async def login(self, user: str):
        self.session["user"] = user
        self.request.regenerate_session()
        return "logged in"

    async def logout(self):
        self.session.clear()
        return "bye"

    async def greet(self, user: str = "nobody"):
        return f"hello {user}"

    async def store(self, size: int):
        self.session["blob"] = secrets.token_urlsafe(size)[:size]  # incompressible
        return "stored"


def session_cookie(response: httpx.Response) -> str | None:
    """The raw ``Set-Cookie`` header for ``session_id``, if the response set one."""
    for value in response.headers.get_list("set-cookie"):
        if value.startswith("session_id="):
            return value
    return None


def cookie_value(response: httpx.Response) -> str:
    header = session_cookie(response)
    assert header is not None
    return header.split(";", 1)[0].split("=", 1)[1]


def attributes(header: str) -> set[str]:
    return {part.strip() for part in header.split(";")[1:]}


# -- cookie attributes ---------------------------------------------------------------------


def test_session_cookie_attributes_over_http(client_factory):
    client = client_factory(SessionApp())
    response = client.get("/count")
    header = session_cookie(response)
    assert header is not None
    assert UUID4.fullmatch(cookie_value(response))
    assert {"Path=/", "HttpOnly", "SameSite=Lax", "Max-Age=28800"} <= attributes(header)
    assert "Secure" not in attributes(header)


def test_secure_cookie_over_https(client_factory):
    client = client_factory(SessionApp(), base_url="https://testserver")
    assert "Secure" in attributes(session_cookie(client.get("/count")) or "")
    assert client.get("/count").text == "2"


@pytest.mark.parametrize(
    ("secure", "base_url", "expected"),
    [
        (True, "http://testserver", True),
        (False, "https://testserver", False),
        (None, "http://testserver", False),
        (None, "https://testserver", True),
    ],
)
def test_secure_flag_override(client_factory, secure, base_url, expected):
    client = client_factory(SessionApp(session_cookie_secure=secure), base_url=base_url)
    header = session_cookie(client.get("/count")) or ""
    assert ("Secure" in attributes(header)) is expected


def test_session_timeout_sets_max_age(client_factory):
    client = client_factory(SessionApp(session_timeout=120))
    assert "Max-Age=120" in attributes(session_cookie(client.get("/count")) or "")


# -- in-memory sessions through the app ----------------------------------------------------


def test_session_persists_across_requests(client_factory):
    client = client_factory(SessionApp())
    assert [client.get("/count").text for _ in range(3)] == ["1", "2", "3"]


def test_sessions_are_per_client(client_factory):
    app = SessionApp()
    first, second = client_factory(app), client_factory(app)
    first.get("/count")
    first.get("/count")
    assert second.get("/count").text == "1"


@pytest.mark.parametrize(
    "forged",
    [
        "not-a-uuid",
        "../../etc/passwd",
        "12345678-1234-1234-1234-123456789012",  # a UUID, but not version 4
        str(uuid.uuid4()).upper(),
        "{" + str(uuid.uuid4()) + "}",
        str(uuid.uuid4()).replace("-", ""),
    ],
)
def test_malformed_ids_never_reach_the_backend(client_factory, forged):
    backend = CountingBackend()
    client = client_factory(SessionApp(backend), cookies={"session_id": forged})
    response = client.get("/count")
    assert response.text == "1"
    assert backend.loads == 0
    assert UUID4.fullmatch(cookie_value(response))


def test_unknown_id_is_not_adopted(client_factory):
    planted = str(uuid.uuid4())
    client = client_factory(SessionApp(), cookies={"session_id": planted})
    response = client.get("/count")
    assert response.text == "1"
    issued = cookie_value(response)
    assert issued != planted
    assert UUID4.fullmatch(issued)


@pytest.mark.parametrize(
    "backend", [InMemorySessionBackend(), CookieSessionBackend(SECRET)], ids=["memory", "cookie"]
)
def test_stale_cookie_is_expired_when_session_untouched(client_factory, backend):
    client = client_factory(SessionApp(backend), cookies={"session_id": str(uuid.uuid4())})
    header = session_cookie(client.get("/peek"))
    assert header is not None and "Max-Age=0" in attributes(header)


def test_emptied_session_is_deleted_and_cookie_expired(client_factory):
    backend = CountingBackend()
    client = client_factory(SessionApp(backend))
    session_id = cookie_value(client.get("/count"))
    response = client.get("/logout")
    header = session_cookie(response)
    assert header is not None and header.startswith("session_id=;")
    assert "Max-Age=0" in attributes(header)
    assert backend._held() == 0
    assert "session_id" not in client.cookies
    revived = client_factory(SessionApp(backend), cookies={"session_id": session_id})
    assert revived.get("/count").text == "1"


def test_regenerate_moves_data_to_a_fresh_id(client_factory):
    app = SessionApp()
    client = client_factory(app)
    old_id = cookie_value(client.get("/count"))
    new_id = cookie_value(client.get("/login/alice"))
    assert new_id != old_id and UUID4.fullmatch(new_id)
    assert client.get("/peek").text == "alice"
    assert client.get("/count").text == "2"
    attacker = client_factory(app, cookies={"session_id": old_id})
    assert attacker.get("/peek").text == "anonymous"


def test_login_without_prior_session_issues_an_id(client_factory):
    client = client_factory(SessionApp())
    assert UUID4.fullmatch(cookie_value(client.get("/login/bob")))
    assert client.get("/peek").text == "bob"


def test_session_values_never_bind_to_parameters(client_factory):
    client = client_factory(SessionApp())
    client.get("/login/alice")
    assert client.get("/greet").text == "hello nobody"
    assert client.get("/greet?user=carol").text == "hello carol"


def test_session_saved_after_after_request_hooks(client_factory):
    from micropie import HttpMiddleware

    class StampAfter(HttpMiddleware):
        async def before_request(self, request):
            return None

        async def after_request(self, request, status_code, response_body, extra_headers):
            request.session["stamped"] = True
            return None

    class Stamped(SessionApp):
        async def stamped(self):
            return str(self.session.get("stamped", False))

    app = Stamped()
    app.middlewares.append(StampAfter())
    client = client_factory(app)
    client.get("/index")
    assert "session_id" in client.cookies
    assert client.get("/stamped").text == "True"


# -- no backend work unless needed -----------------------------------------------------------


def test_no_backend_work_without_cookie_or_change(client_factory):
    backend = CountingBackend()
    client = client_factory(SessionApp(backend))
    response = client.get("/index")
    assert client.get("/peek").text == "anonymous"
    assert session_cookie(response) is None
    assert (backend.loads, backend.saves) == (0, 0)


def test_unchanged_session_is_loaded_not_saved(client_factory):
    backend = CountingBackend()
    client = client_factory(SessionApp(backend))
    client.get("/login/alice")
    saves = backend.saves
    for _ in range(3):
        response = client.get("/peek")
        # the cookie is re-sent with the same id so its expiry follows the idle clock
        assert cookie_value(response) == client.cookies["session_id"]
    assert backend.saves == saves
    assert backend.loads == 3


def test_changed_session_is_saved_once(client_factory):
    backend = CountingBackend()
    client = client_factory(SessionApp(backend))
    client.get("/count")
    client.get("/count")
    assert (backend.loads, backend.saves) == (1, 2)


def test_unrelated_cookie_costs_nothing(client_factory):
    backend = CountingBackend()
    client = client_factory(SessionApp(backend), cookies={"theme": "dark"})
    client.get("/peek")
    assert (backend.loads, backend.saves) == (0, 0)


# -- InMemorySessionBackend ----------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return time.time()


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(sessions_module, "time", fake)
    return fake


@pytest.mark.anyio
async def test_memory_idle_expiry(clock):
    backend = InMemorySessionBackend()
    await backend.save("a", {"n": 1}, 60)
    clock.now += 50
    assert await backend.load("a") == {"n": 1}  # the load restarts the idle clock
    clock.now += 50
    assert await backend.load("a") == {"n": 1}
    clock.now += 61
    assert await backend.load("a") == {}
    assert backend._held() == 0


@pytest.mark.anyio
async def test_memory_cleanup_is_amortised(clock):
    backend = InMemorySessionBackend(sweep=8)
    for n in range(100):
        await backend.save(f"s{n}", {"n": n}, 60)
    clock.now += 61
    await backend.save("fresh", {"n": 0}, 60)
    assert backend._held() == 100 - 8 + 1
    for _ in range(12):
        await backend.load("missing")
    assert backend._held() == 1
    assert await backend.load("fresh") == {"n": 0}


@pytest.mark.anyio
async def test_memory_keeps_at_most_max_sessions_dropping_the_least_recently_used(clock):
    backend = InMemorySessionBackend(max_sessions=3)
    for name in "abc":
        await backend.save(name, {"n": name}, 60)
    assert await backend.load("a") == {"n": "a"}  # now the most recently used
    await backend.save("d", {"n": "d"}, 60)
    assert backend._held() == 3
    assert await backend.load("b") == {}  # dropped: used least recently
    assert [await backend.load(name) for name in "acd"] == [{"n": "a"}, {"n": "c"}, {"n": "d"}]
    await backend.save("a", {"n": "A"}, 60)  # a change to a kept session drops nothing
    assert backend._held() == 3


class Visits(App):
    """Counts the visits of each session (one is started by a client's first request)."""

    async def index(self):
        self.request.session["visits"] = self.request.session.get("visits", 0) + 1
        return str(self.request.session["visits"])


def test_clients_without_cookies_cannot_grow_the_memory_store(client_factory):
    """Each request without a cookie that writes the session makes a new one."""

    backend = InMemorySessionBackend(max_sessions=10)
    app = Visits(backend)
    regular = client_factory(app)
    assert regular.get("/").text == "1"
    for _ in range(50):  # a client that never sends its cookie back
        assert client_factory(app).get("/").text == "1"
        assert regular.get("/").status_code == 200  # keeps its session in use
    assert backend._held() == 10
    assert regular.get("/").text == "52"


def test_a_cookieless_flood_keeps_the_sessions_of_returning_visitors(client_factory):
    """A burst of clients that never send their cookie back (a crawler, a script) on a
    page that starts a session (one with a CSRF token) pushed every other session out
    of the default store once ``max_sessions`` of them came: at ~1,000 such requests a
    second, 100 s logged every visitor out. Only sessions not used since they were
    stored make room now."""

    backend = InMemorySessionBackend(max_sessions=10)
    app = Visits(backend)
    regulars = [client_factory(app) for _ in range(3)]
    for regular in regulars:
        assert [regular.get("/").text for _ in range(2)] == ["1", "2"]
    for _ in range(100):  # none of the regulars in between
        assert client_factory(app).get("/").text == "1"
    assert backend._held() == 10
    assert [regular.get("/").text for regular in regulars] == ["3", "3", "3"]


@pytest.mark.anyio
async def test_memory_drops_sessions_not_used_since_stored_first(clock):
    backend = InMemorySessionBackend(max_sessions=5)  # 4 of them for returning sessions
    for name in "abcdef":
        await backend.save(name, {"n": name}, 60)
        assert await backend.load(name) == {"n": name}  # came back
    # "a" and "b", the returning sessions used least recently, were moved among those
    # not used since when "e" and "f" came back; the new ones pushed them out of there
    for number in range(3):
        await backend.save(f"new{number}", {"n": number}, 60)  # each drops the oldest fresh
    assert backend._held() == 5
    kept = {name: await backend.load(name) != {} for name in "abcdef"}
    assert kept == {"a": False, "b": False, "c": True, "d": True, "e": True, "f": True}
    assert await backend.load("new2") == {"n": 2}


@pytest.mark.anyio
@pytest.mark.parametrize("max_sessions", [1, 2])
async def test_memory_tiny_bounds_still_hold(clock, max_sessions):
    backend = InMemorySessionBackend(max_sessions=max_sessions)
    for name in "abcd":
        await backend.save(name, {"n": name}, 60)
        assert await backend.load(name) == {"n": name}
        assert await backend.load(name) == {"n": name}
        assert backend._held() <= max_sessions
    assert await backend.load("d") == {"n": "d"}
    clock.now += 61
    assert await backend.load("d") == {}
    assert backend._held() == 0


@pytest.mark.anyio
async def test_memory_save_writes_only_what_the_request_changed_over_a_newer_save():
    """Two requests of one session loaded the same data; the later save keeps the
    earlier one's keys, as RedisSessionBackend does (it wrote the whole dict over them)."""
    backend = InMemorySessionBackend()
    await backend.save("s", {"user": "ann", "theme": "dark", "old": 1}, 60)
    first, second = await backend.load("s"), await backend.load("s")
    first["cart"] = [1]
    del first["old"]
    await backend.save("s", first, 60)
    second["theme"] = "light"  # a different key
    second["cart"] = [2]  # the same key: the last write wins
    await backend.save("s", second, 60)
    assert await backend.load("s") == {"user": "ann", "theme": "light", "cart": [2]}
    second["seen"] = True  # saved again: diffed against its own last save
    del second["theme"]
    await backend.save("s", second, 60)
    assert await backend.load("s") == {"user": "ann", "cart": [2], "seen": True}
    slow = await backend.load("s")
    await backend.save("s", {}, 60)  # another request logged out: the session is deleted
    slow["cart"] = [3]
    await backend.save("s", slow, 60)
    assert await backend.load("s") == {"cart": [3]}  # not logged in again


def test_parallel_requests_of_one_session_keep_each_others_keys(client_factory):
    """A browser's parallel requests (two fetch calls, two tabs) each change their own
    key of the default in-memory session: both changes are kept (one was lost)."""
    import threading

    import anyio

    waiting, go_on = threading.Event(), threading.Event()

    class Shop(App):
        async def login(self):
            self.request.session["user"] = "ann"
            return "in"

        async def cart(self):
            self.request.session["cart"] = [1, 2]
            waiting.set()
            await anyio.to_thread.run_sync(go_on.wait)  # saved after /theme's answer
            return "cart"

        async def theme(self):
            self.request.session["theme"] = "dark"
            return "theme"

        async def show(self):
            return dict(self.request.session)

    client = client_factory(Shop())
    client.get("/login")
    answers: list[str] = []
    slow = threading.Thread(target=lambda: answers.append(client.get("/cart").text))
    slow.start()
    assert waiting.wait(timeout=30)
    assert client.get("/theme").text == "theme"
    go_on.set()
    slow.join(timeout=30)
    assert answers == ["cart"]
    assert client.get("/show").json() == {"user": "ann", "cart": [1, 2], "theme": "dark"}


@pytest.mark.anyio
async def test_memory_sweep_keeps_live_sessions(clock):
    backend = InMemorySessionBackend()
    await backend.save("old", {"n": 1}, 60)
    clock.now += 30
    await backend.save("young", {"n": 2}, 60)
    clock.now += 31
    await backend.load("missing")
    assert backend._held() == 1
    assert await backend.load("young") == {"n": 2}


@pytest.mark.anyio
async def test_memory_returns_copies():
    backend = InMemorySessionBackend()
    data = {"items": [1]}
    await backend.save("a", data, 60)
    data["items"].append(2)
    loaded = await backend.load("a")
    loaded["items"].append(3)
    assert await backend.load("a") == {"items": [1]}


@pytest.mark.anyio
async def test_memory_copies_any_value():
    backend = InMemorySessionBackend()
    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    when = (time.gmtime(0), {"nested": [1, {"deep": True}]})
    await backend.save("a", {"cyclic": cyclic, "when": when}, 60)
    loaded = await backend.load("a")
    assert loaded["cyclic"][1] is loaded["cyclic"] and loaded["cyclic"] is not cyclic
    assert loaded["when"] == when and loaded["when"][1] is not when[1]


def test_memory_expired_session_not_adopted(client_factory, clock):
    client = client_factory(SessionApp(session_timeout=60))
    old_id = cookie_value(client.get("/count"))
    clock.now += 61
    response = client.get("/count")
    assert response.text == "1"
    assert cookie_value(response) != old_id


# -- CookieSessionBackend --------------------------------------------------------------------


def cookie_app(**kwargs: Any) -> SessionApp:
    return SessionApp(CookieSessionBackend(SECRET), **kwargs)


def signed(data: Any, *, key: str = SECRET, age: int = 0) -> str:
    """A cookie value as CookieSessionBackend would sign it, ``age`` seconds ago."""

    class PastSigner(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - age

    serializer = itsdangerous.URLSafeTimedSerializer(
        key, salt="micropie.session", signer=PastSigner
    )
    return serializer.dumps(data)


def test_cookie_backend_round_trip(client_factory):
    client = client_factory(cookie_app())
    assert [client.get("/count").text for _ in range(3)] == ["1", "2", "3"]
    value = client.cookies["session_id"]
    assert not UUID4.fullmatch(value)
    serializer = itsdangerous.URLSafeTimedSerializer(SECRET, salt="micropie.session")
    assert serializer.loads(value) == {"count": 3}


def test_cookie_backend_stores_nothing_server_side(client_factory):
    backend = CookieSessionBackend(SECRET)
    first = client_factory(SessionApp(backend))
    first.get("/login/alice")
    second = client_factory(SessionApp(backend), cookies=dict(first.cookies))
    assert second.get("/peek").text == "alice"  # the cookie alone carries the session


def test_cookie_backend_accepts_its_own_cookie(client_factory):
    client = client_factory(cookie_app(), cookies={"session_id": signed({"user": "dana"})})
    response = client.get("/peek")
    assert response.text == "dana"
    assert session_cookie(response) is None  # fresh and unchanged: nothing to send


@pytest.mark.parametrize(
    "value",
    [
        signed({"user": "mallory"}, key="another key"),
        signed({"user": "mallory"})[:-2] + "AA",
        signed({"user": "mallory"}).replace(".", "x", 1),
        "eyJ1c2VyIjoibWFsbG9yeSJ9",  # base64 JSON, no signature
        signed(["not", "a", "dict"]),
        str(uuid.uuid4()),
    ],
    ids=["other-key", "bad-signature", "mangled", "unsigned", "not-a-dict", "uuid"],
)
def test_cookie_backend_ignores_tampered_and_forged(client_factory, value):
    client = client_factory(cookie_app(), cookies={"session_id": value})
    assert client.get("/peek").text == "anonymous"
    response = client.get("/count")
    assert response.text == "1"
    assert cookie_value(response) != value


def test_cookie_backend_ignores_expired(client_factory):
    value = signed({"user": "erin"}, age=120)
    client = client_factory(cookie_app(session_timeout=60), cookies={"session_id": value})
    assert client.get("/peek").text == "anonymous"


def test_cookie_backend_resigns_ageing_cookie(client_factory):
    value = signed({"user": "erin"}, age=200)  # over a quarter of the timeout
    client = client_factory(cookie_app(session_timeout=600), cookies={"session_id": value})
    response = client.get("/peek")
    assert response.text == "erin"
    fresh = cookie_value(response)
    assert fresh != value
    serializer = itsdangerous.URLSafeTimedSerializer(SECRET, salt="micropie.session")
    assert serializer.loads(fresh, max_age=5) == {"user": "erin"}


def test_cookie_backend_regenerate_and_logout(client_factory):
    client = client_factory(cookie_app())
    before = cookie_value(client.get("/count"))
    after = cookie_value(client.get("/login/frank"))
    assert after != before
    assert client.get("/peek").text == "frank"
    assert "Max-Age=0" in attributes(session_cookie(client.get("/logout")) or "")
    assert client.get("/peek").text == "anonymous"


def test_cookie_backend_secure_over_https(client_factory):
    client = client_factory(cookie_app(), base_url="https://testserver")
    assert "Secure" in attributes(session_cookie(client.get("/count")) or "")


def test_cookie_backend_too_large_is_a_logged_500(client_factory, caplog):
    client = client_factory(cookie_app())
    assert client.get("/store/3000").text == "stored"
    response = client.get("/store/4000")
    assert response.status_code == 500
    errors = [r for r in caplog.records if r.exc_info and r.exc_info[0] is SessionCookieTooLarge]
    assert errors and "4096-byte (4 KB) limit" in str(errors[0].exc_info[1])


def test_cookie_backend_too_large_names_the_limit(client_factory):
    client = client_factory(cookie_app(debug=True))
    with pytest.raises(SessionCookieTooLarge, match="over the 4096-byte"):
        client.get("/store/4000")


def test_cookie_backend_rejects_non_json_values():
    backend = CookieSessionBackend(SECRET)
    with pytest.raises(TypeError, match="JSON"):
        backend.encode({"when": object()})


def test_cookie_backend_key_rotation(client_factory):
    old = signed({"user": "gail"}, key="old key")
    backend = CookieSessionBackend(["old key", "new key"])
    client = client_factory(SessionApp(backend), cookies={"session_id": old})
    assert client.get("/peek").text == "gail"


# -- RedisSessionBackend ---------------------------------------------------------------------


@pytest.fixture
def redis_sync(redis_url) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


def redis_app(url: str, **kwargs: Any) -> SessionApp:
    """An app on a Redis backend that closes its connections at shutdown (use ``with``)."""
    backend = RedisSessionBackend(url, prefix="test:")
    app = SessionApp(backend, **kwargs)
    app.shutdown_handlers.append(backend.aclose)
    return app


@pytest.mark.redis
def test_redis_counter_and_ttl(client_factory, redis_url, redis_sync):
    with client_factory(redis_app(redis_url, session_timeout=300)) as client:
        assert [client.get("/count").text for _ in range(3)] == ["1", "2", "3"]
        key = "test:" + client.cookies["session_id"]
        assert redis_sync.hgetall(key) == {"count": "3"}
        assert 295 <= redis_sync.ttl(key) <= 300


@pytest.mark.redis
def test_redis_load_restarts_ttl(client_factory, redis_url, redis_sync):
    with client_factory(redis_app(redis_url, session_timeout=300)) as client:
        client.get("/login/henry")
        key = "test:" + client.cookies["session_id"]
        redis_sync.expire(key, 10)
        assert client.get("/peek").text == "henry"
        assert redis_sync.ttl(key) > 290


@pytest.mark.redis
def test_redis_logout_deletes_key(client_factory, redis_url, redis_sync):
    with client_factory(redis_app(redis_url)) as client:
        client.get("/count")
        key = "test:" + client.cookies["session_id"]
        assert "Max-Age=0" in attributes(session_cookie(client.get("/logout")) or "")
        assert not redis_sync.exists(key)


@pytest.mark.redis
def test_redis_regenerate_drops_old_key(client_factory, redis_url, redis_sync):
    with client_factory(redis_app(redis_url)) as client:
        client.get("/count")
        old_id = client.cookies["session_id"]
        client.get("/login/ivy")
        new_id = client.cookies["session_id"]
        assert new_id != old_id
        assert not redis_sync.exists("test:" + old_id)
        assert redis_sync.exists("test:" + new_id)


@pytest.mark.redis
def test_redis_unknown_and_garbage_ids(client_factory, redis_url, redis_sync):
    planted = str(uuid.uuid4())
    redis_sync.set("test:" + planted, "not json")
    with client_factory(redis_app(redis_url), cookies={"session_id": planted}) as client:
        response = client.get("/count")
        assert response.text == "1"
        assert cookie_value(response) != planted


@pytest.mark.redis
@pytest.mark.anyio
async def test_redis_backend_with_client(redis_url, redis_sync):
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    backend = RedisSessionBackend(client)
    await backend.save("abc", {"a": [1, 2]}, 60)
    assert redis_sync.hgetall("micropie:session:abc") == {"a": "[1,2]"}
    assert await backend.load("abc") == {"a": [1, 2]}
    await backend.save("abc", {}, 60)
    assert await backend.load("abc") == {}
    with pytest.raises(TypeError, match="JSON"):
        await backend.save("abc", {"when": object()}, 60)
    await backend.aclose()


def test_redis_backend_names_the_extra_when_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(MissingDependencyError, match=r"micropie\[redis\]"):
        RedisSessionBackend("redis://127.0.0.1:1/0")


def test_backends_subclass_the_abc():
    for backend in (CookieSessionBackend, InMemorySessionBackend, RedisSessionBackend):
        assert issubclass(backend, SessionBackend)


# -- several worker processes ----------------------------------------------------------------


def count_with_one_client(url: str, times: int) -> tuple[str, set[str]]:
    pids = set()
    # no keep-alive: every request opens a new connection, which either worker may accept
    limits = httpx.Limits(max_keepalive_connections=0)
    with httpx.Client(base_url=url, limits=limits) as client:
        for _ in range(times):
            count, pid = client.get("/count").text.split()
            pids.add(pid)
    return count, pids


@pytest.mark.server
@pytest.mark.slow
# tests/support.py run_uvicorn leaves its log file handle open (reported to the lead)
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")
@pytest.mark.parametrize("backend", [pytest.param("redis", marks=pytest.mark.redis), "cookie"])
def test_sessions_shared_by_two_workers(uvicorn_server, request, backend):
    env = {"MICROPIE_TEST_SESSION_BACKEND": backend}
    if backend == "redis":
        env["MICROPIE_TEST_REDIS_URL"] = request.getfixturevalue("redis_url")
    server = uvicorn_server("tests.apps.session_counter:app", workers=2, env=env)
    count, pids = count_with_one_client(server.url, 200)
    assert count == "200"
    if len(pids) < 2:
        pytest.skip(f"uvicorn sent all 200 requests to one worker: {pids}")


def test_module_imports_without_optional_backends():
    code = (
        "import sys; sys.modules['redis'] = None; sys.modules['redis.asyncio'] = None;"
        "import micropie; print(micropie.RedisSessionBackend.__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "RedisSessionBackend", result.stderr


def test_cookie_backend_keeps_a_young_cookie(client_factory):
    # re-signed only once a quarter of the timeout has passed since it was signed
    value = signed({"user": "erin"}, age=100)
    client = client_factory(cookie_app(session_timeout=600), cookies={"session_id": value})
    response = client.get("/peek")
    assert response.text == "erin"
    assert session_cookie(response) is None


def test_cookie_backend_reads_a_cookie_sent_again_alike(client_factory):
    value = signed({"user": "erin"})
    client = client_factory(cookie_app(), cookies={"session_id": value})
    assert [client.get("/peek").text for _ in range(3)] == ["erin"] * 3
    assert [client.get("/count").text for _ in range(2)] == ["1", "2"]


def test_cookie_backend_decoded_data_is_a_copy():
    backend = CookieSessionBackend(SECRET)
    value = signed({"user": "erin", "cart": [1]})
    first, _ = backend.decode(value, 600)
    first["cart"].append(2)
    first["user"] = "mallory"
    assert backend.decode(value, 600)[0] == {"user": "erin", "cart": [1]}


def test_cookie_backend_expiry_holds_for_a_cookie_read_before():
    backend = CookieSessionBackend(SECRET)
    value = signed({"user": "erin"}, age=100)
    assert backend.decode(value, 600)[0] == {"user": "erin"}
    assert backend.decode(value, 60) == ({}, 0.0)  # the same cookie, now past its timeout


def test_cookie_backend_compresses_large_sessions_compatibly():
    backend = CookieSessionBackend(SECRET)
    data = {"notes": ["the same words again"] * 100}
    value = backend.encode(data)
    assert value.startswith(".")  # zlib-compressed, as itsdangerous marks it
    serializer = itsdangerous.URLSafeTimedSerializer(SECRET, salt="micropie.session")
    assert serializer.loads(value) == data
    assert backend.decode(value, 600)[0] == data
    assert backend.decode(serializer.dumps(data), 600)[0] == data


def test_cookie_backend_signs_with_the_newest_key():
    backend = CookieSessionBackend(["old key", "new key"])
    value = backend.encode({"user": "gail"})
    new = itsdangerous.URLSafeTimedSerializer("new key", salt="micropie.session")
    assert new.loads(value) == {"user": "gail"}
    with pytest.raises(itsdangerous.BadSignature):
        itsdangerous.URLSafeTimedSerializer("old key", salt="micropie.session").loads(value)


def test_cookie_backend_signs_as_itsdangerous_does(monkeypatch):
    class Frozen:
        now = 1_700_000_000.5

        def time(self) -> float:
            return self.now

        def monotonic(self) -> float:
            return 0.0

    frozen = Frozen()
    monkeypatch.setattr(sessions_module, "time", frozen)

    class SignerAtFrozenTime(itsdangerous.TimestampSigner):
        def get_timestamp(self) -> int:
            return int(frozen.now)

    keys = ["old key", "new key"]
    reference = itsdangerous.URLSafeTimedSerializer(
        keys, salt="micropie.session", signer=SignerAtFrozenTime
    )
    backend = CookieSessionBackend(keys)
    data = {"user": "gail", "visits": 1, "cart": [1, 2.5, None]}
    for step in (0, 0.2, 1, 3600):  # the same second again, then later ones
        frozen.now += step
        assert backend.encode(data) == reference.dumps(data)
