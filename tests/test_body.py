"""JSON and form bodies (SPEC §2, §4): exact integers, the depth limit, large bodies
parsed off the event loop with the same results."""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import pytest

from micropie import App, HttpMiddleware, Request
from micropie.body import MAX_JSON_DEPTH, THREAD_PARSE_BYTES
from micropie.streaming import dumps_json
from tests.conftest import ClientFactory
from tests.security.raw import body_receive, call, call_async, http_scope

BIG = 123456789012345678901234567890
BAD_JSON = (400, "400 Bad Request: Bad JSON")


class Echo(App):
    async def as_int(self, n: int):
        return {"n": str(n), "type": type(n).__name__}

    async def as_str(self, n: str):
        return n

    async def raw(self, n):
        return {"repr": repr(n), "mirror": self.request.form("n"), "json": self.request.get_json}

    async def fields(self, **fields: Any):
        return {"count": len(fields), "thread": self.request.body_thread}


@pytest.mark.parametrize(
    "value",
    [
        BIG,
        -BIG,
        2**64,  # one over orjson's largest integer
        -(2**63) - 1,  # one under orjson's smallest
        2**64 - 1,
        10**4000,
    ],
    ids=["30-digits", "negative", "2**64", "-2**63-1", "2**64-1", "4001-digits"],
)
def test_json_integers_keep_their_exact_value(client_factory: ClientFactory, value: int) -> None:
    client = client_factory(Echo())
    body = json.dumps({"n": value})
    headers = {"content-type": "application/json"}
    assert client.post("/as_int", content=body, headers=headers).json() == {
        "n": str(value),
        "type": "int",
    }
    assert client.post("/as_str", content=body, headers=headers).text == str(value)
    answer = client.post("/raw", content=body, headers=headers).json()
    assert answer["repr"] == repr(value)
    assert answer["mirror"] == str(value)
    assert client.post("/raw", content=body, headers=headers).text.endswith(
        f'"json":{{"n":{value}}}}}'
    )


def test_json_integers_in_nested_values_and_long_digit_strings(
    client_factory: ClientFactory,
) -> None:
    body = json.dumps({"n": {"ids": [BIG, 1.5, "12345678901234567890123"], "ok": True}})
    answer = client_factory(Echo()).post(
        "/raw", content=body, headers={"content-type": "application/json"}
    )
    assert answer.json()["repr"] == repr({"ids": [BIG, 1.5, "12345678901234567890123"], "ok": True})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (r'"\ud83d\ude00"', (200, "\U0001f600")),
        (r'"\ud800"', BAD_JSON),
        (r'"\udc00x"', BAD_JSON),
    ],
    ids=["surrogate-pair", "lone-high", "lone-low"],
)
def test_big_integer_bodies_refuse_lone_surrogates_like_orjson(
    client_factory: ClientFactory, text: str, expected: tuple[int, str]
) -> None:
    body = '{"n": ' + text + ', "big": ' + str(BIG) + "}"
    response = client_factory(Echo()).post(
        "/as_str", content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.text) == expected


def test_integer_past_pythons_conversion_limit_is_400(client_factory: ClientFactory) -> None:
    body = '{"n": ' + "9" * 5000 + "}"
    response = client_factory(Echo()).post(
        "/raw", content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.text) == BAD_JSON


@pytest.mark.parametrize("extra", [0, THREAD_PARSE_BYTES])
def test_json_depth_limit_is_exact(client_factory: ClientFactory, extra: int) -> None:
    client = client_factory(Echo())
    padding = ', "pad": "' + "p" * extra + '"'

    def nested(depth: int) -> str:
        return '{"n": ' + "[" * (depth - 1) + "]" * (depth - 1) + padding + "}"

    headers = {"content-type": "application/json"}
    assert client.post("/raw", content=nested(MAX_JSON_DEPTH), headers=headers).status_code == 200
    response = client.post("/raw", content=nested(MAX_JSON_DEPTH + 1), headers=headers)
    assert (response.status_code, response.text) == BAD_JSON


def test_big_integer_with_deep_nesting_is_400(client_factory: ClientFactory) -> None:
    depth = MAX_JSON_DEPTH + 1
    body = '{"n": ' + "[" * (depth - 1) + str(BIG) + "]" * (depth - 1) + "}"
    response = client_factory(Echo()).post(
        "/raw", content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.text) == BAD_JSON


class Threaded(App):
    """Reports whether the body was parsed outside the event loop's thread."""

    async def fields(self, **fields: Any):
        return {"count": len(fields), "first": fields.get("k0"), "n": fields.get("n")}


@pytest.mark.parametrize("kind", ["json", "form"])
def test_large_bodies_parse_to_the_same_values(client_factory: ClientFactory, kind: str) -> None:
    count = 500
    values = {f"k{i}": str(i).ljust(THREAD_PARSE_BYTES // count, "-") for i in range(count)}
    client = client_factory(Threaded())
    if kind == "json":
        body = json.dumps({**values, "n": BIG}).encode()
        response = client.post(
            "/fields", content=body, headers={"content-type": "application/json"}
        )
        expected_n: Any = BIG
    else:
        response = client.post("/fields", data={**values, "n": str(BIG)})
        expected_n = str(BIG)
    assert len(response.request.content) > THREAD_PARSE_BYTES
    assert response.json() == {"count": count + 1, "first": values["k0"], "n": expected_n}


def test_large_json_body_is_parsed_in_a_worker_thread(
    client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    from micropie import body as body_module

    in_loop: list[bool] = []
    parse = body_module.json_fields

    def spy(body: bytes, limits: Any) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            in_loop.append(False)
        else:
            in_loop.append(True)
        return parse(body, limits)

    monkeypatch.setattr(body_module, "json_fields", spy)
    client = client_factory(Threaded())
    small = json.dumps({"k0": "x"})
    large = json.dumps({"k0": "x" * THREAD_PARSE_BYTES})
    for body in (small, large):
        client.post("/fields", content=body, headers={"content-type": "application/json"})
    assert in_loop == [True, False]


KEPT: dict[str, Any] = {}


class Keeper(App):
    """Keeps part of a large body after the request: it must stay intact."""

    async def keep(self, items: list[Any]):
        KEPT["first"] = items[0]
        KEPT["items"] = items if self.request.query("all") else None
        return {"count": len(items), "gc": gc.isenabled()}


def large_items(count: int = 3000) -> list[Any]:
    return [{"a": [i, i + 1], "b": {"c": "x" * 20}} for i in range(count)]


@pytest.mark.parametrize("keep_all", [False, True])
def test_large_body_is_freed_without_touching_what_the_handler_kept(
    client_factory: ClientFactory, keep_all: bool
) -> None:
    items = large_items()
    body = json.dumps({"items": items}).encode()
    assert len(body) > THREAD_PARSE_BYTES
    client = client_factory(Keeper())
    response = client.post(
        "/keep" + ("?all=1" if keep_all else ""),
        content=body,
        headers={"content-type": "application/json"},
    )
    assert response.json() == {"count": len(items), "gc": True}
    assert KEPT["first"] == items[0]
    assert KEPT["items"] == (items if keep_all else None)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_collector_is_back_after_a_malformed_large_body(client_factory: ClientFactory) -> None:
    body = json.dumps({"items": large_items()}).encode()[:-1]
    response = client_factory(Keeper()).post(
        "/keep", content=body, headers={"content-type": "application/json"}
    )
    assert (response.status_code, response.text) == BAD_JSON
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_large_body_mirror_equals_the_whole_encoding(client_factory: ClientFactory) -> None:
    class Mirror(App):
        async def mirror(self):
            return self.request.form("items")

    items = large_items()
    body = json.dumps({"items": items, "map": {f"k{i}": i for i in range(2000)}})
    response = client_factory(Mirror()).post(
        "/mirror", content=body, headers={"content-type": "application/json"}
    )
    assert response.text == dumps_json(items).decode()


class Saver(App):
    async def save(self, item: Any = None):
        return {"item": item, "form": self.request.body_params}


def paced_receive(*chunks: bytes) -> Any:
    """A ``receive`` that makes the app wait (a loop turn or a future) before each chunk."""
    pending = list(chunks)

    async def receive() -> dict[str, Any]:
        if len(pending) % 2:
            await asyncio.sleep(0.01)
            return message()
        future = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(0.01, future.set_result, message())
        return await future

    def message() -> dict[str, Any]:
        chunk = pending.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    return receive


def post_chunked_json(app: App, receive: Any) -> Any:
    """The answer to ``POST /save`` with a chunked JSON body that ``receive`` gives."""
    headers = [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")]
    return call(app, b"/save", method="POST", headers=headers, receive=receive)


def test_body_that_keeps_the_app_waiting_is_read_whole() -> None:
    chunks = [b'{"item": ', b'"abc', b"def", b'", "n": 1}']
    answer = post_chunked_json(Saver(body_timeout=5), paced_receive(*chunks))
    assert json.loads(answer.body) == {"item": "abcdef", "form": {"item": ["abcdef"], "n": ["1"]}}


def test_body_in_messages_already_there_is_read_whole() -> None:
    chunks = [b'{"item": ', b'"abc', b"", b'", "n": 1}']

    async def receive() -> dict[str, Any]:  # every message there at once, none waited for
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    answer = post_chunked_json(Saver(body_timeout=5, max_body_size=30), receive)
    assert json.loads(answer.body) == {"item": "abc", "form": {"item": ["abc"], "n": ["1"]}}


@pytest.mark.parametrize("ready", [True, False], ids=["already-there", "waited-for"])
def test_body_from_a_receive_giving_futures_is_read_whole(ready: bool) -> None:
    # receive() may return any awaitable, not only a coroutine: here asyncio futures, set
    # before they are awaited or a loop turn later.
    chunks = [b'{"item": ', b'"abc", "n": 1}']

    def receive() -> asyncio.Future[dict[str, Any]]:
        future = asyncio.get_running_loop().create_future()
        message = {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}
        if ready:
            future.set_result(message)
        else:
            asyncio.get_running_loop().call_later(0.01, future.set_result, message)
        return future

    answer = post_chunked_json(Saver(body_timeout=5), receive)
    assert json.loads(answer.body) == {"item": "abc", "form": {"item": ["abc"], "n": ["1"]}}


def test_body_over_the_limit_in_one_message_is_413() -> None:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b'{"item": "' + b"x" * 40 + b'"}'}

    answer = post_chunked_json(Saver(max_body_size=30), receive)
    assert answer.status == 413


def test_body_that_never_starts_is_408() -> None:
    async def silent() -> dict[str, Any]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    app = Saver(body_timeout=0.2)
    answer = call(
        app,
        b"/save",
        method="POST",
        headers=[(b"content-type", b"application/json"), (b"content-length", b"5")],
        receive=silent,
    )
    assert (answer.status, answer.text) == (408, "408 Request Timeout: Failed to receive body")
    assert call(app, b"/save").status == 200


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"Content-Type", b"application/json"), (b"content-length", b"12")], 200),
        ([(b"content-type", b"Application/JSON ; charset=utf-8"), (b"content-length", b"12")], 200),
        ([(b"content-type", b"application/json"), *[(b"content-length", b"12")] * 2], 400),
        ([*[(b"content-type", b"application/json")] * 2, (b"content-length", b"12")], None),
    ],
    ids=["any-case-type", "media-type-parameters", "repeated-length", "repeated-type"],
)
def test_body_headers_read_as_request_headers_shows_them(
    headers: list[tuple[bytes, bytes]], expected: int | None
) -> None:
    scope = http_scope(b"/save", method="POST")
    scope["headers"] = headers
    answer = asyncio.run(call_async(Saver(), scope, body_receive(b'{"item": 7}\n')))
    if expected is None:  # "application/json, application/json" is no JSON media type
        assert json.loads(answer.body) == {"item": None, "form": {}}
    elif expected == 200:
        assert json.loads(answer.body) == {"item": 7, "form": {"item": ["7"]}}
    else:
        assert (answer.status, answer.text) == (
            400,
            "400 Bad Request: Invalid Content-Length header",
        )


class Replace(HttpMiddleware):
    async def before_request(self, request: Request) -> None:
        if request.query("replace"):
            request.body_params = {"item": ["from the hook"]}
        else:
            request.form("item")  # read first by the hook: the handler sees the same


@pytest.mark.parametrize("replace", [False, True])
def test_json_mirror_and_a_hook_that_reads_or_replaces_it(
    client_factory: ClientFactory, replace: bool
) -> None:
    app = Saver()
    app.middlewares.append(Replace())
    response = client_factory(app).post(
        "/save" + ("?replace=1" if replace else ""), json={"item": [1, {"a": None}]}
    )
    form = ["from the hook"] if replace else ['[1,{"a":null}]']
    assert response.json() == {"item": [1, {"a": None}], "form": {"item": form}}
