"""Clients that vanish mid-request, against a real uvicorn server.

Each test breaks a connection part-way (an upload, a streamed response, a websocket),
then checks through the app's ``/debug_state`` that nothing was left behind — no
extra asyncio tasks, no open stream generators or websocket handlers, no upload
files — and that the next requests are served normally.
"""

from __future__ import annotations

import socket
import time

import httpx
import pytest
from websockets.sync.client import connect

pytestmark = pytest.mark.server

TARGET = "tests.apps.security_app:app"
BOUNDARY = b"faultfault"


@pytest.fixture
def server(uvicorn_server, tmp_path):
    env = {"MICROPIE_SECURITY_UPLOAD_DIR": str(tmp_path / "uploads")}
    return uvicorn_server(TARGET, env=env)


def state(server) -> dict:
    return httpx.get(server.url + "/debug_state", timeout=5).json()


def settled(server, baseline: dict, timeout: float = 10.0) -> dict:
    """Poll ``/debug_state`` until it is back to ``baseline`` (or the timeout passes)."""
    deadline = time.monotonic() + timeout
    current = state(server)
    while time.monotonic() < deadline:
        if current_is_idle(current, baseline):
            return current
        time.sleep(0.1)
        current = state(server)
    return current


def current_is_idle(current: dict, baseline: dict) -> bool:
    idle = {"streams_open": 0, "sockets_open": 0, "uploads_open": 0, "upload_files": []}
    return current["tasks"] <= baseline["tasks"] and all(current[k] == v for k, v in idle.items())


def assert_serves_normally(server) -> None:
    base = server.url
    assert httpx.get(base + "/", timeout=5).text == "ok"
    files = {"file": ("ok.bin", b"x" * 100_000)}
    assert httpx.post(base + "/upload", files=files, timeout=10).json() == {"size": 100_000}
    assert len(httpx.get(base + "/stream?chunks=10&size=10", timeout=10).content) == 100
    with connect(base.replace("http", "ws") + "/echo") as ws:
        ws.send("ping")
        assert ws.recv(timeout=5) == "ping"


def raw_connection(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP/1.1 response with a Content-Length, read from ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(4096)
    return head + b"\r\n\r\n" + body


def upload_head(size: int) -> bytes:
    part = (
        b"--" + BOUNDARY + b"\r\n"
        b'Content-Disposition: form-data; name="file"; filename="big.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n"
    )
    return (
        b"POST /upload HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: multipart/form-data; boundary=" + BOUNDARY + b"\r\n"
        b"Content-Length: " + str(len(part) + size).encode() + b"\r\n\r\n" + part
    )


@pytest.mark.parametrize("sent", [0, 100_000, 3_000_000])
def test_client_disconnecting_mid_upload_leaves_nothing_behind(server, sent):
    baseline = state(server)
    with raw_connection(server) as sock:
        sock.sendall(upload_head(50_000_000))
        for _ in range(sent // 100_000):
            sock.sendall(b"x" * 100_000)
        time.sleep(0.3)  # let the handler start writing the file
    after = settled(server, baseline)
    assert current_is_idle(after, baseline), after
    if sent > 1_100_000:  # past one file buffer: the handler was already saving the file
        assert after["uploads_started"] == baseline["uploads_started"] + 1
    assert_serves_normally(server)
    assert current_is_idle(settled(server, baseline), baseline)


def test_client_disconnecting_mid_stream_closes_the_generator(server):
    baseline = state(server)
    with raw_connection(server) as sock:
        sock.sendall(b"GET /stream?chunks=100000&size=1024 HTTP/1.1\r\nHost: test\r\n\r\n")
        received = 0
        while received < 200_000:
            received += len(sock.recv(65536))
    after = settled(server, baseline)
    assert after["streams_opened"] == baseline["streams_opened"] + 1
    assert current_is_idle(after, baseline), after
    assert_serves_normally(server)


def test_many_clients_dropping_streams_at_once(server):
    baseline = state(server)
    sockets = [raw_connection(server) for _ in range(20)]
    for sock in sockets:
        sock.sendall(b"GET /stream?chunks=100000 HTTP/1.1\r\nHost: test\r\n\r\n")
    for sock in sockets:
        sock.recv(4096)
        sock.close()
    after = settled(server, baseline)
    assert current_is_idle(after, baseline), after
    assert_serves_normally(server)


def test_client_disconnecting_mid_websocket_ends_the_handler(server):
    baseline = state(server)
    with connect(server.url.replace("http", "ws") + "/echo") as ws:
        ws.send("hello")
        assert ws.recv(timeout=5) == "hello"
        assert state(server)["sockets_open"] == 1
        ws.socket.shutdown(socket.SHUT_RDWR)  # vanish without a close frame
    after = settled(server, baseline)
    assert current_is_idle(after, baseline), after
    assert_serves_normally(server)


def test_client_disconnecting_mid_websocket_message(server):
    baseline = state(server)
    with raw_connection(server) as sock:
        sock.sendall(
            b"GET /echo HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert sock.recv(4096).startswith(b"HTTP/1.1 101")
        # A masked text frame announcing 1000 bytes, of which only 10 are sent.
        sock.sendall(b"\x81\xfe\x03\xe8" + b"\x00\x00\x00\x00" + b"x" * 10)
    after = settled(server, baseline)
    assert current_is_idle(after, baseline), after
    assert_serves_normally(server)


def test_client_stalling_mid_body_gets_408_and_the_server_recovers(uvicorn_server):
    server = uvicorn_server(TARGET, env={"MICROPIE_SECURITY_BODY_TIMEOUT": "0.5"})
    baseline = state(server)
    with raw_connection(server) as sock:
        sock.sendall(
            b"POST /save HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"item'
        )
        reply = read_response(sock)
    assert reply.startswith(b"HTTP/1.1 408")
    assert reply.endswith(b"408 Request Timeout: Failed to receive body")
    assert current_is_idle(settled(server, baseline), baseline)
    assert httpx.post(server.url + "/save", json={"item": "a"}).json() == {"item": "a"}
