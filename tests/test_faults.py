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
from starlette.websockets import WebSocketDisconnect
from websockets.sync.client import connect

from micropie import App, RedisSessionBackend
from tests.support import RedisServer, free_port, wait_until

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


def test_client_disconnecting_mid_upload_keeps_a_file_of_that_name(server, tmp_path):
    upload_dir = tmp_path / "uploads"
    upload_dir.mkdir(exist_ok=True)
    (upload_dir / "big.bin").write_bytes(b"precious")
    started = state(server)["uploads_started"]
    with raw_connection(server) as sock:
        sock.sendall(upload_head(50_000_000))
        for _ in range(30):  # 3 MB: past one file buffer, so the handler is saving
            sock.sendall(b"x" * 100_000)
        assert wait_until(lambda: state(server)["uploads_started"] == started + 1)
    assert wait_until(lambda: state(server)["uploads_open"] == 0)
    assert [p.name for p in upload_dir.iterdir()] == ["big.bin"]  # no temporary file left
    assert (upload_dir / "big.bin").read_bytes() == b"precious"


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


# -- the session store goes away -------------------------------------------------------------

STORE_DOWN = "503 Service Unavailable: the session store is not answering, try again"


@pytest.fixture
def counter(uvicorn_server, redis_server):
    env = {
        "MICROPIE_TEST_SESSION_BACKEND": "redis",
        "MICROPIE_TEST_REDIS_URL": redis_server.url,
        "MICROPIE_TEST_SESSION_STORE_TIMEOUT": "1",
    }
    return uvicorn_server("tests.apps.session_counter:app", env=env)


def count(client: httpx.Client) -> httpx.Response:
    return client.get("/count", timeout=30)


def counts_again(client: httpx.Client) -> bool:
    return count(client).status_code == 200


def store_log_lines(server) -> list[str]:
    return [line for line in server.log().splitlines() if "session store" in line]


@pytest.mark.redis
def test_session_store_down_answers_503_once_logged_and_recovers(counter, redis_server):
    with httpx.Client(base_url=counter.url) as client:
        assert count(client).text.split()[0] == "1"
        redis_server.stop()
        for _ in range(5):
            response = count(client)
            assert (response.status_code, response.text) == (503, STORE_DOWN)
            assert httpx.get(counter.url + "/", timeout=5).text == "ok"  # no session: served
        redis_server.start()
        assert wait_until(lambda: counts_again(client), timeout=30)
        assert count(client).status_code == 200
    assert "Traceback" not in counter.log()
    lines = store_log_lines(counter)
    assert len(lines) == 2, lines
    assert "unavailable" in lines[0] and "answers again" in lines[1]


@pytest.mark.redis
def test_redis_restarted_between_requests_costs_no_503_and_no_session(uvicorn_server, tmp_path):
    """Redis restarts (an upgrade, a failover) while the workers' pooled connections are
    idle: the next requests reconnect and are served, and the sessions are still there."""
    redis_server = RedisServer(free_port(), data_dir=tmp_path)
    redis_server.start()
    try:
        env = {
            "MICROPIE_TEST_SESSION_BACKEND": "redis",
            "MICROPIE_TEST_REDIS_URL": redis_server.url,
        }
        server = uvicorn_server("tests.apps.session_counter:app", workers=2, env=env)
        with httpx.Client(base_url=server.url) as client:
            assert [count(client).text.split()[0] for _ in range(4)] == ["1", "2", "3", "4"]
            redis_server.stop()
            redis_server.start()
            for expected in range(5, 13):  # a new connection each time: both workers answer
                response = httpx.get(server.url + "/count", cookies=client.cookies, timeout=30)
                assert response.status_code == 200, response.text
                assert response.text.split()[0] == str(expected)
    finally:
        redis_server.stop()
    assert "Traceback" not in server.log()
    assert store_log_lines(server) == []


@pytest.mark.redis
def test_stalled_session_store_answers_503_and_recovers(counter, redis_server):
    with httpx.Client(base_url=counter.url) as client:
        assert count(client).status_code == 200
        redis_server.pause()
        try:
            response = count(client)
            assert (response.status_code, response.text) == (503, STORE_DOWN)
            assert response.headers["retry-after"] == "1"
        finally:
            redis_server.resume()
        assert wait_until(lambda: counts_again(client), timeout=30)
    assert "Traceback" not in counter.log()
    assert "no answer within 1.0 s" in store_log_lines(counter)[0]


@pytest.mark.redis
def test_stalled_store_mixes_no_sessions(counter, redis_server):
    """A request given up on while Redis is stalled leaves no answer behind on a pooled
    connection: once Redis answers again, each visitor reads their own session."""
    ann, bob = httpx.Client(base_url=counter.url), httpx.Client(base_url=counter.url)
    with ann, bob:
        assert [count(ann).text.split()[0] for _ in range(3)][-1] == "3"
        assert [count(bob).text.split()[0] for _ in range(9)][-1] == "9"
        redis_server.pause()
        try:
            assert count(ann).status_code == 503  # its read is still queued in Redis
            assert count(bob).status_code == 503
        finally:
            redis_server.resume()
        assert wait_until(lambda: counts_again(bob), timeout=30)  # bob: 10
        for turn in range(4):
            assert count(ann).text.split()[0] == str(4 + turn)
            assert count(bob).text.split()[0] == str(11 + turn)


@pytest.mark.redis
def test_websocket_is_closed_try_again_later_while_the_store_is_down(client_factory, redis_server):
    class Chat(App):
        async def login(self):
            self.session["user"] = "ann"
            return "in"

        async def ws_hello(self, ws):
            await ws.accept()
            await ws.send_text(self.session.get("user", "?"))

    backend = RedisSessionBackend(redis_server.url)
    app = Chat(backend, session_store_timeout=1)
    app.shutdown_handlers.append(backend.aclose)
    with client_factory(app) as client:
        assert client.get("/login").text == "in"
        redis_server.stop()
        with pytest.raises(WebSocketDisconnect) as closed:
            with client.websocket_connect("/hello") as ws:
                ws.receive_text()
        assert closed.value.code == 1013
        redis_server.start()
        assert wait_until(lambda: client.get("/login").status_code == 200, timeout=30)
        with client.websocket_connect("/hello") as ws:
            assert ws.receive_text() == "ann"
