"""Property-based fuzzing of the request surface (paths, query, headers, bodies).

Generated requests go straight to a representative app as hand-built ASGI scopes (so
bytes a client library would refuse get through). Whatever arrives: the app answers
below 500, no exception escapes it, and every handler receives values of the types
its annotations promise (each handler checks with ``isinstance`` and records any
mismatch). How many examples, and whether they are the same every run, is the
hypothesis profile's choice (tests/conftest.py: ``make test`` repeatable, ``make fuzz``
random).
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import Any
from urllib.parse import quote_from_bytes

from hypothesis import event, given
from hypothesis import strategies as st

from micropie import App, UploadedFile, methods
from tests.security.raw import body_receive, call

violations: list[str] = []


def expect(handler: str, **values: tuple[Any, type | tuple[type, ...]]) -> None:
    """Record every value that is not of its expected type."""
    for name, (value, kind) in values.items():
        if not isinstance(value, kind):
            violations.append(f"{handler}: {name}={value!r} is not {kind}")


class FuzzTarget(App):
    async def index(self):
        return "home"

    async def typed(
        self,
        a: int,
        b: float = 0.0,
        flag: bool = False,
        name: str = "",
        day: datetime.date | None = None,
        uid: uuid.UUID | None = None,
        tags: list[int] | None = None,
        raw: bytes = b"",
    ):
        expect(
            "typed",
            a=(a, int),
            b=(b, float),
            flag=(flag, bool),
            name=(name, str),
            day=(day, (datetime.date, type(None))),
            uid=(uid, (uuid.UUID, type(None))),
            tags=(tags, (list, type(None))),
            raw=(raw, bytes),
        )
        if tags is not None:
            expect("typed", **{f"tags[{i}]": (t, int) for i, t in enumerate(tags)})
        return {"a": a, "b": b, "flag": flag}

    async def path(self, first: int, *rest: str):
        expect("path", first=(first, int), **{f"rest{i}": (r, str) for i, r in enumerate(rest)})
        return [first, *rest]

    async def keywords(self, *, key: str = "", **extra):
        expect("keywords", key=(key, str))
        return {"key": key, "extra": sorted(extra)}

    def sync(self, n: int = 0, when: datetime.datetime | None = None):
        expect("sync", n=(n, int), when=(when, (datetime.datetime, type(None))))
        return str(n)

    async def echo(self):
        body = await self.request.body()
        return {"json": self.request.get_json, "form": self.request.body_params, "len": len(body)}

    async def upload(self, *, file: UploadedFile | None = None, note: str = ""):
        expect("upload", note=(note, str))
        if file is None:
            return "no file"
        data = await file.read()
        return {"filename": file.filename, "size": len(data)}

    @methods("GET", "POST")
    async def limited(self, value: int = 0):
        return str(value)

    def stream(self, count: int = 3):
        expect("stream", count=(count, int))
        for i in range(min(count, 20)):
            yield f"{i}\n"


APP = FuzzTarget(max_body_size=64 * 1024, body_timeout=2)
HANDLERS = ["", "index", "typed", "path", "keywords", "sync", "echo", "upload", "limited", "stream"]
PARAMS = ["a", "b", "flag", "name", "day", "uid", "tags", "raw", "first", "key", "n", "when"]
PARAMS += ["count", "value", "note", "file", "csrf_token", "__class__", "self", "ws", ""]
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "TRACE", "BREW", "get"]
CONTENT_TYPES = [
    None,
    "application/json",
    "application/json; charset=latin-1",
    "application/vnd.api+json",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=fuzz",
    "multipart/form-data",
    "multipart/form-data; boundary=",
    "text/plain",
    "application/octet-stream",
]

segment = st.one_of(
    st.sampled_from(HANDLERS + ["..", ".", "%", "__init__", "run", "ws_x", "1", "-1", "9" * 30]),
    st.text(max_size=12),
    st.binary(max_size=8).map(lambda b: b.decode("latin-1")),
)
raw_paths = st.lists(segment, max_size=5).map(
    lambda parts: (
        "/" + "/".join(quote_from_bytes(p.encode("utf-8", "surrogatepass")) for p in parts)
    )
)
value_text = st.one_of(
    st.sampled_from(
        ["1", "-0", "1.5", "nan", "inf", "true", "no", "", "2024-02-30", str(uuid.uuid4())]
    ),
    st.text(max_size=20),
    st.integers().map(str),
)
query_strings = st.one_of(
    st.binary(max_size=64),
    st.lists(st.tuples(st.sampled_from(PARAMS), value_text), max_size=6).map(
        lambda pairs: "&".join(
            f"{quote_from_bytes(k.encode())}={quote_from_bytes(v.encode('utf-8', 'surrogatepass'))}"
            for k, v in pairs
        ).encode()
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)
json_bodies = st.one_of(
    st.dictionaries(st.sampled_from(PARAMS), json_values, max_size=6),
    json_values,
).map(lambda v: json.dumps(v).encode())
form_bodies = st.lists(st.tuples(st.sampled_from(PARAMS), value_text), max_size=6).map(
    lambda pairs: "&".join(
        f"{k}={quote_from_bytes(v.encode('utf-8', 'surrogatepass'))}" for k, v in pairs
    ).encode()
)


@st.composite
def multipart_bodies(draw: st.DrawFn) -> bytes:
    parts = []
    for name in draw(st.lists(st.sampled_from(PARAMS), max_size=4)):
        filename = draw(st.one_of(st.none(), st.binary(max_size=12)))
        disposition = f'form-data; name="{name}"'.encode()
        if filename is not None:
            disposition += (
                b'; filename="'
                + filename.replace(b'"', b"").replace(b"\r", b"").replace(b"\n", b"")
                + b'"'
            )
        data = draw(st.binary(max_size=64))
        parts.append(
            b"--fuzz\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + data + b"\r\n"
        )
    end = draw(st.sampled_from([b"--fuzz--\r\n", b"--fuzz--", b"", b"--fu"]))
    return b"".join(parts) + end


bodies = st.one_of(st.binary(max_size=256), json_bodies, form_bodies, multipart_bodies())
header_names = st.one_of(
    st.sampled_from(["cookie", "origin", "x-csrf-token", "accept", "user-agent", "host", "range"]),
    st.text(
        st.characters(min_codepoint=33, max_codepoint=126, exclude_characters=":"),
        min_size=1,
        max_size=10,
    ),
)
headers = st.lists(st.tuples(header_names, st.binary(max_size=40)), max_size=6)


@st.composite
def requests(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(st.one_of(st.none(), bodies))
    raw_headers = [(k.lower().encode("latin-1"), v) for k, v in draw(headers)]
    content_type = draw(st.sampled_from(CONTENT_TYPES))
    if content_type is not None:
        raw_headers.append((b"content-type", content_type.encode()))
    if body is not None:
        framing = draw(st.sampled_from(["length", "chunked", "bad-length"]))
        if framing == "length":
            raw_headers.append((b"content-length", str(len(body)).encode()))
        elif framing == "chunked":
            raw_headers.append((b"transfer-encoding", b"chunked"))
        else:
            raw_headers.append(
                (b"content-length", draw(st.sampled_from([b"x", b"-1", b"1e2", b"99999999999"])))
            )
    split = draw(st.integers(min_value=0, max_value=len(body or b"")))
    chunks = [] if body is None else [body[:split], body[split:]]
    return {
        "method": draw(st.sampled_from(METHODS)),
        "raw_path": draw(raw_paths).encode("ascii"),
        "query_string": draw(query_strings),
        "headers": raw_headers,
        "chunks": chunks,
    }


def send(request: dict[str, Any]):
    return call(
        APP,
        request["raw_path"],
        method=request["method"],
        query_string=request["query_string"],
        headers=request["headers"],
        receive=body_receive(*request["chunks"]),
    )


@given(requests())
def test_fuzzed_requests_never_fail_the_server(request):
    violations.clear()
    answer = send(request)
    event(f"status {answer.status}")
    assert 100 <= answer.status < 500, (answer.status, answer.text)
    assert violations == []


@given(
    handler=st.sampled_from(["typed", "path/7", "keywords", "sync", "limited", "stream"]),
    query=query_strings,
    body=st.one_of(json_bodies, form_bodies),
    as_json=st.booleans(),
)
def test_fuzzed_bindings_keep_their_types(handler, query, body, as_json):
    violations.clear()
    kind = b"application/json" if as_json else b"application/x-www-form-urlencoded"
    request = {
        "method": "POST",
        "raw_path": f"/{handler}".encode(),
        "query_string": query,
        "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        "chunks": [body],
    }
    answer = send(request)
    event(f"status {answer.status}")
    assert answer.status in (200, 400, 404, 413), (answer.status, answer.text)
    assert violations == []
    if answer.status == 400:
        assert answer.text.startswith("400 Bad Request: ")
