"""WebSocket handlers: routing, binding, the WebSocket API, sessions, origins (SPEC §9)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid

import pytest
from starlette.testclient import TestClient, WebSocketDenialResponse
from starlette.websockets import WebSocketDisconnect

from micropie import App, ConnectionClosed, WebSocket, WebSocketMiddleware, WebSocketRequest
from micropie.websockets import NO_ROUTE_REASON

TIMEOUT = 5.0


class EchoApp(App):
    async def index(self):
        return "http ok"

    async def ws_index(self, ws):
        await ws.accept()
        await ws.send_text("index")

    async def ws_echo(self, ws):
        await ws.accept()
        async for message in ws:
            await (ws.send_text if isinstance(message, str) else ws.send_bytes)(message)


def refusal(client: TestClient, path: str, **kwargs) -> WebSocketDisconnect:
    """The close a refused handshake ends with."""
    with pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect(path, **kwargs) as ws:
            ws.receive_text()
    return info.value


# -- routing --------------------------------------------------------------------------


def test_path_routes_to_ws_method_and_root_to_ws_index(client_factory):
    client = client_factory(EchoApp())
    with client.websocket_connect("/") as ws:
        assert ws.receive_text() == "index"
    with client.websocket_connect("/echo") as ws:
        ws.send_text("hello")
        assert ws.receive_text() == "hello"
        ws.send_bytes(b"\x00\xff")
        assert ws.receive_bytes() == b"\x00\xff"


@pytest.mark.parametrize("path", ["/nope", "/ws_echo", "/echo/surplus", "/_private"])
def test_unknown_route_closes_1008(client_factory, path):
    closed = refusal(client_factory(EchoApp()), path)
    assert (closed.code, closed.reason) == (1008, NO_ROUTE_REASON)


def test_http_handlers_are_not_websocket_routes(client_factory):
    class Root(App):
        async def chat(self):
            return "http only"

    client = client_factory(Root())
    assert client.get("/chat").text == "http only"
    assert refusal(client, "/chat").reason == NO_ROUTE_REASON


def test_ws_index_takes_unmatched_segments_when_it_has_parameters(client_factory):
    class Root(App):
        async def ws_index(self, ws, first="none", *rest):
            await ws.accept()
            await ws.send_json([first, *rest])

    client = client_factory(Root())
    with client.websocket_connect("/") as ws:
        assert ws.receive_json() == ["none"]
    with client.websocket_connect("/a/b/c") as ws:
        assert ws.receive_json() == ["a", "b", "c"]


# -- binding --------------------------------------------------------------------------


class RoomApp(App):
    async def login(self):
        self.session["room"] = "from-session"
        return "ok"

    async def ws_room(self, ws, room, count: int = 1, *, name: str = "anon"):
        await ws.accept()
        await ws.send_json({"room": room, "count": count, "name": name})


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/room/lobby", {"room": "lobby", "count": 1, "name": "anon"}),
        ("/room/lobby/3?name=ann", {"room": "lobby", "count": 3, "name": "ann"}),
        ("/room?room=attic&count=2", {"room": "attic", "count": 2, "name": "anon"}),
    ],
)
def test_parameters_bind_from_path_and_query(client_factory, path, expected):
    with client_factory(RoomApp()).websocket_connect(path) as ws:
        assert ws.receive_json() == expected


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/room", "Missing required parameter 'room'"),
        ("/room/lobby/many", "Invalid value for parameter 'count'"),
        ("/room/lobby/1/extra", NO_ROUTE_REASON),
    ],
)
def test_binding_failure_closes_1008_with_reason(client_factory, path, reason):
    closed = refusal(client_factory(RoomApp()), path)
    assert (closed.code, closed.reason) == (1008, reason)


def test_session_values_never_bind(client_factory):
    client = client_factory(RoomApp())
    assert client.get("/login").text == "ok"
    assert "session_id" in client.cookies
    closed = refusal(client, "/room")
    assert closed.reason == "Missing required parameter 'room'"


# -- the WebSocket API ------------------------------------------------------------------


def test_json_text_and_bytes_round_trip(client_factory):
    class Root(App):
        async def ws_convert(self, ws: WebSocket):
            await ws.accept()
            data = await ws.receive_json()
            await ws.send_json({"got": data, "ünï": "ok"})
            await ws.send_bytes((await ws.receive_text()).encode())
            await ws.send_text((await ws.receive_bytes()).decode())
            await ws.send_json(await ws.receive_json())  # binary JSON too

    with client_factory(Root()).websocket_connect("/convert") as ws:
        ws.send_json({"n": [1, 2.5, None]})
        assert ws.receive_json() == {"got": {"n": [1, 2.5, None]}, "ünï": "ok"}
        ws.send_text("text")
        assert ws.receive_bytes() == b"text"
        ws.send_bytes(b"bytes")
        assert ws.receive_text() == "bytes"
        ws.send_json([True], mode="binary")
        assert ws.receive_json() == [True]


@pytest.mark.parametrize("text", ["{not json", "[" * 100_000 + "]" * 100_000])
def test_receive_json_raises_value_error_for_bad_or_too_deep_json(client_factory, text):
    class Root(App):
        async def ws_parse(self, ws: WebSocket):
            await ws.accept()
            try:
                await ws.receive_json()
            except ValueError:
                await ws.send_text("refused")

    with client_factory(Root()).websocket_connect("/parse") as ws:
        ws.send_text(text)
        assert ws.receive_text() == "refused"


class Strict(App):
    """Handlers that take what the client sends without guarding against bad input."""

    async def ws_parse(self, ws: WebSocket):
        await ws.accept()
        while True:
            await ws.send_json(await ws.receive_json())

    async def ws_text(self, ws: WebSocket):
        await ws.accept()
        await ws.send_text(await ws.receive_text())

    async def ws_binary(self, ws: WebSocket):
        await ws.accept()
        await ws.send_bytes(await ws.receive_bytes())


@pytest.mark.parametrize(
    ("path", "send", "code", "reason"),
    [
        ("/parse", ("text", "{not json"), 1007, "Invalid JSON"),
        ("/parse", ("bytes", b"\xff\xfe"), 1007, "Invalid JSON"),
        ("/parse", ("text", "[" * 100_000 + "]" * 100_000), 1007, "JSON nested too deeply"),
        ("/text", ("bytes", b"data"), 1003, "Expected a text message, got binary data"),
        ("/binary", ("text", "data"), 1003, "Expected a binary message, got text"),
    ],
)
def test_unusable_client_message_closes_with_its_code_not_1011(
    client_factory, caplog, path, send, code, reason
):
    """Bad input the handler does not catch is the client's fault: 1007 or 1003 with
    the reason, logged at INFO; a 1011 and a traceback were a "500" from client input."""
    client = client_factory(Strict())
    with caplog.at_level(logging.INFO, logger="micropie"):
        with client.websocket_connect(path) as ws:
            if path == "/parse":
                ws.send_text('{"ok": 1}')
                assert ws.receive_json() == {"ok": 1}
            kind, data = send
            ws.send(
                {"type": "websocket.receive", "text": data}
                if kind == "text"
                else {"type": "websocket.receive", "bytes": data}
            )
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (code, reason)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert reason in caplog.text


@pytest.mark.parametrize("size", [10, 100_000], ids=["small", "large"])
def test_receive_json_parses_as_request_bodies_do_small_or_large(client_factory, size):
    """A large message (over 64 KiB) is parsed in a worker thread, in pieces; both keep
    JSON bodies' rules: integers exact, NaN refused, at most 254 levels deep."""
    message = {"n": 2**70, "items": [{"i": i} for i in range(size)], "f": 1.5}
    client = client_factory(Strict())
    with client.websocket_connect("/parse") as ws:
        ws.send_json(message)
        assert ws.receive_json() == message
        ws.send_text("[" * 255 + "]" * 255 + " " * size)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1007, "JSON nested too deeply")
    with client.websocket_connect("/parse") as ws:
        ws.send_text('{"a": NaN}' + " " * size)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1007, "Invalid JSON")


def test_large_json_message_past_the_budget_closes_1013_and_gives_nothing_back(
    client_factory, monkeypatch
):
    """A large message while the process's budget of large bodies is spent is refused
    unread (close 1013, try again later); parsed ones give their share back."""
    import micropie.body

    budget = micropie.body.large_bodies
    message = {"items": list(range(50_000))}  # over 64 KiB as text
    client = client_factory(Strict())
    with client.websocket_connect("/parse") as ws:
        ws.send_json(message)
        assert ws.receive_json() == message
    assert budget.held == 0
    monkeypatch.setattr(budget, "held", micropie.body.LARGE_BODY_BUDGET)  # others hold it
    with client.websocket_connect("/parse") as ws:
        ws.send_json({"small": True})  # small messages are not counted
        assert ws.receive_json() == {"small": True}
        ws.send_json(message)
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (
        1013,
        "Too many large messages at once, try again",
    )
    assert budget.held == micropie.body.LARGE_BODY_BUDGET


def test_unusable_message_errors_are_still_value_and_type_errors():
    from micropie.websockets import InvalidMessage, UnexpectedMessageType

    assert issubclass(InvalidMessage, ValueError)
    assert issubclass(UnexpectedMessageType, ValueError)
    assert issubclass(UnexpectedMessageType, TypeError)


def test_async_for_yields_messages_and_ends_when_peer_leaves(client_factory):
    received: list[str | bytes] = []
    ended = threading.Event()

    class Root(App):
        async def ws_collect(self, ws):
            await ws.accept()
            async for message in ws:
                received.append(message)
                await ws.send_text("ack")
            ended.set()

    with client_factory(Root()).websocket_connect("/collect") as ws:
        for message in ["a", b"b", "c"]:
            ws.send_text(message) if isinstance(message, str) else ws.send_bytes(message)
            assert ws.receive_text() == "ack"
        ws.close()
        assert ended.wait(TIMEOUT)
    assert received == ["a", b"b", "c"]


def test_handler_close_sends_code_and_reason(client_factory):
    class Root(App):
        async def ws_bye(self, ws):
            await ws.accept()
            await ws.send_text("bye")
            await ws.close(4001, "done here")
            await ws.close()  # closing twice does nothing

    with client_factory(Root()).websocket_connect("/bye") as ws:
        assert ws.receive_text() == "bye"
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_text()
    assert (info.value.code, info.value.reason) == (4001, "done here")


def test_close_before_accept_refuses_the_handshake(client_factory):
    class Root(App):
        async def ws_private(self, ws, token=""):
            if token != "secret":
                await ws.close(4003, "forbidden")
                return
            await ws.accept()
            await ws.send_text("welcome")

    client = client_factory(Root())
    closed = refusal(client, "/private")
    assert (closed.code, closed.reason) == (4003, "forbidden")
    with client.websocket_connect("/private?token=secret") as ws:
        assert ws.receive_text() == "welcome"


def test_subprotocol_and_request_are_available(client_factory):
    class Root(App):
        async def ws_info(self, ws):
            await ws.accept(subprotocol=ws.subprotocols[-1])
            request = self.request
            assert isinstance(request, WebSocketRequest)
            assert ws.request is request
            await ws.send_json(
                {
                    "offered": ws.subprotocols,
                    "q": request.query("q"),
                    "header": request.headers.get("x-probe"),
                    "path": request.scope["path"],
                }
            )

    client = client_factory(Root())
    headers = {"x-probe": "yes"}
    with client.websocket_connect("/info?q=1", subprotocols=["v1", "v2"], headers=headers) as ws:
        assert ws.accepted_subprotocol == "v2"
        assert ws.receive_json() == {
            "offered": ["v1", "v2"],
            "q": "1",
            "header": "yes",
            "path": "/info",
        }


def test_sync_handler_runs_in_the_threadpool(client_factory):
    import anyio.from_thread

    class Root(App):
        def ws_sync(self, ws):
            anyio.from_thread.run(ws.accept)
            anyio.from_thread.run(ws.send_text, threading.current_thread().name)

    with client_factory(Root()).websocket_connect("/sync") as ws:
        assert ws.receive_text() != threading.main_thread().name


# -- disconnects and errors -----------------------------------------------------------------


def test_peer_leaving_mid_conversation_raises_connection_closed(client_factory):
    seen: list[object] = []
    done = threading.Event()

    class Root(App):
        async def index(self):
            return "still here"

        async def ws_talk(self, ws):
            await ws.accept()
            try:
                while True:
                    await ws.send_text((await ws.receive_text()).upper())
            except ConnectionClosed as exc:
                seen.append(exc.code)
                seen.append(ws.closed)
            try:
                await ws.receive_text()
            except ConnectionClosed:
                seen.append("again")
            try:
                await ws.send_text("too late")
            except ConnectionClosed:
                seen.append("send")
            done.set()

    client = client_factory(Root())
    with client.websocket_connect("/talk") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "HI"
        ws.close(1001)
        assert done.wait(TIMEOUT)
    assert seen == [1001, True, "again", "send"]
    assert client.get("/").text == "still here"
    with client.websocket_connect("/talk") as ws:
        ws.send_text("new")
        assert ws.receive_text() == "NEW"


def test_server_closing_on_its_own_raises_connection_closed_in_the_sender(caplog):
    """uvicorn's wsproto closes a connection itself (a message over ``--ws-max-size``, a
    missed ping) and, until the socket is gone, refuses a send with ``RuntimeError``; seen
    in the attacker trial as a chat relay's 1011 and a traceback per client."""
    seen: list[object] = []

    class Root(App):
        async def ws_ticks(self, ws):
            await ws.accept()
            try:
                while True:
                    await ws.send_text("tick")
            except ConnectionClosed as exc:
                seen.append(exc.code)
            seen.append(ws.closed)

    sent: list[dict] = []

    async def receive() -> dict:
        if not sent:
            return {"type": "websocket.connect"}
        await asyncio.sleep(3600)  # the server's disconnect is still on its way
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        if len(sent) >= 2:  # accepted, one tick sent; then the server has closed
            raise RuntimeError(
                f"Unexpected ASGI message '{message['type']}', after sending 'websocket.close'."
            )
        sent.append(message)

    scope = {"type": "websocket", "path": "/ticks", "headers": [], "query_string": b""}
    with caplog.at_level(logging.ERROR):
        asyncio.run(asyncio.wait_for(Root()(scope, receive, send), TIMEOUT))
    assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send"]
    assert seen == [1006, True]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_handler_exception_closes_1011_and_logs(client_factory, caplog):
    class Root(App):
        async def index(self):
            return "still here"

        async def ws_boom(self, ws, when="after"):
            if when == "after":
                await ws.accept()
                await ws.receive_text()
            raise RuntimeError("kaboom")

    client = client_factory(Root())
    with caplog.at_level(logging.ERROR, logger="micropie"):
        with client.websocket_connect("/boom") as ws:
            ws.send_text("go")
            with pytest.raises(WebSocketDisconnect) as info:
                ws.receive_text()
        assert info.value.code == 1011
        assert refusal(client, "/boom?when=before").code == 1011
    records = [r for r in caplog.records if r.name == "micropie" and r.exc_info]
    assert len(records) == 2
    assert "kaboom" in str(records[0].exc_info[1])
    assert client.get("/").text == "still here"
    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/boom") as ws:
            ws.send_text("again")
            ws.receive_text()


def test_receiving_before_accept_is_a_programming_error(client_factory, caplog):
    class Root(App):
        async def ws_early(self, ws):
            await ws.receive_text()

    with caplog.at_level(logging.ERROR, logger="micropie"):
        assert refusal(client_factory(Root()), "/early").code == 1011
    assert "accept()" in caplog.text


# -- middleware and explicit routing ----------------------------------------------------------


def test_middleware_routes_to_a_private_handler(client_factory):
    class Router(WebSocketMiddleware):
        async def before_websocket(self, request):
            if request.scope["path"].startswith("/hidden/"):
                request._ws_route_handler = "_hidden"
                request.path_params = request.scope["path"].split("/")[2:]
            elif request.scope["path"] == "/alias":
                request._ws_route_handler = "echo"
            return None

    class Root(App):
        async def ws_echo(self, ws):
            await ws.accept()
            await ws.send_text("echo")

        async def _hidden(self, ws, item):
            await ws.accept()
            await ws.send_text(f"hidden {item}")

    app = Root()
    app.ws_middlewares.append(Router())
    client = client_factory(app)
    with client.websocket_connect("/hidden/42") as ws:
        assert ws.receive_text() == "hidden 42"
    with client.websocket_connect("/alias") as ws:
        assert ws.receive_text() == "echo"
    assert refusal(client, "/_hidden/42").reason == NO_ROUTE_REASON


# -- sessions ------------------------------------------------------------------------------


class SessionApp(App):
    async def login(self, name):
        self.session["name"] = name
        return "ok"

    async def whoami(self):
        return self.session.get("name", "nobody") + " " + str(self.session.get("messages", 0))

    async def ws_count(self, ws):
        await ws.accept()
        await ws.send_text(self.session.get("name", "nobody"))
        self.session["messages"] = self.session.get("messages", 0) + 1

    async def ws_start(self, ws, name):
        self.session["name"] = name  # before accept: the cookie goes with the handshake
        await ws.accept()
        await ws.send_text("started")

    async def ws_later(self, ws, name):
        await ws.accept(session_id=str(uuid.uuid4()))
        self.session["name"] = name
        await ws.send_text("later")


def finish(ws) -> None:
    """Wait for the server to end the connection (the session is saved by then)."""
    with pytest.raises(WebSocketDisconnect):
        ws.receive_text()


def test_session_is_loaded_and_changes_saved_when_handler_ends(client_factory):
    client = client_factory(SessionApp())
    client.get("/login", params={"name": "ann"})
    for expected in (1, 2):
        with client.websocket_connect("/count") as ws:
            assert ws.receive_text() == "ann"
            finish(ws)
        assert client.get("/whoami").text == f"ann {expected}"


def session_cookie(ws) -> str:
    headers = dict(ws.extra_headers or [])
    cookie = headers[b"set-cookie"].decode()
    assert "HttpOnly" in cookie
    return cookie.split(";")[0].split("=", 1)[1]


@pytest.mark.parametrize(
    ("path", "reply", "whoami"),
    [
        ("/start?name=bob", "started", "bob 0"),  # session written before accept()
        ("/later?name=cy", "later", "cy 0"),  # accept(session_id=...), written after
    ],
)
def test_new_session_cookie_goes_with_the_handshake(client_factory, path, reply, whoami):
    client = client_factory(SessionApp())
    with client.websocket_connect(path) as ws:
        session_id = session_cookie(ws)
        assert ws.receive_text() == reply
        finish(ws)
    assert client.get("/whoami", headers={"cookie": f"session_id={session_id}"}).text == whoami


def test_session_started_after_accept_is_not_saved(client_factory, caplog):
    class Root(App):
        async def ws_late(self, ws):
            await ws.accept()
            self.session["x"] = 1
            await ws.send_text("set")

    with caplog.at_level(logging.WARNING, logger="micropie"):
        with client_factory(Root()).websocket_connect("/late") as ws:
            assert ws.extra_headers == []
            assert ws.receive_text() == "set"
            finish(ws)
    assert "accept(session_id=" in caplog.text


def test_accept_rejects_a_malformed_session_id(client_factory):
    class Root(App):
        async def ws_bad(self, ws):
            await ws.accept(session_id="not-a-uuid")

    assert refusal(client_factory(Root()), "/bad").code == 1011


# -- origins -------------------------------------------------------------------------------


def test_websocket_origins_refuse_unlisted_origins_with_403(client_factory):
    app = EchoApp(websocket_origins=["https://chat.example", "http://localhost:8000/"])
    client = client_factory(app)
    for origin in ("https://chat.example", "http://localhost:8000"):
        with client.websocket_connect("/echo", headers={"origin": origin}) as ws:
            ws.send_text("in")
            assert ws.receive_text() == "in"
    for headers in ({"origin": "https://evil.example"}, {}):
        with pytest.raises(WebSocketDenialResponse) as info:
            with client.websocket_connect("/echo", headers=headers):
                pass
        assert info.value.status_code == 403
        assert "origin" in info.value.text
    assert client.get("/", headers={"origin": "https://evil.example"}).text == "http ok"


def test_without_websocket_origins_any_origin_connects(client_factory):
    client = client_factory(EchoApp())
    with client.websocket_connect("/", headers={"origin": "https://anywhere.example"}) as ws:
        assert ws.receive_text() == "index"


# -- a real server -------------------------------------------------------------------------


@pytest.mark.server
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_real_uvicorn_exchanges_1000_messages(uvicorn_server):
    from websockets.exceptions import ConnectionClosedError, InvalidStatus
    from websockets.sync.client import connect

    server = uvicorn_server("tests.apps.ws_echo:app")
    url = server.url.replace("http://", "ws://")
    with connect(url + "/echo?prefix=n", origin="http://allowed.example") as ws:
        started = time.perf_counter()
        for i in range(1000):
            ws.send(f"m{i}")
            assert ws.recv(timeout=TIMEOUT) == f"n:m{i}"
        elapsed = time.perf_counter() - started
        ws.send(b"\x01\x02")
        assert ws.recv(timeout=TIMEOUT) == b"\x01\x02"
    assert elapsed < 30
    with pytest.raises(InvalidStatus) as refused:
        connect(url + "/echo", origin="http://evil.example")
    assert refused.value.response.status_code == 403
    with connect(url + "/boom", origin="http://allowed.example") as ws:
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv(timeout=TIMEOUT)
    assert closed.value.rcvd.code == 1011
    assert "boom" in server.log()
    with connect(url + "/echo", origin="http://allowed.example") as ws:
        ws.send("after")
        assert ws.recv(timeout=TIMEOUT) == ":after"


def test_large_message_parse_turns_the_collector_off_only_while_it_runs():
    import gc

    from micropie.large_bodies import parse_collector_off

    seen: list[bool] = []
    frozen = gc.get_freeze_count()
    assert gc.isenabled()
    assert parse_collector_off(lambda: seen.append(gc.isenabled()) or 1) == 1
    assert seen == [False]
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen  # nothing frozen: the handler owns the message
