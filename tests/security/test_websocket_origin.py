"""SPEC §9: cross-site websocket hijacking — a handshake from an unlisted Origin is 403."""

from __future__ import annotations

import pytest
from starlette.testclient import WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from micropie import App

ALLOWED = "https://app.example"
REFUSED_BODY = "403 Forbidden: websocket origin not allowed"


class Chat(App):
    opened: list[str] = []

    async def hello(self):
        return "hello"

    async def ws_chat(self, ws):
        self.opened.append(ws.request.headers.get("origin", ""))
        await ws.accept()
        await ws.send_text("welcome")
        await ws.close()


@pytest.fixture
def client(client_factory):
    Chat.opened.clear()
    return client_factory(Chat(websocket_origins=[ALLOWED]))


def assert_still_serves(client):
    with client.websocket_connect("/chat", headers={"origin": ALLOWED}) as ws:
        assert ws.receive_text() == "welcome"
    assert client.get("/hello").text == "hello"


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "null",
        "http://app.example",
        "https://app.example.evil.example",
        "https://evil.example/https://app.example",
        "https://app.example:8443",
        "https://app.examplf",
        "",
    ],
)
def test_unlisted_origin_is_refused_before_accept(client, origin):
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect("/chat", headers={"origin": origin}):
            pass  # pragma: no cover - the handshake is refused
    assert (denied.value.status_code, denied.value.text) == (403, REFUSED_BODY)
    assert Chat.opened == []
    assert_still_serves(client)


def test_missing_origin_is_refused(client):
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect("/chat"):
            pass  # pragma: no cover
    assert denied.value.status_code == 403
    assert Chat.opened == []
    assert_still_serves(client)


def test_unknown_route_from_a_bad_origin_is_still_refused(client):
    with pytest.raises((WebSocketDenialResponse, WebSocketDisconnect)):
        with client.websocket_connect("/__init__", headers={"origin": "https://evil.example"}):
            pass  # pragma: no cover
    assert_still_serves(client)


def test_listed_origin_is_case_insensitive(client):
    with client.websocket_connect("/chat", headers={"origin": ALLOWED.upper()}) as ws:
        assert ws.receive_text() == "welcome"


def mounted_apps():
    from starlette.routing import Router, WebSocketRoute

    async def echo(websocket):
        await websocket.accept()
        await websocket.send_text("mounted")
        await websocket.close()

    class Inner(App):
        async def ws_chat(self, ws):
            await ws.accept()
            await ws.send_text("mounted")
            await ws.close()

    return {"starlette": Router([WebSocketRoute("/chat", echo)]), "micropie": Inner()}


@pytest.mark.parametrize("kind", ["starlette", "micropie"])
def test_mounted_apps_websockets_are_guarded_too(client_factory, kind):
    app = Chat(websocket_origins=[ALLOWED])
    app.mount("/sub", mounted_apps()[kind])
    client = client_factory(app)
    for origin in ({"origin": "https://evil.example"}, {}):
        with pytest.raises(WebSocketDenialResponse) as denied:
            with client.websocket_connect("/sub/chat", headers=origin):
                pass  # pragma: no cover - the handshake is refused
        assert (denied.value.status_code, denied.value.text) == (403, REFUSED_BODY)
    with client.websocket_connect("/sub/chat", headers={"origin": ALLOWED}) as ws:
        assert ws.receive_text() == "mounted"
    assert_still_serves(client)


@pytest.mark.server
def test_guard_refuses_mounted_and_own_websockets_under_uvicorn(uvicorn_server):
    import httpx
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    server = uvicorn_server("tests.apps.origin_app:app")
    url = server.url.replace("http", "ws")
    for path in ("/chat", "/sub/chat"):
        with pytest.raises(InvalidStatus) as refused:
            connect(url + path, origin="https://evil.example", open_timeout=10)
        assert refused.value.response.status_code == 403
        with connect(url + path, origin=ALLOWED, open_timeout=10) as ws:
            assert ws.recv(timeout=10) in ("welcome", "mounted")
    assert httpx.get(server.url + "/hello").text == "hello"
