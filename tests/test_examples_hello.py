"""examples/hello through its ``app``."""

from __future__ import annotations

import pytest

from examples.hello.app import app
from tests.conftest import ClientFactory


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("/", "Hello, world!"),
        ("/index", "Hello, world!"),
        ("/greet", "Hello, Guest!"),
        ("/greet/Alice", "Hello, Alice!"),
        ("/greet?name=Bob", "Hello, Bob!"),
        ("/sync_hello", "Hello from a thread!"),
    ],
)
def test_hello_pages(client_factory: ClientFactory, path: str, text: str) -> None:
    response = client_factory(app).get(path)
    assert response.status_code == 200
    assert response.text == text


def test_hello_unknown_path_is_404(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/nope")
    assert response.status_code == 404
    assert response.text == "404 Not Found"
