"""Attacks a test client cannot send, as raw bytes to a real uvicorn server."""

from __future__ import annotations

import socket

import httpx
import pytest

pytestmark = pytest.mark.server

TARGET = "tests.apps.security_app:app"


@pytest.fixture(scope="module")
def server():
    from tests.support import run_uvicorn

    running = run_uvicorn(TARGET)
    yield running
    running.stop()


def exchange(server, request: bytes) -> tuple[int | None, bytes]:
    """Send raw bytes, read until the server closes; the status (``None`` if no reply)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    if not data.startswith(b"HTTP/1.1 "):
        return None, data
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head[9:12]), body


def get(target: bytes, extra: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" + extra + b"\r\n"


def assert_still_serves(server):
    assert httpx.get(server.url + "/greet", params={"name": "ok"}, timeout=5).text == "hello ok "


@pytest.mark.parametrize(
    "target",
    [
        b"/greet?name=%ff%fe",
        b"/greet?name=\xff\xfe",
        b"/greet/%ff",
        b"/%c0%ae%c0%ae/greet",
        b"/greet?times=%ff",
        b"/greet?%ff=%ff&name=%00",
        b"/\xff\xfe",
    ],
)
def test_non_utf8_request_targets_never_reach_500(server, target):
    status, _ = exchange(server, get(target))
    assert status is None or 200 <= status < 500
    assert_still_serves(server)


def test_announced_oversize_body_is_413_before_it_is_sent(server):
    request = (
        b"POST /save HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n{"
    )
    assert exchange(server, request) == (413, b"413 Payload Too Large")
    assert_still_serves(server)


def test_undecodable_query_value_binds_as_replacement_text(server):
    status, body = exchange(server, get(b"/greet?name=%ff"))
    assert (status, body) == (200, "hello \ufffd ".encode())


@pytest.mark.parametrize("size", [16 * 1024, 200 * 1024])
def test_huge_header_is_refused_or_served(server, size):
    status, _ = exchange(server, get(b"/greet", b"X-Junk: " + b"a" * size + b"\r\n"))
    assert status is None or status in (200, 400, 431)
    assert_still_serves(server)


def test_many_headers_are_refused_or_served(server):
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(5000))
    status, _ = exchange(server, get(b"/greet", headers))
    assert status is None or status in (200, 400, 431)
    assert_still_serves(server)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1, 2", b"99999999999999999999", b"9" * 5000])
def test_bad_content_length_never_reaches_500(server, length):
    request = (
        b"POST /save HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + length + b"\r\n\r\n{}"
    )
    status, _ = exchange(server, request)
    assert status is None or status in (400, 413)
    assert_still_serves(server)


def test_content_length_of_leading_zeros_is_read_as_its_value(server):
    """httptools passes 5,000 leading zeros on; Python's int() refused them (500)."""
    request = (
        b"POST /save HTTP/1.1\r\nHost: test\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\nContent-Length: " + b"0" * 5000 + b"2\r\n\r\n{}"
    )
    status, _ = exchange(server, request)
    assert status is None or status in (200, 400)  # h11 refuses such a line itself
    assert_still_serves(server)


def test_crlf_header_in_a_starlette_response_is_dropped(server):
    status, body = exchange(server, get(b"/tagged?tag=a%0D%0ASet-Cookie:%20pwned=1"))
    assert (status, body) == (200, b"tagged")
