"""Undecodable bytes in paths, query strings, headers and cookies never break the app."""

from __future__ import annotations

import pytest

from micropie import App

from .raw import call

REPLACEMENT = "\ufffd"


class Echo(App):
    async def hello(self):
        return "hello"

    async def word(self, value: str):
        return value

    async def count(self, n: int = 0):
        return str(n)

    async def cookie(self):
        return repr(sorted(self.request.cookies))

    async def agent(self):
        return self.request.headers.get("user-agent", "")


@pytest.mark.parametrize(
    ("raw_path", "expected"),
    [
        (b"/word/%ff%fe", REPLACEMENT * 2),
        (b"/word/%c3%28", REPLACEMENT + "("),
        (b"/word/%ed%a0%80", REPLACEMENT * 3),
        (b"/word/%00", "\x00"),
    ],
)
def test_undecodable_path_segment_is_replaced(raw_path, expected):
    app = Echo()
    answer = call(app, raw_path)
    assert (answer.status, answer.text) == (200, expected)
    assert call(app, b"/hello").text == "hello"


@pytest.mark.parametrize("raw_path", [b"/%ff", b"/%c0%ae%c0%ae/hello", b"/\xff\xfe"])
def test_undecodable_handler_name_is_404(raw_path):
    app = Echo()
    answer = call(app, raw_path)
    assert (answer.status, answer.text) == (404, "404 Not Found")
    assert call(app, b"/hello").text == "hello"


@pytest.mark.parametrize(
    "query",
    [b"value=\xff\xfe", b"value=%ff%fe", b"value=%", b"value=%zz\x00", b"\xff=\xff&value=a"],
)
def test_undecodable_query_string_binds_as_text(query):
    app = Echo()
    answer = call(app, b"/word", query_string=query)
    assert answer.status == 200
    assert call(app, b"/hello").text == "hello"


@pytest.mark.parametrize("query", [b"n=\xff", b"n=%ff", b"n=1%00", b"n=" + b"9" * 10_000])
def test_undecodable_int_query_is_400(query):
    app = Echo()
    answer = call(app, b"/count", query_string=query)
    assert (answer.status, answer.text) == (400, "400 Bad Request: Invalid value for parameter 'n'")
    assert call(app, b"/count", query_string=b"n=7").text == "7"


def test_non_utf8_form_body_binds_as_text(client_factory):
    client = client_factory(Echo())
    response = client.post(
        "/word",
        content=b"value=%ff\xfe",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert REPLACEMENT in response.text


def test_non_ascii_cookie_and_header_bytes_are_harmless():
    app = Echo()
    headers = [(b"cookie", b"a=\xff\xfe; session_id=\xc3\x28; b"), (b"user-agent", b"\xff\x00")]
    assert call(app, b"/cookie", headers=headers).status == 200
    assert call(app, b"/agent", headers=headers).status == 200
    assert call(app, b"/hello").text == "hello"
