"""Slow clients against a real uvicorn (httptools and h11): a body trickled in a byte at
a time, each byte well within ``body_timeout``, gets ``408`` once the whole body's
budget of waiting is spent (a timer per chunk let it hold its request open for ever),
and other clients are served meanwhile."""

from __future__ import annotations

import socket

import httpx
import pytest

pytestmark = pytest.mark.server

TARGET = "tests.apps.security_app:app"
TIMEOUT = b"408 Request Timeout: Failed to receive body"
PAUSE = 0.2  # between two bytes: well within the 1 s body_timeout
UPLOAD_HEAD = b'--B\r\nContent-Disposition: form-data; name="item"; filename="a.txt"\r\n\r\n'


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(request):
    from tests.support import run_uvicorn

    running = run_uvicorn(
        TARGET, args=["--http", request.param], env={"MICROPIE_SECURITY_BODY_TIMEOUT": "1"}
    )
    yield running
    running.stop()


def trickle(server, head: bytes, first: bytes, most: int) -> bytes:
    """Send ``head`` and ``first``, then a byte every :data:`PAUSE` seconds (at most
    ``most``) until the server answers; what it answered (``b""`` if nothing)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head + first)
        sock.settimeout(PAUSE)
        reply = b""
        for _ in range(most):
            try:
                reply = sock.recv(65536)
                break  # the server answered before the body ended
            except TimeoutError:
                sock.sendall(b"x")
        sock.settimeout(10)
        try:
            while chunk := sock.recv(65536):
                reply += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return reply


@pytest.mark.parametrize(
    ("content_type", "first"),
    [
        (b"application/json", b'{"item": "'),
        (b"application/x-www-form-urlencoded", b"item="),
        (b"multipart/form-data; boundary=B", UPLOAD_HEAD),
    ],
    ids=["json", "form", "multipart"],
)
def test_body_trickled_byte_by_byte_is_408(server, content_type, first):
    head = (
        b"POST /save HTTP/1.1\r\nHost: test\r\nContent-Type: " + content_type + b"\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    # 300 bytes at 0.2 s: a minute, were the body waited for byte after byte.
    reply = trickle(server, head, first, most=300)
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert reply.endswith(TIMEOUT)
    assert httpx.get(server.url + "/greet?name=ok", timeout=10).text == "hello ok "


def test_other_clients_are_served_while_one_trickles(server):
    head = (
        b"POST /save HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100000\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow:
        slow.sendall(head + b'{"item": "')
        for number in range(5):
            slow.sendall(b"x")
            reply = httpx.get(server.url + f"/greet?name=n{number}", timeout=10)
            assert reply.text == f"hello n{number} "
