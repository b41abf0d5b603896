"""SPEC §2: a client key named like a handler's own ``self`` (or websocket) never binds.

``**kwargs`` collects the query, form and JSON keys no named parameter takes. A key
spelling the name the handler's function already receives (``self``, ``cls``, a ``ws_``
handler's websocket parameter) would collide with it (``TypeError: got multiple
values``); such keys are simply left out.
"""

from __future__ import annotations

import pytest

from micropie import App

ATTACK_KEYS = {"self": "x", "cls": "y", "ws": "z", "socket": "w", "other": "kept"}


class Catchall(App):
    async def echo(self, **kwargs):
        return kwargs

    def sync_echo(self, *args, **kwargs):
        return {"args": list(args), "kwargs": kwargs}

    @classmethod
    async def by_class(cls, **kwargs):
        return kwargs

    async def named(self, a, **kwargs):
        return {"a": a, "kwargs": kwargs}

    async def ws_echo(self, ws, **kwargs):
        await ws.accept()
        await ws.send_json(kwargs)

    async def ws_other(self, socket, *args, **kwargs):
        await socket.accept()
        await socket.send_json({"args": list(args), "kwargs": kwargs})


def without(*names):
    return {k: v for k, v in ATTACK_KEYS.items() if k not in names}


def assert_still_serves(client):
    assert client.get("/echo?a=1").json() == {"a": "1"}


@pytest.fixture
def client(client_factory):
    return client_factory(Catchall())


@pytest.mark.parametrize("source", ["query", "form", "json"])
def test_self_key_does_not_bind_to_kwargs(client, source):
    if source == "query":
        response = client.get("/echo", params=ATTACK_KEYS)
    elif source == "form":
        response = client.post("/echo", data=ATTACK_KEYS)
    else:
        response = client.post("/echo", json=ATTACK_KEYS)
    assert response.status_code == 200
    assert response.json() == without("self")
    assert_still_serves(client)


def test_args_and_kwargs_handler_in_threadpool(client):
    response = client.post("/sync_echo/p/q?self=1", json={"self": 2, "b": 3})
    assert response.status_code == 200
    assert response.json() == {"args": ["p", "q"], "kwargs": {"b": 3}}
    assert_still_serves(client)


def test_classmethod_cls_key_does_not_bind(client):
    response = client.get("/by_class", params=ATTACK_KEYS)
    assert response.status_code == 200
    assert response.json() == without("cls")
    assert_still_serves(client)


def test_named_parameter_still_binds_beside_self_key(client):
    response = client.get("/named?a=1&self=2&b=3")
    assert response.json() == {"a": "1", "kwargs": {"b": "3"}}


@pytest.mark.parametrize(
    ("path", "dropped"),
    [("/echo", ("self", "ws")), ("/other/p", ("self", "socket"))],
)
def test_websocket_parameter_key_does_not_bind(client, path, dropped):
    query = "&".join(f"{k}={v}" for k, v in ATTACK_KEYS.items())
    with client.websocket_connect(f"{path}?{query}") as ws:
        received = ws.receive_json()
    kwargs = received if path == "/echo" else received["kwargs"]
    assert kwargs == without(*dropped)
    assert_still_serves(client)
