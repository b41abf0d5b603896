"""SPEC §3: a header value no server can send is dropped, and the response still goes out.

Client text reaching a response header (a handler's tuple, a hook, an ``HTTPException``,
a Starlette response, a redirect) may hold NUL, DEL, other control characters or text
beyond latin-1. uvicorn refuses such a header and answers nothing; micropie drops it
(logged) or, in a redirect, percent-encodes it. Tested through both of uvicorn's HTTP
implementations, since they accept different bytes.
"""

from __future__ import annotations

import logging

import httpx
import pytest

from tests.apps.headers_app import HeadersApp, app
from tests.support import run_uvicorn

pytestmark = pytest.mark.server

UNSENDABLE = ["a\x00b", "a\x7fb", "a\x01b", "a\x1b[31mb", "a\x0bb", "a☃b", "a\u2028b", "a\rb"]
ROUTES = [  # (path, query key, status, body)
    ("/header", "value", 200, "header"),
    ("/refuse", "value", 409, "refused"),
    ("/response", "value", 200, "response"),
    ("/streamed", "value", 200, "streamed"),
    ("/index", "tag", 200, "ok"),
    ("/index", "deny", 403, "denied"),
]
ECHOED = {"value": "x-echo", "tag": "x-tag", "deny": "x-why"}


@pytest.fixture(scope="module", params=["h11", "httptools"])
def server(request):
    running = run_uvicorn("tests.apps.headers_app:app", args=["--http", request.param])
    yield running
    running.stop()


def get(server, path, **params):
    return httpx.get(server.url + path, params=params, follow_redirects=False, timeout=10)


def assert_still_serves(server):
    assert get(server, "/index").text == "ok"


def routes_for(value):
    # A Starlette response cannot even be built with text beyond latin-1 (its own check).
    beyond_latin1 = any(ord(char) > 255 for char in value)
    return [route for route in ROUTES if not (beyond_latin1 and route[0] == "/response")]


@pytest.mark.parametrize("value", UNSENDABLE)
def test_unsendable_header_value_is_dropped_and_response_delivered(server, value):
    for path, key, status, body in routes_for(value):
        response = get(server, path, **{key: value})
        assert (response.status_code, response.text) == (status, body), (path, key)
        assert ECHOED[key] not in response.headers, (path, key)
        if key == "value":
            assert response.headers["x-safe"] == "yes"
    assert_still_serves(server)


@pytest.mark.parametrize(("value", "sent"), [("café", "café"), ("  padded\t", "padded")])
def test_sendable_header_value_is_sent(server, value, sent):
    for path, key, status, body in routes_for(value):
        response = get(server, path, **{key: value})
        assert (response.status_code, response.text) == (status, body), (path, key)
        assert response.headers[ECHOED[key]] == sent, (path, key)


@pytest.mark.parametrize("name", ["X Space", "X:Colon", "Xé", "X\x00", ""])
def test_header_name_that_is_not_a_token_is_dropped(client_factory, name):
    class Named(HeadersApp):
        async def named(self):
            return 200, "named", [(name, "v"), ("X-Safe", "yes")]

    response = client_factory(Named()).get("/named")
    assert (response.status_code, response.text) == (200, "named")
    assert [k for k in response.headers if k not in ("content-type", "content-length")] == [
        "x-safe"
    ]
    assert client_factory(Named()).get("/index").text == "ok"


@pytest.mark.parametrize(
    ("target", "location"),
    [
        ("/next\x00", "/next%00"),
        ("/next\x7f/x", "/next%7F/x"),
        ("/n\x1b?q=\x1b", "/n%1B?q=%1B"),
        ("/n?q=a\x00b", "/n?q=a%00b"),
        ("/n?q=a b\x7f", "/n?q=a%20b%7F"),
        ("/n?q=☃\t", "/n?q=%E2%98%83%09"),
        ("/n?q=é", "/n?q=é"),
    ],
)
def test_redirect_location_is_percent_encoded(server, target, location):
    response = get(server, "/go", to=target)
    assert response.status_code == 302
    assert dict(response.headers.raw)[b"location"] == location.encode("latin-1")
    assert_still_serves(server)


def test_dropped_header_is_logged(client_factory, caplog):
    with caplog.at_level(logging.WARNING, logger="micropie"):
        response = client_factory(app).get("/header", params={"value": "a\x00b"})
    assert response.status_code == 200
    assert "dropped response header 'X-Echo'" in caplog.text
