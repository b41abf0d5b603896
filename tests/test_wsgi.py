"""``App.wsgi_app`` under a real WSGI server (the standard library's wsgiref)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import httpx
import pytest

from examples.wsgi.app import Site

pytestmark = pytest.mark.server


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def wsgi_url() -> Iterator[str]:
    server: WSGIServer = make_server("127.0.0.1", 0, Site().wsgi_app, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_wsgi_get(wsgi_url: str) -> None:
    response = httpx.get(wsgi_url + "/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.text == "Hello from micropie, served over WSGI!"


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"params": {"text": "q"}}, {"text": "q", "method": "GET"}),
        ({"data": {"text": "form"}}, {"text": "form", "method": "POST"}),
        ({"json": {"text": "json"}}, {"text": "json", "method": "POST"}),
    ],
)
def test_wsgi_binding(wsgi_url: str, kwargs: dict[str, object], expected: dict[str, str]) -> None:
    method = "GET" if "params" in kwargs else "POST"
    response = httpx.request(method, wsgi_url + "/echo", **kwargs)  # type: ignore[arg-type]
    assert response.json() == expected


def test_wsgi_session_cookie(wsgi_url: str) -> None:
    with httpx.Client(base_url=wsgi_url) as client:
        assert client.get("/visits").text == "You have been here 1 time(s)."
        assert client.get("/visits").text == "You have been here 2 time(s)."
        assert "session_id" in client.cookies


def test_wsgi_streaming(wsgi_url: str) -> None:
    with httpx.stream("GET", wsgi_url + "/countdown?start=2") as response:
        chunks = list(response.iter_text())
    assert "".join(chunks) == "2\n1\nlift-off\n"


def test_wsgi_errors(wsgi_url: str) -> None:
    assert httpx.get(wsgi_url + "/missing").status_code == 404
    response = httpx.get(wsgi_url + "/countdown?start=x")
    assert response.status_code == 400
    assert response.text == "400 Bad Request: Invalid value for parameter 'start'"


GUNICORN_STREAMING_APP = """
import time

from micropie import App


class Root(App):
    def index(self):
        def chunks():
            for n in range(1000):
                yield f"chunk {n}\\n" * 100
                time.sleep(0.01)
        return chunks()

    def hello(self):
        return "hi"


wsgi_app = Root().wsgi_app
"""


@pytest.mark.server
def test_gunicorn_exits_cleanly_after_abandoned_streams(tmp_path) -> None:
    """Clients that leave a streamed response half-read under gunicorn's sync workers
    (``app.wsgi_app``): later requests are served, and the worker exits on SIGTERM
    without a traceback from micropie (the abandoned coroutines are closed at exit)."""
    import signal
    import socket
    import sys

    from tests.support import free_port, start_server

    (tmp_path / "app.py").write_text(GUNICORN_STREAMING_APP)
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "app:wsgi_app", "--bind", f"127.0.0.1:{port}"]
    server = start_server(
        command, port, cwd=tmp_path, probe="/hello", stop_signal=signal.SIGTERM, timeout=60
    )
    try:
        for _ in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
                assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        assert httpx.get(f"http://127.0.0.1:{port}/hello", timeout=30).text == "hi"
    finally:
        server.stop()
    log = server.log()
    assert "Worker exiting" in log, log
    assert "Traceback" not in log and "ValueError" not in log, log
