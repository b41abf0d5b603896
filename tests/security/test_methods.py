"""SPEC §1.6: every method reaches the handler, except ``CONNECT`` unless it asks for it.

A 2xx answer to ``CONNECT`` means "the tunnel is open": uvicorn's h11 implementation
then switches the connection out of HTTP, so sending the handler's body raised inside
the server (two tracebacks, a cut-off reply). A handler without ``@methods`` answers
``CONNECT`` with 405; one that lists it in ``@methods`` receives it.
"""

from __future__ import annotations

import socket

import httpx
import pytest

from micropie import App, methods
from tests.conftest import ClientFactory
from tests.support import run_uvicorn

ORDINARY = "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


class MethodsApp(App):
    async def index(self):
        return self.request.method

    async def stream(self):
        yield "streamed"

    @methods("GET", "CONNECT")
    async def tunnel(self):
        return 204, ""


@pytest.mark.parametrize("path", ["/", "/stream", "/index"])
def test_connect_is_405_where_the_handler_did_not_ask_for_it(
    client_factory: ClientFactory, path: str
) -> None:
    response = client_factory(MethodsApp()).request("CONNECT", path)
    assert (response.status_code, response.text) == (405, "405 Method Not Allowed")
    assert response.headers["allow"] == ORDINARY


def test_a_handler_that_lists_connect_receives_it(client_factory: ClientFactory) -> None:
    client = client_factory(MethodsApp())
    assert client.request("CONNECT", "/tunnel").status_code == 204
    assert client.request("PUT", "/tunnel").headers["allow"] == "CONNECT, GET, HEAD"


@pytest.mark.parametrize("method", ["PROPFIND", "PURGE", "QUERY", "TRACE", "OPTIONS"])
def test_other_methods_still_reach_the_handler(client_factory: ClientFactory, method: str) -> None:
    response = client_factory(MethodsApp()).request(method, "/")
    assert (response.status_code, response.text) == (200, method)


@pytest.mark.server
@pytest.mark.parametrize("http", ["h11", "httptools"])
@pytest.mark.parametrize("path", [b"/", b"/stream", b"/data"])
def test_connect_through_uvicorn_never_breaks_the_connection(http: str, path: bytes) -> None:
    server = run_uvicorn("tests.apps.security_app:app", args=["--http", http])
    try:
        request = b"CONNECT " + path + b" HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(request)
            reply = b""
            while chunk := sock.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
        assert reply.endswith(b"\r\n\r\n405 Method Not Allowed")
        assert httpx.get(server.url + "/data", timeout=30).status_code == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log()
