"""examples/routing through its ``app``."""

from __future__ import annotations

from typing import Any

import pytest

from examples.routing.app import app
from tests.conftest import ClientFactory


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/add/2/3", {"sum": 5}),
        ("/add?a=2&b=3", {"sum": 5}),
        ("/add/2?b=40", {"sum": 42}),
        ("/files/docs/guide/intro.md", {"path": "docs/guide/intro.md"}),
        ("/tags?tag=a&tag=b", {"tags": ["a", "b"]}),
        ("/tags", {"tags": []}),
        ("/search?q=pie&limit=5&debug=yes", {"q": "pie", "limit": 5, "filters": {"debug": "yes"}}),
        ("/search/pie", {"q": "pie", "limit": 10, "filters": {}}),
        ("/when/2024-05-01", {"weekday": "Wednesday", "ref": None}),
        ("/item/3", {"method": "GET", "item": 3}),
    ],
)
def test_routing_binds(client_factory: ClientFactory, path: str, expected: Any) -> None:
    response = client_factory(app).get(path)
    assert response.status_code == 200
    assert response.json() == expected


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/add/x/1", 400),
        ("/add/1", 400),
        ("/add/1/2/3", 404),
        ("/_secret", 404),
        ("/helper", 404),
        ("/add/" + "9" * 4300 + "/1", 400),  # the sum has 4,301 digits: it was a 500
        ("/add/1/-" + "9" * 19, 400),
    ],
)
def test_routing_errors(client_factory: ClientFactory, path: str, status: int) -> None:
    assert client_factory(app).get(path).status_code == status


def test_routing_methods(client_factory: ClientFactory) -> None:
    client = client_factory(app)
    assert client.delete("/item/7").json() == {"method": "DELETE", "item": 7}
    response = client.post("/item/7")
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD, PUT"


def test_routing_redirect(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/old_page", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/add/1/2"
