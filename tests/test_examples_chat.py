"""examples/chat: the page, and the room relaying messages through the broadcast hub."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import defaultdict

import pytest
from starlette.testclient import TestClient

from examples.chat.app import Chat
from tests.conftest import ClientFactory
from tests.support import RedisServer, spread_over_workers


def joined(name: str, yes: bool = True) -> dict[str, object]:
    return {"type": "presence", "name": name, "joined": yes}


def message(name: str, text: str) -> dict[str, str]:
    return {"type": "message", "name": name, "text": text}


def test_chat_page_has_stable_ids(client_factory: ClientFactory) -> None:
    response = client_factory(Chat()).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for element_id in ("name", "message", "send", "messages", "status", "presence"):
        assert f'id="{element_id}"' in response.text


def test_two_clients_see_each_others_messages() -> None:
    with TestClient(Chat()) as client:  # one event loop shared by both connections
        with client.websocket_connect("/chat?name=ann") as ann:
            assert ann.receive_json() == joined("ann")
            with client.websocket_connect("/chat?name=bob") as bob:
                assert bob.receive_json() == joined("bob")
                assert ann.receive_json() == joined("bob")
                ann.send_json({"name": "Ann", "text": "hi bob"})
                assert bob.receive_json() == message("Ann", "hi bob")
                assert ann.receive_json() == message("Ann", "hi bob")
                bob.send_text("hello ann")  # plain text uses the ?name= of the connection
                assert ann.receive_json() == message("bob", "hello ann")
                assert bob.receive_json() == message("bob", "hello ann")
                bob.close()
                assert ann.receive_json() == joined("bob", False)


DEEP_JSON = '{"a":' * 100_000 + "1" + "}" * 100_000  # deeper than json.loads can recurse


@pytest.mark.parametrize(
    "ignored",
    [
        "   ",
        "{not json",
        '{"name": "no text"}',
        '{"text": " "}',
        DEEP_JSON,
        '{"text": [1, 2]}',  # text and name must be strings
        '{"text": "hi", "name": {"a": 1}}',
        '{"text": "' + "x" * 70_000 + '"}',  # not parsed at all: over 64 KiB
    ],
    ids=["blank", "not-json", "no-text", "blank-text", "deep", "list", "dict-name", "huge"],
)
def test_empty_or_malformed_messages_are_ignored(ignored: str) -> None:
    with TestClient(Chat()) as client:
        with client.websocket_connect("/chat?name=ann") as ann:
            assert ann.receive_json() == joined("ann")
            ann.send_text(ignored)
            ann.send_bytes(b"binary")
            ann.send_json({"text": "x" * 3000, "name": " " * 5})
            assert ann.receive_json() == message("anonymous", "x" * 2000)


def test_a_flooding_client_is_throttled_and_told_once() -> None:
    """One client's messages all go to everyone: past the burst, and faster than the
    rate, they are dropped and the sender is told once (not once per message)."""
    from examples.chat import app as chat

    now = [0.0]

    class Frozen(Chat):
        _clock = staticmethod(lambda: now[0])

    with TestClient(Frozen()) as client:
        with client.websocket_connect("/chat?name=ann") as ann:
            assert ann.receive_json() == joined("ann")
            with client.websocket_connect("/chat?name=bob") as bob:
                assert bob.receive_json() == joined("bob")
                assert ann.receive_json() == joined("bob")
                for number in range(chat.MESSAGE_BURST + 5):
                    bob.send_text(f"m{number}")
                for number in range(chat.MESSAGE_BURST):
                    assert ann.receive_json() == message("bob", f"m{number}")
                events = [bob.receive_json() for _ in range(chat.MESSAGE_BURST + 1)]
                assert events.count({"type": "error", "text": chat.SLOW_DOWN}) == 1
                now[0] += 1.0  # the bucket refills at MESSAGE_RATE a second
                bob.send_text("again")
                assert ann.receive_json() == message("bob", "again")


@pytest.mark.redis
def test_messages_that_cannot_be_relayed_are_reported(redis_server: RedisServer) -> None:
    with TestClient(Chat(redis_server.url)) as client:
        with client.websocket_connect("/chat?name=ann") as ann:
            assert ann.receive_json() == joined("ann")
            redis_server.stop()
            ann.send_text("anyone?")
            event = ann.receive_json()
            assert event["type"] == "error"
            assert "Not delivered" in event["text"]


@pytest.mark.server
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_chat_over_uvicorn(uvicorn_server) -> None:
    from websockets.sync.client import connect

    server = uvicorn_server("examples.chat.app:app")
    url = server.url.replace("http://", "ws://") + "/chat"
    with connect(url + "?name=ann") as ann:
        assert json.loads(ann.recv(timeout=10)) == joined("ann")
        with connect(url + "?name=bob") as bob:
            assert json.loads(bob.recv(timeout=10)) == joined("bob")
            assert json.loads(ann.recv(timeout=10)) == joined("bob")
            ann.send(json.dumps({"text": "over the wire"}))
            assert json.loads(bob.recv(timeout=10)) == message("ann", "over the wire")


# -- two workers, one room through Redis -----------------------------------------------------

CLIENTS, MESSAGES_EACH = 10, 6


@pytest.mark.server
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_one_room_across_two_workers(uvicorn_server, redis_url) -> None:
    from websockets.sync.client import ClientConnection, connect

    server = uvicorn_server("examples.chat.app:app", workers=2, env={"REDIS_URL": redis_url})
    url = server.url.replace("http://", "ws://") + "/chat"
    with contextlib.ExitStack() as stack:

        def open_client() -> tuple[tuple[str, ClientConnection], int]:
            name = f"c{next(numbers)}"
            ws = stack.enter_context(connect(f"{url}?name={name}"))
            assert _next_event(ws, lambda event: event["type"] == "presence") == joined(name)
            return (name, ws), ws.socket.getsockname()[1]

        numbers = itertools.count()
        clients = dict(spread_over_workers(server, open_client, CLIENTS))

        for number in range(MESSAGES_EACH):
            for name, ws in clients.items():
                ws.send(json.dumps({"text": f"{name} says {number}"}))

        expected = {name: [f"{name} says {n}" for n in range(MESSAGES_EACH)] for name in clients}
        for ws in clients.values():
            received: dict[str, list[str]] = defaultdict(list)
            for _ in range(len(clients) * MESSAGES_EACH):
                event = _next_event(ws, lambda event: event["type"] == "message")
                received[event["name"]].append(event["text"])
            assert received == expected  # every message, in order per sender


def _next_event(ws, wanted) -> dict:
    """The next event ``wanted`` accepts, skipping others (presence of later clients)."""
    while True:
        event = json.loads(ws.recv(timeout=30))
        if wanted(event):
            return event
