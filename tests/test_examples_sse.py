"""examples/sse: the EventSource page, the clock, the plain-form feed and the shared news."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from starlette.testclient import TestClient

from examples.sse.app import NEWS, Events, app
from tests.conftest import ClientFactory
from tests.support import RedisServer, UvicornServer, spread_over_workers


def test_sse_page_uses_event_source(client_factory: ClientFactory) -> None:
    text = client_factory(app).get("/").text
    assert 'new EventSource("clock")' in text
    assert 'new EventSource("feed")' in text


def test_sse_clock_sends_tick_events(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/clock?count=2&interval=0")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    events = [block.split("\n") for block in response.text.strip().split("\n\n")]
    assert [lines[:2] for lines in events] == [["event: tick", "id: 0"], ["event: tick", "id: 1"]]
    assert "time" in json.loads(events[0][2].removeprefix("data: "))


def test_sse_feed_plain_form(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/feed?interval=0")
    assert response.headers["content-type"] == "text/event-stream"
    expected = "retry: 5000\ndata: connected\n\n" + "".join(
        f"id: {number}\ndata: {text}\n\n" for number, text in enumerate(NEWS, start=1)
    )
    assert response.text == expected


# -- news through the broadcast hub -------------------------------------------------------------


@pytest.mark.server
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_news_reaches_every_reader(uvicorn_server) -> None:
    server = uvicorn_server("examples.sse.app:app")
    readers = [open_reader(server) for _ in range(2)]
    try:
        for text in ("one", "two"):
            assert (
                httpx.post(server.url + "/publish", data={"text": f" {text} "}).status_code == 204
            )
        for _, reader in readers:
            assert [reader.next() for _ in range(2)] == [news("one"), news("two")]
    finally:
        for connection, _ in readers:
            connection.close()


@pytest.mark.parametrize("path", ["/clock?count=1&interval=0", "/feed?interval=0", "/news"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_streams_take_no_body(client_factory: ClientFactory, path: str, method: str) -> None:
    body = json.dumps({"pad": "x" * 100_000})
    response = client_factory(app).request(
        method, path, content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.text) == (413, "413 Payload Too Large")


@pytest.mark.server
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_no_stream_holds_the_budget_of_large_bodies(uvicorn_server) -> None:
    """A large body is parsed and kept until its request ends, and a stream ends when
    its client wants: two clients posting 15 MB of JSON to the streams held the
    process's budget of large bodies (32 MiB) for as long as they stayed connected, and
    every other body over ~2 MB was answered 503 meanwhile."""
    server = uvicorn_server("examples.sse.app:app")
    body = b'{"pad": [' + b",".join([b'"0123456789abcdef"'] * 800_000) + b"]}"
    holders = []
    try:
        for path in (b"/clock", b"/news"):
            holder = socket.create_connection(("127.0.0.1", server.port), timeout=60)
            holders.append(holder)
            head = b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" % path
            holder.sendall(head + b"Content-Length: %d\r\n\r\n" % len(body))
            try:
                holder.sendall(body)
            except OSError:
                pass  # refused before the body was read: the server may close at once
            assert holder.recv(4096).startswith(b"HTTP/1.1 413 ")
        large = {"text": "y" * (4 * 1024 * 1024)}
        assert httpx.post(server.url + "/publish", json=large, timeout=60).status_code == 204
    finally:
        for holder in holders:
            holder.close()


def test_publish_refuses_empty_text_and_get(client_factory: ClientFactory) -> None:
    with client_factory(Events()) as client:
        assert client.post("/publish", data={"text": "   "}).status_code == 400
        assert client.get("/publish?text=hi").status_code == 405


@pytest.mark.redis
def test_publish_reports_an_unreachable_relay(redis_server: RedisServer) -> None:
    with TestClient(Events(redis_server.url)) as client:
        redis_server.stop()
        assert client.post("/publish", data={"text": "lost"}).status_code == 503


class EventReader:
    """Server-sent events, one ``(event, data)`` at a time, from an iterator of lines."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines

    def next(self) -> tuple[str, str]:
        event, data = "message", []
        for line in self._lines:
            if not line:
                if data:
                    return event, "\n".join(data)
                continue
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                event = value
            elif field == "data":
                data.append(value)
        raise AssertionError("the stream ended")


READERS, ITEMS = 10, 20


@pytest.mark.server
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_news_across_two_workers(uvicorn_server, redis_url) -> None:
    server = uvicorn_server("examples.sse.app:app", workers=2, env={"REDIS_URL": redis_url})
    readers: list[tuple[http.client.HTTPConnection, EventReader]] = []
    try:

        def open_client() -> tuple[tuple[http.client.HTTPConnection, EventReader], int]:
            connection, reader = open_reader(server)
            readers.append((connection, reader))
            return (connection, reader), connection.sock.getsockname()[1]

        spread_over_workers(server, open_client, READERS)
        for number in range(ITEMS):
            # one sender; each post on a new connection, so both workers publish
            response = httpx.post(server.url + "/publish", data={"text": f"item {number}"})
            assert response.status_code == 204
        expected = [news(f"item {number}") for number in range(ITEMS)]
        for _, reader in readers:
            assert [reader.next() for _ in range(ITEMS)] == expected
    finally:
        for connection, _ in readers:
            connection.close()


def news(text: str) -> tuple[str, str]:
    return "message", json.dumps({"text": text}, separators=(",", ":"))


def open_reader(server: UvicornServer) -> tuple[http.client.HTTPConnection, EventReader]:
    """A ``GET /news`` stream whose subscription is live (its ``ready`` event was read)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    connection.request("GET", "/news")
    reader = EventReader(_lines(connection.getresponse()))
    assert reader.next() == ("ready", "subscribed")
    return connection, reader


def _lines(response: http.client.HTTPResponse) -> Iterator[str]:
    while line := response.readline():
        yield line.decode("utf-8").rstrip("\r\n")


@pytest.mark.parametrize("path", ["/clock?count=1", "/feed?"])
@pytest.mark.parametrize("interval", ["nan", "inf", "-1", "1e400"])
def test_sse_refuses_intervals_sleep_cannot_take(
    client_factory: ClientFactory, path: str, interval: str
) -> None:
    response = client_factory(app).get(f"{path}&interval={interval}")
    assert (response.status_code, response.text) == (
        400,
        "400 Bad Request: Invalid value for parameter 'interval'",
    )
