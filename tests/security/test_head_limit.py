"""Request heads over the bounds of ``micropie.head_limit:HttpToolsProtocol``.

uvicorn's httptools protocol alone buffers any head a client sends (megabytes of
headers) and waits for ever for one sent a line every few seconds (slowloris); with
``--http micropie.head_limit:HttpToolsProtocol`` a head past ``MICROPIE_MAX_HEAD_BYTES``
gets 431 as it arrives and one not complete within ``MICROPIE_HEAD_TIMEOUT`` 408, while
bodies of any size, heads within the bound, keep-alive, pipelining and websockets work
as before.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from micropie.head_limit import (
    DEFAULT_HEAD_TIMEOUT,
    DEFAULT_MAX_HEAD_BYTES,
    head_bound_from_environ,
)

pytestmark = pytest.mark.server

BOUND = 8192
PROTOCOL = "micropie.head_limit:HttpToolsProtocol"


@pytest.fixture(scope="module")
def server():
    from tests.support import run_uvicorn

    running = run_uvicorn(
        "tests.apps.security_app:app",
        args=["--http", PROTOCOL],
        env={"MICROPIE_MAX_HEAD_BYTES": str(BOUND), "MICROPIE_HEAD_TIMEOUT": "1"},
    )
    yield running
    running.stop()


def exchange(server, pieces: list[bytes]) -> bytes:
    """Send ``pieces`` one ``sendall`` each (stopping if the server closes); all it answers."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        try:
            for piece in pieces:
                sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
        reply = b""
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except ConnectionResetError:
            pass
        return reply


def head(size: int, *, method: bytes = b"GET", extra: bytes = b"") -> bytes:
    """A request head of exactly ``size`` bytes (``Connection: close``)."""
    start = method + b" /greet?name=ok HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + extra
    filler = size - len(start) - len(b"X-Fill: \r\n\r\n")
    return start + b"X-Fill: " + b"a" * filler + b"\r\n\r\n"


@pytest.mark.parametrize("piece", [1024, 65536])
def test_head_over_the_bound_is_431(server, piece):
    big = b"GET / HTTP/1.1\r\nHost: t\r\n" + b"X-Big: " + b"a" * (4 * 1024 * 1024)
    reply = exchange(server, [big[i : i + piece] for i in range(0, len(big), piece)])
    assert reply.startswith(b"HTTP/1.1 431 ")
    assert reply.endswith(b"431 Request Header Fields Too Large")
    assert "Request head over 8192 bytes: answered 431" in server.log()
    assert httpx.get(server.url + "/greet?name=ok", timeout=10).text == "hello ok "


def test_many_headers_over_the_bound_are_431(server):
    headers = [b"X-H%d: v\r\n" % number for number in range(5000)]
    reply = exchange(server, [b"GET / HTTP/1.1\r\nHost: t\r\n", *headers, b"\r\n"])
    assert reply.startswith(b"HTTP/1.1 431 ")


@pytest.mark.parametrize("split", [0, 1, 2, 3])
def test_head_at_the_bound_is_served_however_it_is_split(server, split):
    request = head(BOUND)
    end = len(request) - 4 + split  # the blank line split across two reads
    reply = exchange(server, [request[:end], request[end:]])
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.endswith(b"hello ok ")


def test_body_is_not_counted_as_head(server):
    body = b'{"item": "' + b"x" * (1024 * 1024) + b'"}'
    extra = b"Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
    request = head(BOUND - 100, method=b"POST", extra=extra).replace(b"/greet?name=ok", b"/save")
    reply = exchange(server, [request + body])  # head and body in one write
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.endswith(b'"}')


def test_each_request_on_a_connection_has_its_own_bound(server):
    one = head(BOUND - 100).replace(b"Connection: close\r\n", b"")
    last = head(BOUND - 100)
    reply = exchange(server, [one, one, one, last])  # pipelined: 4 heads, 32 KiB in all
    assert reply.count(b"HTTP/1.1 200 ") == 4


def test_websockets_still_upgrade(server):
    from websockets.sync.client import connect

    with connect(server.url.replace("http", "ws") + "/echo") as ws:
        ws.send("hello")
        assert ws.recv(timeout=10) == "hello"


def test_head_trickled_line_by_line_is_408(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /greet HTTP/1.1\r\nHost: t\r\n")
        sock.settimeout(0.25)  # a header line every 0.25 s: each well within 1 s
        reply = b""
        for number in range(400):  # 100 s, were the head waited for line after line
            try:
                reply = sock.recv(65536)
                break
            except TimeoutError:
                sock.sendall(b"X-Line-%d: v\r\n" % number)
    assert reply.startswith(b"HTTP/1.1 408 ")
    assert reply.endswith(b"408 Request Timeout")
    assert httpx.get(server.url + "/greet?name=ok", timeout=10).text == "hello ok "


def test_connection_that_never_speaks_is_closed(server):
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        assert sock.recv(65536) == b""  # closed by the server, nothing said


def test_bound_from_the_environment(monkeypatch):
    monkeypatch.delenv("MICROPIE_MAX_HEAD_BYTES", raising=False)
    monkeypatch.delenv("MICROPIE_HEAD_TIMEOUT", raising=False)
    assert head_bound_from_environ() == DEFAULT_MAX_HEAD_BYTES
    assert head_bound_from_environ("MICROPIE_HEAD_TIMEOUT") == DEFAULT_HEAD_TIMEOUT
    monkeypatch.setenv("MICROPIE_MAX_HEAD_BYTES", "1000")
    assert head_bound_from_environ() == 1000
    monkeypatch.setenv("MICROPIE_MAX_HEAD_BYTES", "lots")
    with pytest.raises(ValueError, match="MICROPIE_MAX_HEAD_BYTES"):
        head_bound_from_environ()
