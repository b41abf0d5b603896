"""examples/wsgi through its ASGI ``app`` (tests/test_wsgi.py runs it under WSGI)."""

from __future__ import annotations

from examples.wsgi.app import app, wsgi_app
from tests.conftest import ClientFactory


def test_wsgi_example_asgi_side(client_factory: ClientFactory) -> None:
    client = client_factory(app)
    assert client.get("/").text == "Hello from micropie, served over WSGI!"
    assert client.get("/countdown?start=1").text == "1\nlift-off\n"


def test_wsgi_example_exposes_wsgi_callable() -> None:
    assert wsgi_app is app.wsgi_app
    assert callable(wsgi_app)
