"""SPEC §7: ``after_request`` hooks see every response, error pages included.

A security-header, request-id or access-log hook that only saw successful answers
would leave 404, 400, 405, 408, 413, 500 and 503 pages (the ones scanners look at)
uncovered, also those refused before any ``before_request`` hook ran.
"""

from __future__ import annotations

import logging
import uuid

import pytest
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse

from micropie import App, HttpMiddleware, SessionBackend, methods
from micropie.sessions import SESSION_COOKIE


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

    async def cart(self):
        return str(self.session.get("items", 0))


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


class Stamp(HttpMiddleware):
    """Reads what ``before_request`` set the way the docs say: it may be absent."""

    seen: list[tuple[int, str | None]] = []

    async def before_request(self, request):
        request.request_id = "rid-1"
        return None

    async def after_request(self, request, status_code, response_body, extra_headers):
        self.seen.append((status_code, getattr(request, "request_id", None)))
        return {"headers": [*extra_headers, ("X-Frame-Options", "DENY")]}


@pytest.mark.parametrize(
    ("kwargs", "status", "body"),
    [
        ({"content": b"x" * 1000}, 413, "413 Payload Too Large"),
        (
            {"content": b"{", "headers": {"content-type": "application/json"}},
            400,
            "400 Bad Request: Bad JSON",
        ),
    ],
)
def test_body_refused_before_before_request_still_goes_through_after_request(
    client_factory, caplog, kwargs, status, body
):
    Stamp.seen.clear()
    app = Shop(max_body_size=100)
    app.middlewares.append(Stamp())
    with caplog.at_level(logging.ERROR, logger="micropie"):
        response = client_factory(app, raise_server_exceptions=False).post("/buy", **kwargs)
    assert (response.status_code, response.text) == (status, body)
    assert response.headers["x-frame-options"] == "DENY"
    assert Stamp.seen == [(status, None)]  # once, without what before_request sets
    assert caplog.text == ""


def test_slow_body_408_goes_through_after_request():
    from tests.security.raw import call, stalling_receive

    Stamp.seen.clear()
    app = Shop(body_timeout=0.2)
    app.middlewares.append(Stamp())
    answer = call(
        app,
        b"/buy",
        method="POST",
        headers=[(b"content-type", b"application/json"), (b"content-length", b"100")],
        receive=stalling_receive(b'{"item'),
        timeout=10,
    )
    assert answer.status == 408
    assert answer.header("x-frame-options") == "DENY"
    assert Stamp.seen == [(408, None)]


class StoreDown(SessionBackend):
    """A session store whose every call fails, as a backend that lost its server does."""

    async def load(self, session_id):
        raise ConnectionError("store unreachable")

    async def save(self, session_id, data, timeout):
        raise ConnectionError("store unreachable")


def test_session_store_down_503_goes_through_after_request(client_factory, caplog):
    Stamp.seen.clear()
    app = Shop(StoreDown())
    app.middlewares.append(Stamp())
    client = client_factory(app, raise_server_exceptions=False)
    client.cookies.set(SESSION_COOKIE, str(uuid.uuid4()))
    with caplog.at_level(logging.ERROR, logger="micropie"):
        assert client.get("/item/3").status_code == 200  # never uses the session
        response = client.get("/cart")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.headers["x-frame-options"] == "DENY"
    assert Stamp.seen == [(200, "rid-1"), (503, "rid-1")]
    assert "Traceback" not in caplog.text and "after_request hook raised" not in caplog.text


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
