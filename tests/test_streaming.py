"""Streaming responses and server-sent events (SPEC §3, §8)."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable

import httpx
import pytest

from micropie import App, EventSourceResponse, sse_event
from micropie.sse import SSE_HEADERS, sse_comment
from tests.conftest import ClientFactory
from tests.support import UvicornServer, server_state, wait_until

# -- TestClient ---------------------------------------------------------------------------


def test_async_generator_streams_in_order(client_factory: ClientFactory) -> None:
    class Stream(App):
        async def index(self):
            async def parts():
                for word in ("a", "b", "c"):
                    yield word
                    await asyncio.sleep(0)

            return parts()

    response = client_factory(Stream()).get("/")
    assert response.text == "abc"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "content-length" not in response.headers


def test_chunk_types_are_encoded(client_factory: ClientFactory) -> None:
    class Stream(App):
        async def index(self):
            async def parts():
                yield "text "
                yield b"bytes "
                yield bytearray(b"array ")
                yield {"json": 1}
                yield 42

            return 200, parts(), [("Content-Type", "text/plain")]

    response = client_factory(Stream()).get("/")
    assert response.text == 'text bytes array {"json":1}42'
    assert response.headers["content-type"] == "text/plain"


def test_sync_generator_runs_in_thread_pool(client_factory: ClientFactory) -> None:
    class Stream(App):
        async def index(self):
            loop_thread = threading.get_ident()

            def parts():
                yield str(threading.get_ident() != loop_thread)

            return parts()

    assert client_factory(Stream()).get("/").text == "True"


def test_sync_generator_handler(client_factory: ClientFactory) -> None:
    class Stream(App):
        def index(self, count: int = 3):
            for number in range(count):
                yield f"{number},"

    assert client_factory(Stream()).get("/?count=4").text == "0,1,2,3,"


def test_iterable_streams(client_factory: ClientFactory) -> None:
    class Stream(App):
        async def index(self):
            return 200, iter(["x", "y"]), {"Content-Type": "text/plain"}

    assert client_factory(Stream()).get("/").text == "xy"


@pytest.mark.parametrize("kind", ["async", "sync"])
def test_generator_finally_runs_after_error(client_factory: ClientFactory, kind: str) -> None:
    closed: list[str] = []

    async def async_parts():
        try:
            yield "first"
            raise RuntimeError("boom")
        finally:
            closed.append("async")

    def sync_parts():
        try:
            yield "first"
            raise RuntimeError("boom")
        finally:
            closed.append("sync")

    class Stream(App):
        async def index(self):
            return async_parts() if kind == "async" else sync_parts()

    client = client_factory(Stream(), raise_server_exceptions=False)
    assert client.get("/").text == "first"
    assert closed == [kind]


def test_head_sends_headers_without_running_the_stream(client_factory: ClientFactory) -> None:
    ran: list[bool] = []

    class Stream(App):
        async def index(self):
            async def parts():
                ran.append(True)
                yield "body"

            return 200, parts(), [("X-Stream", "yes")]

    response = client_factory(Stream()).head("/")
    assert response.status_code == 200
    assert response.headers["x-stream"] == "yes"
    assert response.content == b""
    assert ran == []


# -- server-sent events -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"data": "hi"}, "data: hi\n\n"),
        ({"data": ""}, "data: \n\n"),
        ({"data": "a\nb\r\nc\rd"}, "data: a\ndata: b\ndata: c\ndata: d\n\n"),
        ({"data": {"n": 1}}, 'data: {"n":1}\n\n'),
        ({"data": [1, 2]}, "data: [1,2]\n\n"),
        ({"data": b"raw"}, "data: raw\n\n"),
        (
            {"data": "x", "event": "tick", "id": 7, "retry": 1500},
            "event: tick\nid: 7\nretry: 1500\ndata: x\n\n",
        ),
    ],
)
def test_sse_event_format(kwargs: dict[str, object], expected: str) -> None:
    assert sse_event(**kwargs) == expected


@pytest.mark.parametrize("field", ["event", "id"])
def test_sse_fields_must_be_one_line(field: str) -> None:
    with pytest.raises(ValueError):
        sse_event("x", **{field: "a\nevent: injected"})


def test_sse_comment() -> None:
    assert sse_comment("ping") == ": ping\n\n"
    assert sse_comment() == ": \n\n"


def test_sse_tuple_form(client_factory: ClientFactory) -> None:
    class Feed(App):
        async def index(self):
            async def events():
                for number in range(3):
                    yield sse_event(number, id=number)

            return 200, events(), [("Content-Type", "text/event-stream")]

    response = client_factory(Feed()).get("/")
    assert response.headers["content-type"] == "text/event-stream"
    assert response.text == "id: 0\ndata: 0\n\nid: 1\ndata: 1\n\nid: 2\ndata: 2\n\n"


def test_event_source_response(client_factory: ClientFactory) -> None:
    closed: list[bool] = []

    class Feed(App):
        async def index(self):
            async def events():
                try:
                    yield {"data": "one", "event": "first"}
                    yield "plain"
                    yield {"data": {"k": "v"}}
                finally:
                    closed.append(True)

            return EventSourceResponse(events(), headers={"X-Feed": "1"})

    response = client_factory(Feed()).get("/")
    assert response.text == 'event: first\ndata: one\n\ndata: plain\n\ndata: {"k":"v"}\n\n'
    assert response.headers["content-type"] == SSE_HEADERS["Content-Type"]
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["x-feed"] == "1"
    assert closed == [True]


def test_event_source_pings_while_quiet(client_factory: ClientFactory) -> None:
    class Feed(App):
        async def index(self):
            async def events():
                yield "start"
                await asyncio.sleep(0.35)
                yield "end"

            return EventSourceResponse(events(), ping=0.1)

    text = client_factory(Feed()).get("/").text
    assert text.startswith("data: start\n\n: ping\n\n")
    assert text.endswith("data: end\n\n")
    assert 2 <= text.count(": ping") <= 4


# -- real server: disconnects and slow readers ---------------------------------------------


@pytest.fixture
def streaming_server(uvicorn_server: Callable[..., UvicornServer]) -> UvicornServer:
    return uvicorn_server("tests.apps.streaming_app:app")


@pytest.mark.server
@pytest.mark.parametrize(
    ("path", "key"), [("/ticks", "async_closed"), ("/sync_ticks", "sync_closed")]
)
def test_disconnect_closes_generator(streaming_server: UvicornServer, path: str, key: str) -> None:
    with httpx.stream("GET", streaming_server.url + path) as response:
        lines = response.iter_lines()
        assert next(lines) == "tick 0"
        assert next(lines) == "tick 1"
    assert wait_until(lambda: server_state(streaming_server)[key] == 1)


@pytest.mark.server
def test_disconnect_closes_sleeping_sse_generator_promptly(streaming_server: UvicornServer) -> None:
    with httpx.stream("GET", streaming_server.url + "/events") as response:
        assert response.headers["content-type"] == "text/event-stream"
        lines = response.iter_lines()
        assert [next(lines), next(lines), next(lines)] == [
            "event: greeting",
            "id: 1",
            "data: hello",
        ]
    # The generator sleeps for 60 s; it is cancelled as soon as the client leaves.
    assert wait_until(lambda: server_state(streaming_server)["sse_closed"] == 1, timeout=2.0)


@pytest.mark.server
def test_disconnect_closes_event_source_with_pings(streaming_server: UvicornServer) -> None:
    with httpx.stream("GET", streaming_server.url + "/pinged") as response:
        lines = response.iter_lines()
        assert [next(lines), next(lines), next(lines), next(lines)] == [
            "data: hello",
            "",
            ": ping",
            "",
        ]
    assert wait_until(lambda: server_state(streaming_server)["pinged_closed"] == 1, timeout=2.0)


@pytest.mark.server
def test_slow_reader_bounds_production(streaming_server: UvicornServer) -> None:
    with socket.create_connection(("127.0.0.1", streaming_server.port)) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.sendall(b"GET /firehose HTTP/1.1\r\nHost: test\r\n\r\n")
        time.sleep(1.0)  # read nothing: socket buffers fill, the generator must wait
        produced = server_state(streaming_server)["produced"]
        assert 0 < produced < 32 * 1024 * 1024
        time.sleep(0.3)
        assert server_state(streaming_server)["produced"] - produced < 1024 * 1024
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 OK")
    assert wait_until(lambda: server_state(streaming_server)["firehose_closed"] == 1)
    stopped = server_state(streaming_server)["produced"]
    time.sleep(0.2)
    assert server_state(streaming_server)["produced"] == stopped


def test_event_source_with_pings_waits_for_a_slow_source_to_stop() -> None:
    """The client leaves while the source's cleanup takes a moment (a Redis broadcast
    subscription unsubscribing): the response ends without an error and the source's
    cleanup runs to the end (before: "aclose(): asynchronous generator is already running")."""
    import anyio

    cleaned_up: list[bool] = []

    async def source():
        try:
            while True:
                await asyncio.sleep(3600)
                yield "never"
        finally:
            with anyio.CancelScope(shield=True):  # cleanup that needs a few loop turns
                for _ in range(20):
                    await asyncio.sleep(0)
            cleaned_up.append(True)

    async def scenario() -> list[dict]:
        sent: list[dict] = []
        started = asyncio.Event()

        async def receive() -> dict:
            await started.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            sent.append(message)
            started.set()

        scope = {"type": "http", "method": "GET", "asgi": {"spec_version": "2.3"}}
        await EventSourceResponse(source(), ping=30)(scope, receive, send)
        return sent

    sent = asyncio.run(scenario())
    assert sent[0]["type"] == "http.response.start"
    assert cleaned_up == [True]
