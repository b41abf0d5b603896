"""SPEC §7: ``after_request`` hooks see every response, error pages included.

A security-header, request-id or access-log hook that only saw successful answers
would leave 404, 400, 405, 413 and 500 pages (the ones scanners look at) uncovered.
"""

from __future__ import annotations

import logging

import pytest
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse

from micropie import App, HttpMiddleware, methods


class OutOfStock(Exception):
    pass


class Shop(App):
    async def item(self, item_id: int):
        return f"item {item_id}"

    @methods("POST")
    async def buy(self):
        return "bought"

    async def gone(self):
        raise HTTPException(410, "410 Gone", headers={"X-Reason": "sold"})

    async def boom(self):
        raise RuntimeError("broken")

    async def empty(self):
        raise OutOfStock("none left")

    async def denied(self):
        return "never"


class SecurityHeaders(HttpMiddleware):
    """Stamps every answer and logs its status."""

    seen: list[int] = []

    async def before_request(self, request):
        if request.url.path == "/denied":
            raise HTTPException(401, "401 Unauthorized")
        return None

    async def after_request(self, request, status_code, response_body, extra_headers):
        self.seen.append(status_code)
        return {"headers": [*extra_headers, ("X-Frame-Options", "DENY")]}


async def out_of_stock(request, exc):
    return PlainTextResponse("sold out", status_code=409)


@pytest.fixture
def client(client_factory):
    SecurityHeaders.seen.clear()
    app = Shop(exception_handlers={OutOfStock: out_of_stock}, max_body_size=100)
    app.middlewares.append(SecurityHeaders())
    return client_factory(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "body"),
    [
        ("GET", "/item/3", {}, 200, "item 3"),
        ("GET", "/nowhere", {}, 404, "404 Not Found"),
        ("GET", "/item/3/extra", {}, 404, "404 Not Found"),
        ("GET", "/item/x", {}, 400, "400 Bad Request: Invalid value for parameter 'item_id'"),
        ("GET", "/buy", {}, 405, "405 Method Not Allowed"),
        ("GET", "/gone", {}, 410, "410 Gone"),
        ("GET", "/boom", {}, 500, "500 Internal Server Error"),
        ("GET", "/empty", {}, 409, "sold out"),
        ("GET", "/denied", {}, 401, "401 Unauthorized"),
    ],
)
def test_after_request_hook_stamps_every_answer(client, method, path, kwargs, status, body):
    response = client.request(method, path, **kwargs)
    assert (response.status_code, response.text) == (status, body)
    assert response.headers["x-frame-options"] == "DENY"
    assert SecurityHeaders.seen == [status]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"content": b"x" * 1000}, 413),
        ({"content": b"{", "headers": {"content-type": "application/json"}}, 400),
    ],
)
def test_body_refused_before_the_hooks_skips_both(client, kwargs, status):
    response = client.post("/buy", **kwargs)
    assert response.status_code == status
    assert "x-frame-options" not in response.headers
    assert SecurityHeaders.seen == []


def test_error_answer_keeps_its_own_headers(client):
    assert client.get("/buy").headers["allow"] == "POST"
    assert client.get("/gone").headers["x-reason"] == "sold"


def test_hook_may_replace_an_error_page(client_factory):
    class NotFoundPage(HttpMiddleware):
        async def after_request(self, request, status_code, response_body, extra_headers):
            if status_code == 404:
                return {"body": "<h1>Nothing here</h1>"}
            return None

    app = Shop()
    app.middlewares.append(NotFoundPage())
    response = client_factory(app).get("/nowhere")
    assert (response.status_code, response.text) == (404, "<h1>Nothing here</h1>")


def test_500_handler_answer_goes_through_hooks_once_and_is_logged(client_factory, caplog):
    calls = []

    async def on_500(request, exc):
        calls.append(type(exc).__name__)
        return PlainTextResponse("sorry", status_code=500)

    app = Shop(exception_handlers={500: on_500})
    app.middlewares.append(SecurityHeaders())
    SecurityHeaders.seen.clear()
    with caplog.at_level(logging.ERROR, logger="micropie"):
        response = client_factory(app, raise_server_exceptions=False).get("/boom")
    assert (response.status_code, response.text) == (500, "sorry")
    assert response.headers["x-frame-options"] == "DENY"
    assert calls == ["RuntimeError"] and SecurityHeaders.seen == [500]
    assert "RuntimeError: broken" in caplog.text


def test_hook_failing_on_an_error_answer_still_sends_it(client_factory, caplog):
    class Broken(HttpMiddleware):
        async def after_request(self, request, status_code, response_body, extra_headers):
            raise KeyError("hook bug")

    app = Shop()
    app.middlewares.append(Broken())
    client = client_factory(app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="micropie"):
        response = client.get("/nowhere")
    assert (response.status_code, response.text) == (404, "404 Not Found")
    assert "after_request hook raised" in caplog.text


def test_hook_on_an_error_answer_reaches_the_current_request(client_factory):
    from micropie import current_request

    class Tag(HttpMiddleware):
        async def after_request(self, request, status_code, response_body, extra_headers):
            return {"headers": [("X-Path", current_request.get().url.path)]}

    app = Shop()
    app.middlewares.append(Tag())
    assert client_factory(app).get("/nowhere").headers["x-path"] == "/nowhere"
