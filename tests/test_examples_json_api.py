"""examples/json_api through its ``app`` (a fresh ``TodoAPI`` per test)."""

from __future__ import annotations

from starlette.testclient import TestClient

from examples.json_api.app import TodoAPI, app
from tests.conftest import ClientFactory


def _client(client_factory: ClientFactory) -> TestClient:
    return client_factory(TodoAPI())


def test_json_api_module_app_answers(client_factory: ClientFactory) -> None:
    assert client_factory(app).get("/").json() == {"endpoints": ["/todos", "/todos/<id>"]}


def test_json_api_create_keeps_json_types(client_factory: ClientFactory) -> None:
    client = _client(client_factory)
    response = client.post("/todos", json={"title": "Buy flour", "priority": 2})
    assert response.status_code == 201
    assert response.json() == {"id": 1, "title": "Buy flour", "priority": 2, "done": False}
    assert client.get("/todos").json() == [response.json()]


def test_json_api_update_and_delete(client_factory: ClientFactory) -> None:
    client = _client(client_factory)
    client.post("/todos", json={"title": "Bake"})
    assert client.patch("/todos/1", json={"done": True}).json()["done"] is True
    response = client.delete("/todos/1")
    assert response.status_code == 204
    assert response.content == b""
    assert client.get("/todos/1").status_code == 404


def test_json_api_validation(client_factory: ClientFactory) -> None:
    client = _client(client_factory)
    assert client.post("/todos", json={"priority": 1}).status_code == 422
    assert client.post("/todos", json={"title": "x", "colour": "red"}).status_code == 422
    assert client.post("/todos", json={"title": "x", "priority": "high"}).status_code == 422
    bad = client.post("/todos", content=b"{oops", headers={"content-type": "application/json"})
    assert (bad.status_code, bad.text) == (400, "400 Bad Request: Bad JSON")


def test_json_api_method_not_allowed(client_factory: ClientFactory) -> None:
    client = _client(client_factory)
    assert client.put("/todos").status_code == 405
    client.post("/todos", json={"title": "Bake"})
    response = client.post("/todos/1")
    assert response.status_code == 405
    assert "PATCH" in response.headers["allow"]
