"""RedisSessionBackend keeps a session as a Redis hash: requests write only what they changed."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import redis

from micropie import RedisSessionBackend
from micropie.sessions import warn_if_process_local
from tests.support import wait_until

pytestmark = pytest.mark.redis


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def redis_sync(redis_url):
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture
async def backend(redis_url, redis_sync):
    backend = RedisSessionBackend(redis_url, prefix="test:")
    yield backend
    await backend.aclose()


@pytest.mark.anyio
async def test_each_key_is_a_json_hash_field(backend, redis_sync):
    await backend.save("s", {"user": "ann", "cart": [1, {"n": 2}], "admin": False}, 60)
    assert redis_sync.hgetall("test:s") == {
        "user": '"ann"',
        "cart": '[1,{"n":2}]',
        "admin": "false",
    }
    assert 55 <= redis_sync.ttl("test:s") <= 60
    assert await backend.load("s") == {"user": "ann", "cart": [1, {"n": 2}], "admin": False}


@pytest.mark.anyio
async def test_concurrent_requests_keep_each_others_keys(backend, redis_sync):
    await backend.save("s", {"a": 1, "b": 2, "c": 3}, 60)
    first = await backend.resume("s", 60)
    second = await backend.resume("s", 60)
    first["new"] = "from first"
    del first["a"]
    second["b"] = "from second"
    await backend.save("s", first, 60)
    await backend.save("s", second, 60)  # "a" stays deleted, "new" stays
    assert await backend.load("s") == {"b": "from second", "c": 3, "new": "from first"}


@pytest.mark.anyio
async def test_same_key_last_write_wins(backend):
    await backend.save("s", {"count": 0}, 60)
    first = await backend.resume("s", 60)
    second = await backend.resume("s", 60)
    first["count"] += 1
    second["count"] += 1
    await backend.save("s", first, 60)
    await backend.save("s", second, 60)
    assert await backend.load("s") == {"count": 1}  # one increment lost: use INCR for counters


@pytest.mark.anyio
async def test_unchanged_session_writes_nothing_but_the_ttl(backend, redis_sync):
    await backend.save("s", {"a": 1}, 60)
    session = await backend.resume("s", 60)
    redis_sync.hset("test:s", "a", "99")  # another request changed "a" meanwhile
    redis_sync.expire("test:s", 5)
    await backend.save("s", session, 300)
    assert redis_sync.hgetall("test:s") == {"a": "99"}
    assert redis_sync.ttl("test:s") > 290


@pytest.mark.anyio
async def test_moved_or_replaced_session_replaces_the_hash(backend, redis_sync):
    await backend.save("old", {"a": 1, "b": 2}, 60)
    session = await backend.resume("old", 60)
    del session["b"]
    await backend.save("new", session, 60)  # regenerate_session() moves data to a new id
    redis_sync.hset("test:new", "stale", "1")
    await backend.save("new", {"fresh": True}, 60)  # a plain dict replaces everything
    assert redis_sync.hgetall("test:new") == {"fresh": "true"}


@pytest.mark.anyio
async def test_resume_restarts_the_ttl(backend, redis_sync):
    await backend.save("s", {"a": 1}, 60)
    redis_sync.expire("test:s", 5)
    assert await backend.resume("s", 300) == {"a": 1}
    assert redis_sync.ttl("test:s") > 290
    assert await backend.resume("missing", 300) == {}
    assert not redis_sync.exists("test:missing")


@pytest.mark.anyio
async def test_resume_is_one_script_call(backend, redis_sync):
    """Read and TTL restart run as one atomic EVALSHA: no MULTI/EXEC round of commands."""
    await backend.save("s", {"a": 1}, 60)
    redis_sync.config_resetstat()
    assert await backend.resume("s", 60) == {"a": 1}
    stats = redis_sync.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 1
    assert "cmdstat_multi" not in stats and "cmdstat_exec" not in stats


@pytest.mark.anyio
async def test_resume_survives_a_flushed_script_cache(backend, redis_sync):
    """A restarted Redis has forgotten the script: it is loaded again, the read succeeds."""
    await backend.save("s", {"a": 1}, 60)
    assert await backend.resume("s", 60) == {"a": 1}
    redis_sync.script_flush()
    redis_sync.expire("test:s", 5)
    assert await backend.resume("s", 300) == {"a": 1}
    assert redis_sync.ttl("test:s") > 290


@pytest.mark.anyio
async def test_resume_with_a_decoding_client(redis_url, redis_sync):
    """A client built with ``decode_responses=True`` (strings, not bytes) reads the same."""
    import redis.asyncio

    backend = RedisSessionBackend(redis.asyncio.from_url(redis_url, decode_responses=True))
    try:
        await backend.save("s", {"user": "ann", "n": [1, 2]}, 60)
        assert await backend.resume("s", 60) == {"user": "ann", "n": [1, 2]}
    finally:
        await backend.aclose()


@pytest.mark.anyio
async def test_stored_garbage_is_ignored(backend, redis_sync, caplog):
    redis_sync.set("test:string", '{"a": 1}')  # not a hash
    assert await backend.load("string") == {}
    assert await backend.resume("string", 60) == {}
    redis_sync.hset("test:s", mapping={"good": "1", "bad": "{not json"})
    session = await backend.resume("s", 60)
    assert session == {"good": 1}
    session["more"] = 2
    await backend.save("s", session, 60)
    assert redis_sync.hgetall("test:s") == {"good": "1", "more": "2"}
    assert "not a Redis hash" in caplog.text
    assert "not valid JSON" in caplog.text


@pytest.mark.anyio
async def test_values_must_be_json_and_keys_strings(backend):
    with pytest.raises(TypeError, match="JSON"):
        await backend.save("s", {"when": object()}, 60)
    with pytest.raises(TypeError, match="string session keys"):
        await backend.save("s", {1: "one"}, 60)


@pytest.mark.anyio
async def test_counter_pattern_with_hincrby(backend, redis_sync):
    """Counters updated by concurrent requests: increment in Redis, not in the dict."""
    await backend.save("s", {"user": "ann"}, 60)
    increments = (backend.client.hincrby("test:s", "visits", 1) for _ in range(50))
    counts = await asyncio.gather(*increments)
    assert sorted(counts) == list(range(1, 51))
    assert await backend.load("s") == {"user": "ann", "visits": 50}


def test_in_memory_warning_only_for_the_in_memory_backend(redis_url, caplog):
    warn_if_process_local(RedisSessionBackend(redis_url))
    assert "InMemorySessionBackend" not in caplog.text


# -- a real server with two workers ------------------------------------------------------------


async def put_keys(url: str, cookie: str, count: int) -> set[str]:
    """``count`` concurrent requests on separate connections, each storing its own key."""
    cookies = {"session_id": cookie}
    async with httpx.AsyncClient(base_url=url, cookies=cookies, timeout=60) as client:
        responses = await asyncio.gather(*(client.get(f"/put/k{n}") for n in range(count)))
    assert all(response.status_code == 200 for response in responses)
    return {response.text for response in responses}


@pytest.mark.server
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_64_concurrent_distinct_key_writes_lose_none(uvicorn_server, redis_url):
    env = {"MICROPIE_TEST_SESSION_BACKEND": "redis", "MICROPIE_TEST_REDIS_URL": redis_url}
    server = uvicorn_server("tests.apps.session_keys:app", workers=2, env=env)
    first = httpx.get(server.url + "/put/start")
    cookie = first.cookies["session_id"]
    pids = asyncio.run(put_keys(server.url, cookie, 64))
    keys = httpx.get(server.url + "/keys", cookies={"session_id": cookie}).json()
    assert keys == sorted(["start", *(f"k{n}" for n in range(64))])
    if len(pids) < 2:
        pytest.skip(f"uvicorn sent all 64 requests to one worker: {pids}")


@pytest.mark.server
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
@pytest.mark.parametrize("workers", [2, 1])
def test_in_memory_sessions_warn_under_several_workers(uvicorn_server, workers):
    """Each worker warns once, when it stores its first session (new connections until
    both have); a single worker never does."""
    server = uvicorn_server("tests.apps.session_keys:app", workers=workers)
    warning = "Sessions are in InMemorySessionBackend, but this process is one of 2 workers"
    if workers == 2:

        def both_warned() -> bool:
            httpx.get(server.url + "/put/a", timeout=30)
            return server.log().count(warning) == 2

        assert wait_until(both_warned, timeout=60), server.log()
        for _ in range(10):
            httpx.get(server.url + "/put/b", timeout=30)
        assert server.log().count(warning) == 2, server.log()
    else:
        httpx.get(server.url + "/put/a")
        assert "InMemorySessionBackend" not in server.log()


@pytest.mark.server
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_workers_that_store_no_session_say_nothing_of_sessions(uvicorn_server):
    """The chat (websockets, no session) on two workers: no warning about sessions."""
    server = uvicorn_server("examples.chat.app:app", workers=2, args=["--log-level", "info"])
    assert wait_until(
        lambda: server.log().count("Application startup complete") == 2, timeout=60
    ), server.log()
    for _ in range(6):
        assert httpx.get(server.url + "/", timeout=30).status_code == 200
    assert "InMemorySessionBackend" not in server.log()
