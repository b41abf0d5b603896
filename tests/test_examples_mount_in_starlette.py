"""examples/mount_in_starlette through its Starlette ``app``."""

from __future__ import annotations

from examples.mount_in_starlette.app import MAX_CART, app
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


def test_buying_an_unknown_pie_stores_nothing(client_factory: ClientFactory) -> None:
    """An id the shop does not sell was kept in the session and the cart answered 500
    from then on, for that visitor."""
    client = client_factory(app)
    client.post("/shop/buy/1")
    for item in ("999", "-1", "0"):
        response = client.post(f"/shop/buy/{item}", follow_redirects=False)
        assert (response.status_code, response.text) == (404, "No such pie")
    assert client.get("/shop/cart").json()["cart"] == ["Apple pie"]


def test_the_cart_is_bounded(client_factory: ClientFactory) -> None:
    client = client_factory(app)
    for _ in range(MAX_CART):
        assert client.post("/shop/buy/2", follow_redirects=False).status_code == 302
    response = client.post("/shop/buy/2", follow_redirects=False)
    assert response.status_code == 409
    assert client.get("/shop/cart").json()["cart"] == ["Cherry pie"] * MAX_CART
