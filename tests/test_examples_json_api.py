"""examples/json_api: a typed API (models in and out, JSON errors, OpenAPI)."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from examples.json_api.app import TodoAPI, app
from tests.conftest import ClientFactory


@pytest.fixture
def client(client_factory: ClientFactory) -> TestClient:
    return client_factory(TodoAPI())


def test_json_api_module_app_answers(client_factory: ClientFactory) -> None:
    assert client_factory(app).get("/").json()["docs"] == "/docs"


def test_add_answers_201_with_the_new_todo(client: TestClient) -> None:
    response = client.post("/add", json={"title": "Buy flour", "priority": 2})
    assert response.status_code == 201
    assert response.json() == {"id": 1, "title": "Buy flour", "done": False, "priority": 2}
    assert client.get("/todos").json() == [response.json()]
    assert client.get("/todo/1").json() == response.json()


def test_add_takes_the_model_under_its_name_too(client: TestClient) -> None:
    response = client.post("/add", json={"todo": {"title": "Bake"}})
    assert response.json() == {"id": 1, "title": "Bake", "done": False, "priority": 1}


def test_edit_filter_and_remove(client: TestClient) -> None:
    client.post("/add", json={"title": "Bake"})
    client.post("/add", json={"title": "Sweep"})
    edited = client.patch("/edit/1", json={"done": True})
    assert edited.json() == {"id": 1, "title": "Bake", "done": True, "priority": 1}
    assert [t["id"] for t in client.get("/todos?done=true").json()] == [1]
    assert [t["id"] for t in client.get("/todos?done=false").json()] == [2]
    response = client.delete("/remove/1")
    assert (response.status_code, response.content) == (204, b"")
    assert client.get("/todo/1").json() == {"detail": "No to-do with id 1"}


@pytest.mark.parametrize(
    ("body", "loc", "kind"),
    [
        ({"priority": 1}, ["body", "title"], "missing"),
        ({"title": ""}, ["body", "title"], "string_too_short"),
        ({"title": "x", "priority": 9}, ["body", "priority"], "less_than_equal"),
        ({"title": "x", "priority": "high"}, ["body", "priority"], "int_parsing"),
        ([1, 2], ["body"], "model_type"),
    ],
)
def test_invalid_input_answers_422_with_the_errors(client: TestClient, body, loc, kind) -> None:
    response = client.post("/add", json=body)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, kind)
    assert client.get("/todos").json() == []


@pytest.mark.parametrize(
    ("call", "status", "detail"),
    [
        (lambda c: c.get("/todo/7"), 404, "No to-do with id 7"),
        (lambda c: c.get("/todo/seven"), 400, "Invalid value for parameter 'todo_id'"),
        (lambda c: c.get("/nowhere"), 404, "Not Found"),
        (lambda c: c.put("/add"), 405, "Method Not Allowed"),
        (
            lambda c: c.post("/add", content=b"{", headers={"content-type": "application/json"}),
            400,
            "Bad JSON",
        ),
    ],
)
def test_errors_are_json(client: TestClient, call, status, detail) -> None:
    response = call(client)
    assert (response.status_code, response.json()) == (status, {"detail": detail})


def test_openapi_document_describes_the_api(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "To-do API", "version": "1.0.0"}
    assert set(document["paths"]) == {
        "/",
        "/todos",
        "/add",
        "/todo/{todo_id}",
        "/edit/{todo_id}",
        "/remove/{todo_id}",
    }
    add = document["paths"]["/add"]["post"]
    assert add["summary"] == "Add a to-do; it starts not done."
    assert set(add["responses"]) == {"201", "400", "413", "422"}
    assert set(document["paths"]["/remove/{todo_id}"]["delete"]["responses"]) == {
        "204",
        "400",
        "404",
    }
    assert {"NewTodo", "TodoChanges", "Todo"} <= set(document["components"]["schemas"])


def test_docs_page_shows_the_document(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.headers["content-type"].startswith("text/html")
    assert '"url": "/openapi.json"' in response.text
    assert "swagger-ui" in response.text
