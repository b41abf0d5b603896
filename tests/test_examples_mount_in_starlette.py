"""examples/mount_in_starlette through its Starlette ``app``."""

from __future__ import annotations

from examples.mount_in_starlette.app import app
from tests.conftest import ClientFactory


def test_mount_starlette_route(client_factory: ClientFactory) -> None:
    assert "A Starlette app" in client_factory(app).get("/").text


def test_mount_routes_below_prefix(client_factory: ClientFactory) -> None:
    client = client_factory(app)
    assert 'href="/shop/item/2"' in client.get("/shop/").text
    assert "Cherry pie" in client.get("/shop/item/2").text
    assert client.get("/shop/item/9").status_code == 404
    assert client.get("/shop/nope").status_code == 404
    assert client.get("/item/2").status_code == 404


def test_mount_session_and_redirect(client_factory: ClientFactory) -> None:
    client = client_factory(app)
    response = client.post("/shop/buy/3", follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "/shop/cart"
    assert client.get("/shop/cart").json() == {"cart": ["Pumpkin pie"], "mounted_at": "/shop"}
    assert client.get("/shop/buy/3").status_code == 405
