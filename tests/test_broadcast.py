"""micropie.Broadcast: publish/subscribe in memory and on a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from micropie import (
    App,
    Broadcast,
    BroadcastUnavailable,
    MissingDependencyError,
    SubscriberOverflow,
)
from tests.support import RedisServer

VALUES = [{"text": "hi", "n": [1, 2.5, None, True]}, "plain", 42, None, [], {"nested": {"a": []}}]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def url(request) -> str:
    if request.param == "memory":
        return "memory://"
    server: RedisServer = request.getfixturevalue("redis_server")
    return server.url


async def eventually(check: Callable[[], bool], timeout: float = 20.0) -> None:
    """Wait until ``check()`` is true; fail after ``timeout`` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def receive(subscriber: AsyncIterator[Any], timeout: float = 20.0) -> Any:
    return await asyncio.wait_for(subscriber.__anext__(), timeout)


# -- publish and subscribe -------------------------------------------------------------------


@pytest.mark.anyio
async def test_json_values_arrive_as_published(url):
    async with Broadcast(url) as broadcast:
        async with broadcast.subscribe("news") as first, broadcast.subscribe("news") as second:
            for value in VALUES:
                await broadcast.publish("news", value)
            assert [await receive(first) for _ in VALUES] == VALUES
            assert [await receive(second) for _ in VALUES] == VALUES


@pytest.mark.anyio
async def test_subscribers_get_only_their_channel(url):
    async with Broadcast(url) as broadcast:
        async with broadcast.subscribe("a") as on_a, broadcast.subscribe("b") as on_b:
            await broadcast.publish("a", "for a")
            await broadcast.publish("elsewhere", "for nobody")
            await broadcast.publish("b", "for b")
            assert await receive(on_a) == "for a"
            assert await receive(on_b) == "for b"
            assert on_a.channel == "a"


@pytest.mark.anyio
async def test_iteration_ends_when_the_broadcast_disconnects(url):
    broadcast = Broadcast(url)
    await broadcast.connect()
    async with broadcast.subscribe("news") as subscriber:
        await broadcast.publish("news", 1)
        assert await receive(subscriber) == 1
        await broadcast.disconnect()
        assert [message async for message in subscriber] == []
    assert not broadcast.connected


@pytest.mark.anyio
async def test_non_json_values_are_refused(url):
    async with Broadcast(url) as broadcast:
        with pytest.raises(TypeError):
            await broadcast.publish("news", {"when": object()})


@pytest.mark.anyio
async def test_not_connected_is_an_error():
    broadcast = Broadcast()
    with pytest.raises(RuntimeError, match="install"):
        await broadcast.publish("news", 1)
    with pytest.raises(RuntimeError, match="install"):
        async with broadcast.subscribe("news"):
            pass


def test_bad_arguments():
    with pytest.raises(ValueError, match="memory://"):
        Broadcast("kafka://localhost")
    with pytest.raises(ValueError, match="max_queue"):
        Broadcast(max_queue=0)
    with pytest.raises(ValueError, match="overflow"):
        Broadcast(overflow="block")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        Broadcast(timeout=0)


def test_redis_needs_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "redis.asyncio", None)
    with pytest.raises(MissingDependencyError, match=r"micropie\[redis\]"):
        Broadcast("redis://127.0.0.1:1/0")


def test_install_connects_for_the_lifespan():
    broadcast = Broadcast()

    class Echo(App):
        async def ws_echo(self, ws):
            await ws.accept()
            async with broadcast.subscribe("echo") as subscriber:
                await ws.send_text("ready")
                async for text in ws:
                    await broadcast.publish("echo", {"echo": text})
                    await ws.send_json(await subscriber.__anext__())

    app = Echo()
    broadcast.install(app)
    assert not broadcast.connected
    with TestClient(app) as client:
        assert broadcast.connected
        with client.websocket_connect("/echo") as ws:
            assert ws.receive_text() == "ready"
            ws.send_text("hello")
            assert ws.receive_json() == {"echo": "hello"}
    assert not broadcast.connected


# -- bounded queues ----------------------------------------------------------------------------


@pytest.mark.anyio
async def test_slow_subscriber_is_disconnected_without_stalling_others(url, caplog):
    async with Broadcast(url, max_queue=3) as broadcast:
        async with broadcast.subscribe("feed") as slow, broadcast.subscribe("feed") as fast:
            for number in range(5):
                await broadcast.publish("feed", number)
                assert await receive(fast) == number
            with pytest.raises(SubscriberOverflow, match="3 messages behind"):
                await receive(slow)
            await broadcast.publish("feed", "after")  # the others carry on
            assert await receive(fast) == "after"
    assert "Disconnecting a subscriber to 'feed'" in caplog.text


@pytest.mark.anyio
async def test_drop_oldest_keeps_the_newest_messages(url):
    async with Broadcast(url, max_queue=100) as broadcast:
        async with (
            broadcast.subscribe("prices", max_queue=3, overflow="drop_oldest") as latest,
            broadcast.subscribe("prices") as everything,
        ):
            for number in range(6):
                await broadcast.publish("prices", number)
            assert [await receive(everything) for _ in range(6)] == list(range(6))
            assert [await receive(latest) for _ in range(3)] == [3, 4, 5]
            assert latest.dropped == 3


# -- Redis -------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.anyio
async def test_one_redis_subscription_per_channel_per_process(redis_server):
    probe = redis.Redis.from_url(redis_server.url)
    async with Broadcast(redis_server.url) as worker_1, Broadcast(redis_server.url) as worker_2:
        async with (
            worker_1.subscribe("room") as a,
            worker_1.subscribe("room") as b,
            worker_1.subscribe("room") as c,
            worker_2.subscribe("room") as d,
        ):
            assert probe.pubsub_numsub("room") == [(b"room", 2)]
            for number in range(100):
                await worker_2.publish("room", number)
            for subscriber in (a, b, c, d):
                assert [await receive(subscriber) for _ in range(100)] == list(range(100))
        await eventually(lambda: probe.pubsub_numsub("room") == [(b"room", 0)])
    probe.close()


@pytest.mark.redis
@pytest.mark.anyio
async def test_messages_that_are_not_json_are_skipped(redis_server, caplog):
    probe = redis.Redis.from_url(redis_server.url)
    async with Broadcast(redis_server.url) as broadcast:
        async with broadcast.subscribe("room") as subscriber:
            probe.publish("room", b"\xff not json")
            await broadcast.publish("room", "valid")
            assert await receive(subscriber) == "valid"
    assert "not JSON" in caplog.text
    probe.close()


@pytest.mark.redis
@pytest.mark.anyio
async def test_subscribers_resume_after_a_redis_restart(redis_server, caplog):
    caplog.set_level(logging.WARNING, logger="micropie.broadcast")
    async with Broadcast(redis_server.url) as worker_1, Broadcast(redis_server.url) as worker_2:
        async with worker_1.subscribe("room") as subscriber:
            await worker_2.publish("room", "before")
            assert await receive(subscriber) == "before"

            redis_server.stop()
            with pytest.raises(BroadcastUnavailable, match="not published"):
                await worker_2.publish("room", "while down")
            await eventually(lambda: not worker_1.connected)
            assert "lost the connection to Redis" in caplog.text
            assert "messages published meanwhile do not reach them" in caplog.text

            redis_server.start()
            await eventually(lambda: worker_1.connected)
            await eventually(lambda: "reconnected to Redis" in caplog.text)
            await worker_2.publish("room", "after")
            assert await receive(subscriber) == "after"


@pytest.mark.redis
@pytest.mark.anyio
async def test_one_log_line_per_outage_however_many_broadcasts(redis_server, caplog):
    """A process running several broadcasts on one Redis (the showcase's chat and live
    feed) logs an outage once and its end once, naming the server, not one pair each."""
    caplog.set_level(logging.WARNING, logger="micropie.broadcast")
    address = f"127.0.0.1:{redis_server.port}"
    async with contextlib.AsyncExitStack() as stack:
        hubs = [await stack.enter_async_context(Broadcast(redis_server.url)) for _ in range(3)]
        subscriber = await stack.enter_async_context(hubs[0].subscribe("room"))
        for round_ in range(2):  # a second outage is reported again
            caplog.clear()
            redis_server.stop()
            await eventually(lambda: not any(hub.connected for hub in hubs))
            redis_server.start()
            await eventually(lambda: all(hub.connected for hub in hubs))
            await eventually(lambda: "reconnected" in caplog.text)
            await hubs[1].publish("room", round_)
            assert await receive(subscriber) == round_
            lines = [record.getMessage() for record in caplog.records]
            assert len(lines) == 2, lines
            assert lines[0].startswith(f"Broadcast: lost the connection to Redis at {address} (")
            assert caplog.records[0].levelname == "ERROR"
            assert lines[1] == f"Broadcast: reconnected to Redis at {address}; subscriptions resume"


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_unix_socket_url_carries_messages_and_names_it_in_the_log(tmp_path, caplog):
    """``unix:///path/redis.sock`` (documented next to ``redis://``): messages flow, and
    an outage is logged with the socket's path."""
    import shutil

    from tests.support import free_port

    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    socket = tmp_path / "redis.sock"
    server = RedisServer(free_port(), options=("--unixsocket", str(socket)))
    server.start()
    try:
        async with Broadcast(f"unix://{socket}") as broadcast:
            async with broadcast.subscribe("room") as subscriber:
                await broadcast.publish("room", {"over": "a unix socket"})
                assert await receive(subscriber) == {"over": "a unix socket"}
                server.stop()
                await eventually(lambda: not broadcast.connected)
                assert f"lost the connection to Redis at {socket} (" in caplog.text
                server.start()
                await eventually(lambda: broadcast.connected)
                await broadcast.publish("room", "back")
                assert await receive(subscriber) == "back"
    finally:
        server.stop()


@pytest.mark.redis
@pytest.mark.anyio
async def test_subscribing_while_redis_is_down_waits_for_its_return(redis_server, caplog):
    async with Broadcast(redis_server.url) as broadcast:
        redis_server.stop()
        await eventually(lambda: not broadcast.connected)
        async with broadcast.subscribe("room") as subscriber:
            redis_server.start()
            await eventually(lambda: broadcast.connected)
            await broadcast.publish("room", "back")
            assert await receive(subscriber) == "back"


@pytest.mark.redis
@pytest.mark.anyio
async def test_starting_without_redis_reports_and_retries(redis_server, caplog):
    redis_server.stop()
    async with Broadcast(redis_server.url) as broadcast:
        assert not broadcast.connected
        # it never had a connection: it says it cannot reach Redis, not that it lost it
        assert f"Broadcast: cannot reach Redis at {broadcast._engine.address} (" in caplog.text
        assert "lost the connection" not in caplog.text
        with pytest.raises(BroadcastUnavailable):
            await broadcast.publish("room", 1)
        redis_server.start()
        await eventually(lambda: broadcast.connected)
        await eventually(lambda: "Broadcast: connected to Redis at" in caplog.text)
        assert "reconnected" not in caplog.text
        async with broadcast.subscribe("room") as subscriber:
            await broadcast.publish("room", 2)
            assert await receive(subscriber) == 2


@pytest.mark.redis
@pytest.mark.anyio
async def test_a_stalled_redis_fails_publish_instead_of_hanging(redis_server):
    """Redis stops answering (``kill -STOP``): publishing raises BroadcastUnavailable after
    ``timeout`` seconds, subscribing returns; both work again once Redis answers."""
    async with Broadcast(redis_server.url, timeout=1) as broadcast:
        async with broadcast.subscribe("room") as subscriber:
            await broadcast.publish("room", "before")
            assert await receive(subscriber) == "before"
            redis_server.pause()
            try:
                with pytest.raises(BroadcastUnavailable, match="did not answer"):
                    await asyncio.wait_for(broadcast.publish("room", "stalled"), 60)
                joining = broadcast.subscribe("late")
                late = await asyncio.wait_for(joining.__aenter__(), 60)
            finally:
                redis_server.resume()
            try:
                await eventually(lambda: broadcast.connected)
                await broadcast.publish("late", "after")
                assert await receive(late) == "after"
                await broadcast.publish("room", "after")
                arrived = [await receive(subscriber)]
                if arrived == ["stalled"]:  # sent before the stall was noticed: Redis ran it
                    arrived.append(await receive(subscriber))
                assert arrived[-1] == "after"
            finally:
                await joining.__aexit__(None, None, None)
