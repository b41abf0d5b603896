"""SPEC §3: CR or LF in a response header is dropped, never sent (response splitting)."""

from __future__ import annotations

import logging

import pytest
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse

from micropie import App, HttpMiddleware

INJECTIONS = [
    "a\r\nSet-Cookie: pwned=1",
    "a\nSet-Cookie: pwned=1",
    "a\rSet-Cookie: pwned=1",
    "\r\n\r\n<script>alert(1)</script>",
]


def assert_not_injected(response):
    assert "pwned" not in response.headers.get("set-cookie", "")
    for name, value in response.headers.items():
        assert "\r" not in name + value and "\n" not in name + value


class Echo(App):
    async def hello(self):
        return "hello"

    async def header(self, value):
        return 200, "ok", [("X-Echo", value), ("X-Safe", "yes")]

    async def header_name(self, value):
        return 200, "ok", {f"X-{value}": "v", "X-Safe": "yes"}

    async def go(self, to):
        return self._redirect(to)


@pytest.mark.parametrize("value", INJECTIONS)
def test_crlf_in_header_value_is_dropped(client_factory, caplog, value):
    client = client_factory(Echo())
    with caplog.at_level(logging.WARNING, logger="micropie"):
        response = client.get("/header", params={"value": value})
    assert (response.status_code, response.text) == (200, "ok")
    assert "x-echo" not in response.headers
    assert response.headers["x-safe"] == "yes"
    assert_not_injected(response)
    assert "CR or LF" in caplog.text
    assert client.get("/hello").text == "hello"


@pytest.mark.parametrize("value", INJECTIONS)
def test_crlf_in_header_name_is_dropped(client_factory, value):
    client = client_factory(Echo())
    response = client.get("/header_name", params={"value": value})
    assert (response.status_code, response.text) == (200, "ok")
    assert response.headers["x-safe"] == "yes"
    assert_not_injected(response)
    assert client.get("/hello").text == "hello"


@pytest.mark.parametrize("target", [f"/next{v}" for v in INJECTIONS])
def test_crlf_in_redirect_path_is_percent_encoded(client_factory, target):
    client = client_factory(Echo(), follow_redirects=False)
    response = client.get("/go", params={"to": target})
    assert response.status_code == 302
    assert response.headers["location"].startswith("/next")
    assert "%0A" in response.headers["location"] or "%0D" in response.headers["location"]
    assert_not_injected(response)
    assert client.get("/hello").text == "hello"


@pytest.mark.parametrize("target", [f"/next?q={v}" for v in INJECTIONS])
def test_crlf_in_redirect_query_never_reaches_the_wire(client_factory, target):
    client = client_factory(Echo(), follow_redirects=False)
    response = client.get("/go", params={"to": target})
    assert response.status_code == 302
    assert_not_injected(response)
    assert client.get("/hello").text == "hello"


def test_crlf_from_after_request_hook_is_dropped(client_factory):
    class Tag(HttpMiddleware):
        async def before_request(self, request):
            return None

        async def after_request(self, request, status_code, response_body, extra_headers):
            tag = request.query("tag", "")
            return {"headers": [*extra_headers, ("X-Tag", tag)]}

    app = Echo()
    app.middlewares.append(Tag())
    client = client_factory(app)
    response = client.get("/hello", params={"tag": INJECTIONS[0]})
    assert (response.status_code, response.text) == (200, "hello")
    assert "x-tag" not in response.headers
    assert_not_injected(response)
    assert client.get("/hello", params={"tag": "fine"}).headers["x-tag"] == "fine"


def test_crlf_in_before_request_answer_is_dropped(client_factory):
    class Deny(HttpMiddleware):
        async def before_request(self, request):
            return {"status_code": 403, "body": "no", "headers": {"X-Why": request.query("why")}}

        async def after_request(self, request, status_code, response_body, extra_headers):
            return None

    app = Echo()
    app.middlewares.append(Deny())
    response = client_factory(app).get("/hello", params={"why": INJECTIONS[0]})
    assert (response.status_code, response.text) == (403, "no")
    assert "x-why" not in response.headers
    assert_not_injected(response)


class Raw(App):
    async def hello(self):
        return "hello"

    async def response(self, value):
        return PlainTextResponse("ok", headers={"X-Echo": value, "X-Safe": "yes"})

    async def error(self, value):
        raise HTTPException(400, "400 Bad Request: no", headers={"X-Echo": value, "X-Safe": "yes"})

    async def streamed(self, value):
        return 200, iter(["ok"]), [("X-Echo", value), ("X-Safe", "yes")]


@pytest.mark.parametrize(
    "handler",
    [
        "response",
        "error",
        "streamed",
    ],
)
def test_crlf_in_headers_of_responses_and_errors_is_dropped(client_factory, handler):
    client = client_factory(Raw())
    response = client.get(f"/{handler}", params={"value": INJECTIONS[0]})
    assert response.headers["x-safe"] == "yes"
    assert "x-echo" not in response.headers
    assert_not_injected(response)
    assert client.get("/hello").text == "hello"
