"""The direct HTTP path (no user middleware, no explicit routes) answers byte for byte as
the general path through the router does.

Each request is sent to two instances of the same app: one as it is (direct path), one
with an explicit route added that matches nothing (so every request crosses the router
first). Their ASGI messages and the scope keys the handler saw must be identical. The
requests cover every shortcut of micropie.fast_path (plain text, JSON, path segments,
the prebuilt 404, HEAD) and every reason to leave it (bodies, cookies, hooks, sessions
written by the handler, sync handlers, method restrictions, errors before and after the
response started).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from micropie import App, CookieSessionBackend, HttpMiddleware, UploadedFile, methods
from micropie.fast_path import app_call
from micropie.request import Request, current_request


class Site(App):
    async def index(self):
        return "home"

    async def hello(self):
        return "Hello, world!"

    async def greet(self, name: str, greeting: str = "Hello"):
        return f"{greeting}, {name}!"

    async def search(self, q: str = "", page: int = 1):
        return {"q": q, "page": page}

    async def echo(self):
        return self.request.get_json

    async def submit(self, name: str, age: int):
        return f"{name} is {age}"

    async def count(self):
        self.session["n"] = self.session.get("n", 0) + 1
        return str(self.session["n"])

    async def peek(self):
        return str(self.session.get("n", "none"))

    async def scope_keys(self, *parts):
        scope = self.request.scope
        route = scope.get("route")
        return {
            "route": None if route is None else route.path,
            "endpoint": getattr(scope.get("endpoint"), "__name__", None),
            "router": type(scope.get("router")).__name__,
            "app": scope.get("app") is self,
            "path_params": self.request.path_params,
        }

    async def boom(self):
        raise RuntimeError("handler failed")

    async def teapot(self):
        raise HTTPException(418, "short and stout", headers={"X-Pot": "tea"})

    async def moved(self):
        return self._redirect("/hello")

    async def nothing(self):
        return None

    async def tupled(self):
        return 201, "made", [("X-Made", "yes")]

    async def stream(self):
        async def chunks():
            yield "a"
            yield "b"

        return chunks()

    async def starlette(self):
        return PlainTextResponse("from starlette", headers={"X-Kind": "response"})

    def sync_handler(self):
        return "from a thread"

    async def listing(self):
        return [1, "two", None]

    async def big(self):
        return "x" * 5000

    async def surrogate(self):
        return "\ud800"  # cannot be encoded: fails before the response starts

    async def whoami(self):
        request = self.request
        return {
            "method": request.method,
            "path_params": request.path_params,
            "link": str(request.url_for("greet", name="bob")),
            "current": current_request.get() is request,
        }

    @methods("POST")
    async def posted(self):
        return "posted"

    async def failing_stream(self):
        async def chunks():
            yield "a"
            raise RuntimeError("stream broke")

        return chunks()

    async def typed(self, number: int):
        return {"number": number}

    async def upload(self, file: UploadedFile, note: str = ""):
        data = await file.read()
        return {"name": file.filename, "size": len(data), "note": note}

    async def size(self):
        return str(len(self.request.get_json))

    async def keyed(self):
        return {1: "one", "two": [{None: True}], 2**70: "big"}

    async def fields(self, name: str, *, tags: list[str] | None = None, **extra):
        return {"name": name, "tags": tags, "extra": extra, "query": self.request.query_params}

    async def agent(self):
        return self.request.headers.get("user-agent", "")

    async def state(self):
        request = self.request  # the dicts a request makes only when they are read
        return {
            "session": request.session,
            "files": request.files,
            "json": request.get_json,
            "form": request.body_params,
            "same": request.session is self.session and request.files is request.files,
        }


class Hooks(HttpMiddleware):
    async def before_request(self, request):
        if request.query_params.get("stop"):
            return {"status_code": 403, "body": "stopped"}
        request.seen = True
        return None

    async def after_request(self, request, status_code, response_body, extra_headers):
        return {"headers": [*extra_headers, ("X-After", str(status_code))]}


FORM = b"application/x-www-form-urlencoded"
MULTIPART = b"multipart/form-data; boundary=b0undary"
UPLOAD = (
    b'--b0undary\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n'
    b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
    b"Content-Type: text/plain\r\n\r\nfile content\r\n--b0undary--\r\n"
)
BIG_JSON = b"[" + b",".join([b'{"k": 1}'] * 10_000) + b"]"  # parsed in a worker thread
REQUESTS: list[tuple[str, str, bytes, list[tuple[bytes, bytes]]]] = [
    ("GET", "/", b"", []),
    ("GET", "/hello", b"", []),
    ("HEAD", "/hello", b"", []),
    ("GET", "/greet/alice", b"", []),
    ("GET", "/greet/alice/Hi", b"", []),
    ("GET", "/greet/alice/Hi/extra", b"", []),
    ("GET", "/search?q=x&page=2", b"", []),
    ("GET", "/search?page=nope", b"", []),
    ("POST", "/echo", b'{"a": [1, 2]}', [(b"content-type", b"application/json")]),
    ("POST", "/echo", b"{broken", [(b"content-type", b"application/json")]),
    (
        "POST",
        "/submit",
        b"name=al&age=3",
        [(b"content-type", b"application/x-www-form-urlencoded")],
    ),
    ("POST", "/submit", b"name=al", [(b"content-type", b"application/x-www-form-urlencoded")]),
    ("GET", "/missing/page", b"", []),
    ("GET", "/scope_keys/a/b", b"", []),
    ("GET", "/scope_keys", b"", []),
    ("GET", "/boom", b"", []),
    ("GET", "/teapot", b"", []),
    ("GET", "/moved", b"", []),
    ("GET", "/nothing", b"", []),
    ("GET", "/tupled", b"", []),
    ("GET", "/stream", b"", []),
    ("GET", "/starlette", b"", []),
    ("GET", "/sync_handler", b"", []),
    ("GET", "/peek", b"", [(b"cookie", b"session_id=not-a-session")]),
    ("GET", "/hello?stop=1", b"", []),
    ("POST", "/hello", b"", []),
    ("OPTIONS", "/hello", b"", []),
    ("GET", "//hello//", b"", []),
    ("GET", "/hello/extra", b"", []),
    ("GET", "/greet/", b"", []),
    ("HEAD", "/search?q=x", b"", []),
    ("GET", "/listing", b"", []),
    ("GET", "/big", b"", []),
    ("GET", "/surrogate", b"", []),
    ("GET", "/whoami", b"", []),
    ("GET", "/posted", b"", []),
    ("HEAD", "/posted", b"", []),
    ("POST", "/posted", b"", []),
    ("GET", "/failing_stream", b"", []),
    ("GET", "/typed/7", b"", []),
    ("GET", "/typed/seven", b"", []),
    ("HEAD", "/missing/page", b"", []),
    ("POST", "/missing", b"name=al", [(b"content-type", FORM)]),
    ("GET", "/missing", b"", [(b"cookie", b"session_id=not-a-session")]),
    ("GET", "/hello", b"", [(b"cookie", b"session_id=not-a-session")]),
    ("GET", "/hello", b"", [(b"transfer-encoding", b"chunked")]),
    ("POST", "/upload", UPLOAD, [(b"content-type", MULTIPART)]),
    ("POST", "/upload", UPLOAD[:40], [(b"content-type", MULTIPART)]),
    ("POST", "/size", BIG_JSON, [(b"content-type", b"application/json")]),
    ("GET", "/keyed", b"", []),
    ("GET", "/search?", b"", []),
    ("GET", "/search?q=%41+b&q=c&page=3", b"", []),
    ("POST", "/submit", b"name=al&age=3", [(b"Content-Type", FORM)]),
    ("POST", "/submit", b"name=al&age=3", [(b"content-type", FORM), (b"content-type", FORM)]),
    ("POST", "/submit", b"name=al&age=3", [(b"content-type", FORM), (b"CONTENT-TYPE", FORM)]),
    ("POST", "/submit", b"name=a+l&age=3&name=b", [(b"content-type", FORM)]),
    ("POST", "/submit", b"name=al&age=3", []),
    ("POST", "/fields?tags=a&tags=b&x=1", b"name=n&y=2&tags=c", [(b"content-type", FORM)]),
    (
        "POST",
        "/fields",
        b'{"name": 5, "tags": ["t"], "z": null}',
        [(b"content-type", b"application/json")],
    ),
    ("GET", "/index", b"", []),
    ("GET", "/state", b"", []),
    ("POST", "/state", b"a=1&b=2", [(b"content-type", FORM)]),
    ("POST", "/state", b"[1]", [(b"content-type", b"application/json")]),
    ("POST", "/echo", b"null", [(b"content-type", b"application/json")]),
    ("GET", "/hello", b"", [(b"content-length", b"0")]),
    ("GET", "/greet/alice", b"", [(b"cookie", b"theme=dark")]),
    # The body and cookie headers, read in one pass: casing, repeats, no length.
    ("POST", "/echo", b'{"a": 1}', [(b"Content-Type", b"application/json")]),
    ("POST", "/echo", b'{"a": 1}', [(b"content-type", b"Application/JSON; charset=utf-8")]),
    ("POST", "/echo", b'{"a": 1}', [(b"content-type", b"application/json")] * 2),
    (
        "POST",
        "/echo",
        b'{"a": 1}',
        [
            (b"content-type", b"application/json"),
            (b"content-length", b"8"),
            (b"content-length", b"8"),
        ],
    ),
    (
        "POST",
        "/echo",
        b'{"a": 1}',
        [(b"content-type", b"application/json"), (b"transfer-encoding", b"chunked")],
    ),
    ("POST", "/echo", b"[1]", [(b"content-type", b"application/json"), (b"content-length", b"x")]),
    (
        "POST",
        "/submit",
        b"name=al&age=3",
        [(b"transfer-encoding", b"chunked"), (b"content-type", FORM)],
    ),
    ("GET", "/peek", b"", [(b"cookie", b"a=1; session_id=not-a-session; b=2")]),
    ("GET", "/peek", b"", [(b"cookie", b"a=1"), (b"cookie", b"session_id=not-a-session")]),
    ("GET", "/hello", b"", [(b"Cookie", b"session_id=not-a-session")]),
]


def _scope(method: str, target: str, headers: list[tuple[bytes, bytes]], body: bytes):
    path, _, query = target.partition("?")
    framed = any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers)
    extra = [(b"content-length", str(len(body)).encode())] if body and not framed else []
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "headers": [(b"host", b"test"), *headers, *extra],
        "client": ("127.0.0.1", 1234), "server": ("test", 80), "state": {},
    }  # fmt: skip


async def _call(app: App, scope: dict[str, Any], body: bytes) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()  # the client stays connected
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    try:
        await app(scope, receive, send)
    except Exception as exc:  # the server error layer re-raises after answering
        sent.append({"raised": repr(exc)})
    return sent


def _general(app: App) -> App:
    """Make every request of ``app`` cross the router (an explicit route that never matches)."""
    app.add_route("/never/matched/route", lambda request: PlainTextResponse("never"))
    return app


def _pairs(make_app):
    direct, general = make_app(), _general(make_app())
    assert not direct._router._explicit
    return direct, general


def _exchange(app: App, method: str, target: str, body: bytes, headers) -> list[dict[str, Any]]:
    return asyncio.run(_call(app, _scope(method, target, headers, body), body))


@pytest.mark.parametrize(
    "make_app",
    [
        Site,
        lambda: Site(debug=True),
        lambda: Site(json_errors=True),
        lambda: Site(exception_handlers={404: _custom_404}),
        lambda: _hooked(Site()),
        lambda: Site(exception_handlers={500: _custom_500}),
        lambda: Site(exception_handlers={Exception: _sync_500, HTTPException: _http_handler}),
        lambda: Site(max_body_size=16),
    ],
    ids=[
        "plain",
        "debug",
        "json-errors",
        "404-handler",
        "hooks",
        "500-handler",
        "handlers",
        "small-bodies",
    ],  # fmt: skip
)
@pytest.mark.parametrize(("method", "target", "body", "headers"), REQUESTS)
def test_direct_and_general_paths_answer_alike(make_app, method, target, body, headers):
    direct, general = _pairs(make_app)
    mine = _exchange(direct, method, target, body, headers)
    theirs = _exchange(general, method, target, body, headers)
    if "raised" in mine[-1] and mine[0]["status"] == 500:  # the debug page's addresses differ
        assert "raised" in theirs[-1] and theirs[0]["status"] == 500
        assert len(mine) == len(theirs) and mine[-1] == theirs[-1]
        return
    assert mine == theirs
    assert mine and mine[0]["type"] == "http.response.start"


def test_direct_path_scope_keys_match_the_router():
    direct, general = _pairs(Site)
    for app in (direct, general):
        (start, body) = _exchange(app, "GET", "/scope_keys/a/b", b"", [])
        assert body["body"] == (
            b'{"route":"/scope_keys/{parts:path}","endpoint":"scope_keys","router":"AppRouter",'
            b'"app":true,"path_params":["a","b"]}'
        )


def test_sessions_alike_on_both_paths(monkeypatch):
    import time
    import types

    import micropie.sessions

    # One second for both cookies, however slow the machine: same data, same signature.
    now = time.time()
    clock = types.SimpleNamespace(time=lambda: now, monotonic=time.monotonic)
    monkeypatch.setattr(micropie.sessions, "time", clock)

    def make():
        return Site(CookieSessionBackend("secret"))

    direct, general = _pairs(make)
    first = _exchange(direct, "GET", "/count", b"", [])
    second = _exchange(general, "GET", "/count", b"", [])
    assert first == second  # same data, same second: the same signed cookie
    cookie = dict(first[0]["headers"])[b"set-cookie"].split(b";")[0]
    again = [
        _exchange(app, "GET", "/count", b"", [(b"cookie", cookie)]) for app in (direct, general)
    ]
    assert again[0] == again[1] and again[0][1]["body"] == b"2"
    posted = [  # a body and a cookie
        _exchange(app, "POST", "/count", b"a=1", [(b"cookie", cookie), (b"content-type", FORM)])
        for app in (direct, general)
    ]
    assert posted[0] == posted[1] and posted[0][1]["body"] == b"2"
    split = [  # the session cookie in a second Cookie header, among other cookies
        _exchange(app, "GET", "/count", b"", [(b"cookie", b"a=1"), (b"cookie", b"b=2; " + cookie)])
        for app in (direct, general)
    ]
    assert split[0] == split[1] and split[0][1]["body"] == b"2"


def test_plain_error_answers_are_not_shared_between_requests():
    # A middleware may change the headers of the message it forwards; a 404 answered
    # from a kept model must not carry the last request's changes.
    direct = Site()
    first = _exchange(direct, "GET", "/missing", b"", [])
    first[0]["headers"].append((b"x-added", b"by a middleware"))
    second = _exchange(direct, "GET", "/missing", b"", [])
    assert (b"x-added", b"by a middleware") not in second[0]["headers"]
    assert second[1]["body"] == b"404 Not Found"


async def _custom_404(request, exc):
    return PlainTextResponse(f"nothing at {request.url.path}", status_code=404)


async def _custom_500(request, exc):
    return PlainTextResponse(f"custom 500: {exc}", status_code=500)


def _sync_500(request, exc):
    return PlainTextResponse(f"sync 500: {type(exc).__name__}", status_code=500)


async def _http_handler(request, exc):
    return PlainTextResponse(f"http {exc.status_code}", status_code=exc.status_code)


def _hooked(app: App) -> App:
    app.middlewares.append(Hooks())
    return app


def test_a_send_failing_mid_answer_ends_alike():
    # The body message fails once: both paths then answer 500 (the start was already
    # sent, as the server-error layer learns) and return without raising.
    def make_send(sent):
        failed = []

        async def send(message):
            sent.append(message)
            if message["type"] == "http.response.body" and not failed:
                failed.append(message)
                raise OSError("connection reset")

        return send

    async def call(app):
        sent = []
        scope = _scope("GET", "/hello", [], b"")
        try:
            await app(scope, _connected_receive(), make_send(sent))
        except Exception as exc:
            sent.append({"raised": repr(exc)})
        return sent

    direct, general = _pairs(Site)
    mine, theirs = asyncio.run(call(direct)), asyncio.run(call(general))
    assert mine == theirs
    assert [m.get("status") for m in mine] == [200, None, 500, None]


def test_hooks_added_after_the_first_request_run():
    direct, general = _pairs(Site)
    for app in (direct, general):
        assert _exchange(app, "GET", "/hello", b"", [])[1]["body"] == b"Hello, world!"
        _hooked(app)
    for target in ("/hello", "/missing", "/hello?stop=1"):
        mine = _exchange(direct, "GET", target, b"", [])
        assert mine == _exchange(general, "GET", target, b"", [])
        assert (b"x-after", str(mine[0]["status"]).encode()) in mine[0]["headers"]


def test_handlers_assigned_after_the_first_request_answer():
    direct, general = _pairs(Site)
    for app in (direct, general):
        _exchange(app, "GET", "/hello", b"", [])

        async def hello():
            return "replaced"

        async def index():
            return "new index"

        app.hello = hello
        app.index = index
    for target in ("/hello", "/", "/hello/extra"):
        mine = _exchange(direct, "GET", target, b"", [])
        assert mine == _exchange(general, "GET", target, b"", [])
    assert _exchange(direct, "GET", "/hello", b"", [])[1]["body"] == b"replaced"
    assert _exchange(direct, "GET", "/", b"", [])[1]["body"] == b"new index"


def test_paths_no_handler_took_are_taken_by_handlers_assigned_later():
    # The direct path answers its prebuilt 404 without resolving the path when no class
    # handler, no instance attribute and no index could take it: assigned ones are seen.
    direct, general = _pairs(Site)
    targets = ("/missing", "/missing/x", "/other/y")
    for target in targets:
        assert _exchange(direct, "GET", target, b"", [])[0]["status"] == 404
    for app in (direct, general):

        async def missing(*parts):
            return "now here"

        async def index(*parts):
            return "index took " + "/".join(parts)

        app.missing = missing
        app.index = index
    for target in targets:
        mine = _exchange(direct, "GET", target, b"", [])
        assert mine == _exchange(general, "GET", target, b"", [])
        assert mine[0]["status"] == 200
    assert _exchange(direct, "GET", "/other/y", b"", [])[1]["body"] == b"index took other/y"


def test_routes_added_after_the_first_request_are_matched():
    app = Site()
    assert _exchange(app, "GET", "/hello", b"", [])[1]["body"] == b"Hello, world!"
    app.add_route("/hello", lambda request: PlainTextResponse("explicit"))
    assert _exchange(app, "GET", "/hello", b"", [])[1]["body"] == b"explicit"
    assert _exchange(app, "GET", "/greet/x", b"", [])[1]["body"] == b"Hello, x!"


def test_a_mount_added_after_the_first_request_is_matched():
    app, inner = Site(), Site()
    assert _exchange(app, "GET", "/hello", b"", [])[1]["body"] == b"Hello, world!"
    app.mount("/hello", inner)
    assert _exchange(app, "GET", "/hello/greet/x", b"", [])[1]["body"] == b"Hello, x!"
    assert _exchange(app, "GET", "/index", b"", [])[1]["body"] == b"home"


def test_a_route_table_set_after_the_first_request_is_matched():
    app = Site()
    assert _exchange(app, "GET", "/hello", b"", [])[1]["body"] == b"Hello, world!"
    app._router.routes = [Route("/hello", lambda request: PlainTextResponse("set"))]
    assert _exchange(app, "GET", "/hello", b"", [])[1]["body"] == b"set"


class Segments(Site):
    async def one(self, word):
        return f"one {word} {self.request.path_params}"

    async def two(self, first: str, second):
        return [first, second, self.request.path_params]


@pytest.mark.parametrize(
    ("target", "status", "body"),
    [
        ("/one/x", 200, b"one x ['x']"),
        ("//one/x/", 200, b"one x ['x']"),
        ("/one", 400, b"400 Bad Request: Missing required parameter 'word'"),
        ("/one//", 400, b"400 Bad Request: Missing required parameter 'word'"),
        ("/one/x/y", 404, b"404 Not Found"),
        ("/two/a/b", 200, b'["a","b",["a","b"]]'),
        ("/two//b", 200, b'["","b",["","b"]]'),
        ("/two/a", 400, b"400 Bad Request: Missing required parameter 'second'"),
    ],
)
def test_handlers_taking_their_segments_as_they_are_answer_alike(target, status, body):
    direct, general = _pairs(Segments)
    mine = _exchange(direct, "GET", target, b"", [])
    assert mine == _exchange(general, "GET", target, b"", [])
    assert (mine[0]["status"], mine[1]["body"]) == (status, body)


class Indexed(Segments):
    async def index(self, *parts):
        return f"index {list(parts)}"


class SyncIndex(Segments):
    def index(self):  # not on the direct path: "/" goes through the general one
        return "sync index"


@pytest.mark.parametrize(
    "target",
    [
        "/greet/alice",
        "/greet/alice/",
        "//greet/alice",
        "/greet//alice",
        "/greet/alice/Hi",
        "/hello/x",
        "/one/x",
        "/two/a",
        "/index/x",
        "/index",
        "//hello",
        "//one",
        "/x",
        "/x/y",
        "/missing/x",
        "/",
        "///",
    ],
)
@pytest.mark.parametrize("make_app", [Segments, Indexed, SyncIndex])
def test_one_segment_paths_answer_alike(make_app, target):
    # "/name/segment" finds the handler without splitting the path: the same one, with
    # the same segments, as the general path's split (or the same 404).
    direct, general = _pairs(make_app)
    mine = _exchange(direct, "GET", target, b"", [])
    assert mine == _exchange(general, "GET", target, b"", [])


def test_a_router_the_scope_already_names_is_kept():
    # Mounted in a Starlette app, scope["router"] is the outer router, as Starlette keeps it.
    direct, general = _pairs(Site)
    for app in (direct, general):
        scope = _scope("GET", "/scope_keys", [], b"")
        scope["router"] = outer = object()
        assert asyncio.run(_call(app, scope, b""))[1]["body"].count(b'"router":"object"') == 1
        assert scope["router"] is outer


def test_a_session_written_on_a_cookieless_request_is_kept():
    app = Site()  # in-memory sessions: the handler's write must be committed
    first = _exchange(app, "GET", "/count", b"", [])
    assert first[1]["body"] == b"1"
    cookie = dict(first[0]["headers"])[b"set-cookie"].split(b";")[0]
    second = _exchange(app, "GET", "/count", b"", [(b"cookie", cookie)])
    assert second[1]["body"] == b"2"
    assert _exchange(app, "GET", "/peek", b"", [(b"cookie", cookie)])[1]["body"] == b"2"


def _both_alike(scope: dict[str, Any], body: bytes = b"") -> list[dict[str, Any]]:
    """Send ``scope`` to the direct and the general path; their answers, checked alike."""
    direct, general = _pairs(Site)
    mine, theirs = (asyncio.run(_call(app, dict(scope), body)) for app in (direct, general))
    assert mine == theirs
    return mine


@pytest.mark.parametrize("target", ["/app/hello", "/app/greet/x", "/app", "/app/missing/x"])
def test_below_a_root_path_both_paths_answer_alike(target):
    scope = _scope("GET", target, [], b"")
    scope["root_path"] = "/app"
    answer = _both_alike(scope)
    assert answer[0]["status"] == (404 if "missing" in target else 200)


def test_http2_body_without_a_length_is_read():
    scope = _scope("POST", "/echo", [(b"content-type", b"application/json")], b"")
    scope["http_version"] = "2"
    assert _both_alike(scope, b'{"a": 1}')[1]["body"] == b'{"a":1}'


@pytest.mark.parametrize("target", ["/hello", "/greet/x", "/state", "/missing"])
def test_http2_requests_without_a_body_answer_alike(target):
    scope = _scope("GET", target, [], b"")
    scope["http_version"] = "2"
    assert _both_alike(scope)[0]["status"] == (404 if target == "/missing" else 200)


def test_the_direct_path_sets_what_request_init_sets():
    # app_call sets a Request's attributes itself, without calling __init__: the same ones.
    seen = {}

    class Spy(Site):
        async def greet(self, name: str) -> str:
            seen["attributes"] = set(vars(self.request))
            return name

    assert _exchange(Spy(), "GET", "/greet/x", b"", [])[1]["body"] == b"x"
    made = set(vars(Request({"type": "http", "headers": []})))
    assert seen["attributes"] == made


def test_the_request_context_is_left_after_each_answer():
    app = Site()

    async def run():
        for target in ("/hello", "/whoami", "/stream", "/boom", "/missing", "/greet/x"):
            await _call(app, _scope("GET", target, [], b""), b"")
            assert current_request.get(None) is None

    asyncio.run(run())


def _connected_receive():
    messages = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()
        return {"type": "http.disconnect"}

    return receive


@pytest.mark.skipif(
    sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11),
    reason="the size of a coroutine is CPython 3.11's (the version the benchmarks run)",
)
def test_the_direct_path_coroutine_is_a_small_object():
    # Made per request: past 512 bytes CPython allocates it with malloc, not its own
    # small-object allocator (a local more in app_call cost each request ~250 instructions).
    coroutine = app_call(Site(), {"type": "http"}, _connected_receive(), _connected_receive())
    try:
        assert sys.getsizeof(coroutine) <= 512
    finally:
        coroutine.close()


_SPECIALIZED = """
import asyncio, dis, sys
sys.path.insert(0, "tests")
from test_fast_path import Site, _call, _scope
from micropie import fast_path, routing

app = Site()
target, function, attribute = sys.argv[1], sys.argv[2], sys.argv[3]
code = getattr(fast_path if function == "app_call" else routing, function)
reads = dis.get_instructions(code)
read = [i.offset for i in reads if i.argval == attribute and i.opname == "LOAD_ATTR"][0]

def read_kind():
    return [i.opname for i in dis.get_instructions(code, adaptive=True) if i.offset == read][0]

async def serve(count):
    kinds = set()
    for _ in range(count):
        await _call(app, _scope("GET", target, [(b"user-agent", b"test")], b""), b"")
        kinds.add(read_kind())
    return kinds

asyncio.run(serve(100))  # warmed up: specialized
print(sorted(asyncio.run(serve(200))))
"""


@pytest.mark.skipif(
    sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11),
    reason="CPython 3.11's specialized attribute reads",
)
@pytest.mark.parametrize(
    ("target", "function", "attribute", "kind"),
    [
        ("/hello", "app_call", "_direct", "LOAD_ATTR_WITH_HINT"),  # the app's dict
        ("/agent", "app_call", "_session", "LOAD_ATTR_INSTANCE_VALUE"),  # after request.headers
        ("/scope_keys", "bind_arguments", "binds_segments_only", "LOAD_ATTR_SLOT"),  # a plan
    ],
)
def test_attributes_the_direct_path_reads_stay_specialized(target, function, attribute, kind):
    # app_call reads app._direct and request._session on every request, bind_arguments
    # the handler's plan. Once an instance's __dict__ is read or written (cached_property
    # writes it), CPython 3.11 keeps it as a shared-key ("split") dict, and specialized
    # reads of its attributes failed every time: undone after 53 failures, redone 32
    # requests later, and so on (a generic lookup per read); a cached_property itself is
    # never specialized. Checked in a fresh interpreter: other tests' apps share these
    # functions' specializations.
    import subprocess

    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-c", _SPECIALIZED, target, function, attribute]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-2] == str([kind])
