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
