"""SPEC §4, §8: hostile request bodies answer the exact 4xx and the app keeps serving."""

from __future__ import annotations

import asyncio
import json

import pytest

from micropie import App, limits

from .raw import body_receive, call, call_async, http_scope, stalling_receive

BAD_JSON = (400, "400 Bad Request: Bad JSON")
TOO_LARGE = (413, "413 Payload Too Large")
TIMEOUT = (408, "408 Request Timeout: Failed to receive body")
JSON = {"content-type": "application/json"}


class Store(App):
    async def hello(self):
        return "hello"

    async def save(self, item=None):
        return {"item": item}


def assert_still_serves(client):
    assert client.post("/save", json={"item": 1}).json() == {"item": 1}


@pytest.mark.parametrize(
    "body",
    [b"{", b"{'a': 1}", b'{"a": }', b"[1,]", b"\xff\xfe{}", b'{"a": NaN}', b"nul", b'"\\ud800"x'],
)
def test_malformed_json_is_400(client_factory, body):
    client = client_factory(Store())
    response = client.post("/save", content=body, headers=JSON)
    assert (response.status_code, response.text) == BAD_JSON
    assert_still_serves(client)


def test_oversize_json_is_413(client_factory):
    client = client_factory(Store(max_body_size=1024))
    body = json.dumps({"item": "x" * 2048})
    response = client.post("/save", content=body, headers=JSON)
    assert (response.status_code, response.text) == TOO_LARGE
    assert_still_serves(client)


def test_oversize_chunked_json_is_413_without_content_length():
    app = Store(max_body_size=1024)
    chunks = [b'{"item": "', *([b"x" * 512] * 8), b'"}']
    answer = call(
        app,
        b"/save",
        method="POST",
        headers=[(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
        receive=body_receive(*chunks),
    )
    assert (answer.status, answer.text) == TOO_LARGE


@pytest.mark.parametrize("depth", [1000, 5000, 100_000])
def test_deeply_nested_json_array_is_400(client_factory, depth):
    client = client_factory(Store())
    response = client.post("/save", content=b"[" * depth, headers=JSON)
    assert (response.status_code, response.text) == BAD_JSON
    assert_still_serves(client)


@pytest.mark.parametrize("depth", [2000, 100_000])
def test_deeply_nested_balanced_json_is_400(client_factory, depth):
    client = client_factory(Store())
    body = b'{"item": ' + b"[" * depth + b"]" * depth + b"}"
    response = client.post("/save", content=body, headers=JSON)
    assert (response.status_code, response.text) == BAD_JSON
    assert_still_serves(client)


def test_nested_json_value_within_parser_limit_is_not_500(client_factory):
    client = client_factory(Store(), raise_server_exceptions=False)
    body = b'{"item": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    response = client.post("/save", content=body, headers=JSON)
    assert response.status_code < 500
    assert_still_serves(client)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3", b"0x10", b"\xd9\xa3", b"+5", b"1 2"])
def test_bad_content_length_is_400(length):
    app = Store()
    answer = call(
        app,
        b"/save",
        method="POST",
        headers=[(b"content-type", b"application/json"), (b"content-length", length)],
        body=b"{}",
    )
    assert (answer.status, answer.text) == (400, "400 Bad Request: Invalid Content-Length header")
    assert call(app, b"/hello").text == "hello"


@pytest.mark.parametrize("length", [b"9" * 40, b"9" * 5000, b" " + b"9" * 5000 + b" "])
def test_huge_content_length_is_413_before_reading(length):
    app = Store()
    answer = call(
        app,
        b"/save",
        method="POST",
        headers=[(b"content-type", b"application/json"), (b"content-length", length)],
        receive=stalling_receive(),
    )
    assert (answer.status, answer.text) == TOO_LARGE


@pytest.mark.parametrize("zeros", [1, 20, 5000])
def test_content_length_with_leading_zeros_is_its_value(zeros):
    """uvicorn's httptools passes ``Content-Length: 000…2`` on; more than 4,300 digits
    made Python's int() refuse it (500)."""
    answer = call(
        Store(),
        b"/save",
        method="POST",
        headers=[(b"content-type", b"application/json"), (b"content-length", b"0" * zeros + b"2")],
        body=b"{}",
    )
    assert answer.status == 200


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded"])
def test_slow_body_is_408(content_type):
    app = Store(body_timeout=0.2)
    answer = call(
        app,
        b"/save",
        method="POST",
        headers=[(b"content-type", content_type.encode()), (b"content-length", b"100")],
        receive=stalling_receive(b'{"item'),
        timeout=5,
    )
    assert (answer.status, answer.text) == TIMEOUT
    assert call(app, b"/hello").text == "hello"


def test_slow_body_read_by_handler_is_408():
    class Raw(App):
        async def upload(self):
            return str(len(await self.request.body()))

    app = Raw(body_timeout=0.2)
    answer = call(
        app,
        b"/upload",
        method="POST",
        headers=[(b"content-type", b"application/octet-stream"), (b"content-length", b"10")],
        receive=stalling_receive(b"12345"),
        timeout=5,
    )
    assert (answer.status, answer.text) == TIMEOUT


def trickling_receive(chunk: bytes, pause: float, count: int | None = None):
    """A ``receive`` that sends ``chunk`` every ``pause`` seconds (``count`` times, then
    the end of the body; for ever when ``count`` is None): a body trickled in."""
    sent = 0

    async def receive():
        nonlocal sent
        await asyncio.sleep(pause)
        sent += 1
        more = count is None or sent < count
        return {"type": "http.request", "body": chunk, "more_body": more}

    return receive


UPLOAD_HEAD = b'--B\r\nContent-Disposition: form-data; name="item"; filename="a.txt"\r\n\r\n'


@pytest.mark.parametrize(
    ("content_type", "first"),
    [
        (b"application/json", b'{"item": "'),
        (b"application/x-www-form-urlencoded", b"item="),
        (b"multipart/form-data; boundary=B", UPLOAD_HEAD),
        (b"application/octet-stream", b""),  # read by the handler
    ],
)
def test_body_trickled_byte_by_byte_is_408(content_type, first):
    """Each byte comes well within ``body_timeout``, but the body never ends: a timer per
    chunk would wait for ever; the whole body's budget runs out."""

    class Trickled(Store):
        async def raw(self):
            return str(len(await self.request.body()))

    app = Trickled(body_timeout=0.5)
    pending = [first]

    async def receive():
        if pending:
            return {"type": "http.request", "body": pending.pop(), "more_body": True}
        return await trickle()

    trickle = trickling_receive(b"x", 0.1)
    path = b"/raw" if content_type == b"application/octet-stream" else b"/save"
    headers = [(b"content-type", content_type), (b"transfer-encoding", b"chunked")]
    answer = call(app, path, method="POST", headers=headers, receive=receive, timeout=30)
    assert (answer.status, answer.text) == TIMEOUT
    assert call(app, b"/hello").text == "hello"


def test_slow_body_at_a_steady_pace_is_read_whole():
    """A body arriving for longer than ``body_timeout`` in all, at a pace over
    ``MIN_BODY_RATE``, is no trickle: it is read whole."""
    from micropie.body import MIN_BODY_RATE

    app = Store(body_timeout=2.0)
    chunk = b"x" * MIN_BODY_RATE
    pieces = [b'{"item": "', *[chunk] * 11, b'"}']

    async def receive():
        body = pieces.pop(0)
        if body is chunk:
            # 11 pauses: longer in all than body_timeout, each far below it (a loaded
            # machine may stretch one pause a lot without making the pace a trickle)
            await asyncio.sleep(0.25)
        return {"type": "http.request", "body": body, "more_body": bool(pieces)}

    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    answer = call(app, b"/save", method="POST", headers=headers, receive=receive, timeout=30)
    assert answer.status == 200
    assert json.loads(answer.body) == {"item": "x" * 11 * MIN_BODY_RATE}


def test_oversize_body_read_by_handler_is_413(client_factory):
    class Raw(App):
        async def upload(self):
            return str(len(await self.request.body()))

    client = client_factory(Raw(max_body_size=100))
    response = client.post("/upload", content=b"x" * 101)
    assert (response.status_code, response.text) == TOO_LARGE
    assert client.post("/upload", content=b"x" * 100).text == "100"


def test_too_many_urlencoded_fields_is_413(client_factory):
    client = client_factory(Store(max_form_parts=10))
    body = "&".join(f"f{i}=v" for i in range(11))
    response = client.post(
        "/save", content=body, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert (response.status_code, response.text) == TOO_LARGE
    assert_still_serves(client)


def test_oversize_urlencoded_field_is_413(client_factory):
    client = client_factory(Store(max_form_field_size=100))
    response = client.post("/save", data={"item": "x" * 101})
    assert (response.status_code, response.text) == TOO_LARGE
    assert client.post("/save", data={"item": "x" * 100}).json() == {"item": "x" * 100}


def test_huge_header_is_harmless(client_factory):
    client = client_factory(Store())
    response = client.get("/hello", headers={"x-junk": "a" * 1_000_000, "cookie": "c=" * 50_000})
    assert (response.status_code, response.text) == (200, "hello")


def test_many_headers_are_harmless():
    app = Store()
    headers = [(f"x-h{i}".encode(), b"v") for i in range(20_000)]
    answer = call(app, b"/hello", headers=headers)
    assert (answer.status, answer.text) == (200, "hello")


def test_http2_body_without_length_headers_is_read():
    """HTTP/2 frames bodies itself: no Content-Length or Transfer-Encoding is needed."""
    scope = http_scope(
        b"/save",
        method="POST",
        headers=[(b"content-type", b"application/x-www-form-urlencoded")],
    )
    scope["http_version"] = "2"
    answer = asyncio.run(call_async(Store(), scope, body_receive(b"item=h2")))
    assert (answer.status, answer.body) == (200, b'{"item":"h2"}')


def test_kwargs_take_at_most_max_form_parts_body_fields(client_factory):
    """A JSON object of a million keys bound to ``**kwargs`` held the event loop for
    seconds (binding and passing them happen there): past ``max_form_parts`` it is 413."""

    class Extra(App):
        async def collect(self, **fields):
            return {"count": len(fields)}

        @limits(max_form_parts=5000)
        async def many(self, **fields):
            return {"count": len(fields)}

        async def named(self, k0: int = 0):
            return {"k0": k0}

    client = client_factory(Extra())
    fields = {f"k{i}": i for i in range(1000)}
    assert client.post("/collect", json=fields).json() == {"count": 1000}
    fields["one_more"] = 1
    response = client.post("/collect", json=fields)
    assert (response.status_code, response.text) == TOO_LARGE
    assert client.post("/many", json=fields).json() == {"count": 1001}
    assert client.post("/named", json=fields).json() == {"k0": 0}  # no **kwargs, no limit
    query = {f"q{i}": "1" for i in range(1500)}  # the request head bounds the query
    assert client.get("/collect", params=query).json() == {"count": 1500}
