"""examples/chat: the page and the room relaying messages between websockets."""

from __future__ import annotations

import json

import pytest
from starlette.testclient import TestClient

from examples.chat.app import Chat
from tests.conftest import ClientFactory

PRESENCE_1 = {"type": "presence", "online": 1}
PRESENCE_2 = {"type": "presence", "online": 2}


def message(name: str, text: str) -> dict[str, str]:
    return {"type": "message", "name": name, "text": text}


def test_chat_page_has_stable_ids(client_factory: ClientFactory) -> None:
    response = client_factory(Chat()).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    for element_id in ("name", "message", "send", "messages", "status", "online"):
        assert f'id="{element_id}"' in response.text


def test_two_clients_see_each_others_messages() -> None:
    with TestClient(Chat()) as client:  # one event loop shared by both connections
        with client.websocket_connect("/chat?name=ann") as ann:
            assert ann.receive_json() == PRESENCE_1
            with client.websocket_connect("/chat?name=bob") as bob:
                assert bob.receive_json() == PRESENCE_2
                assert ann.receive_json() == PRESENCE_2
                ann.send_json({"name": "Ann", "text": "hi bob"})
                assert bob.receive_json() == message("Ann", "hi bob")
                assert ann.receive_json() == message("Ann", "hi bob")
                bob.send_text("hello ann")  # plain text uses the ?name= of the connection
                assert ann.receive_json() == message("bob", "hello ann")
                assert bob.receive_json() == message("bob", "hello ann")
                bob.close()
                assert ann.receive_json() == PRESENCE_1


@pytest.mark.parametrize("ignored", ["   ", "{not json", '{"name": "no text"}', '{"text": " "}'])
def test_empty_or_malformed_messages_are_ignored(ignored: str) -> None:
    with TestClient(Chat()) as client:
        with client.websocket_connect("/chat?name=ann") as ann:
            assert ann.receive_json() == PRESENCE_1
            ann.send_text(ignored)
            ann.send_bytes(b"binary")
            ann.send_json({"text": "x" * 3000, "name": " " * 5})
            assert ann.receive_json() == message("anonymous", "x" * 2000)


@pytest.mark.server
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_chat_over_uvicorn(uvicorn_server) -> None:
    from websockets.sync.client import connect

    server = uvicorn_server("examples.chat.app:app")
    url = server.url.replace("http://", "ws://") + "/chat"
    with connect(url + "?name=ann") as ann, connect(url + "?name=bob") as bob:
        assert json.loads(bob.recv(timeout=5)) == PRESENCE_2
        ann.send(json.dumps({"text": "over the wire"}))
        assert json.loads(bob.recv(timeout=5)) == message("ann", "over the wire")
