"""SPEC §5: the Request object handlers see as ``self.request``."""

from __future__ import annotations

import asyncio

import pytest
from starlette.datastructures import URL
from starlette.requests import Request as StarletteRequest

import micropie
from micropie import App, HttpMiddleware, Request


def _inspect_app(read):
    class MyApp(App):
        async def look(self, *args, **kwargs):
            return read(self.request)

    return MyApp()


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda r: r.method, "PUT"),
        (lambda r: r.path_params, ["a", "b"]),
        (lambda r: r.query_params, {"x": ["1", "2"], "y": [""]}),
        (lambda r: r.query("x"), "1"),
        (lambda r: r.query("missing", "dflt"), "dflt"),
        (lambda r: r.query("missing"), None),
        (lambda r: r.headers["x-custom"], "Value"),
        (lambda r: all(k == k.lower() for k in r.headers), True),
        (lambda r: isinstance(r.headers, dict), True),
        (lambda r: r.cookies, {"c1": "v1", "c2": "v2"}),
        (lambda r: str(r.url), "http://testserver/look/a/b?x=1&x=2&y="),
        (lambda r: isinstance(r.url, URL), True),
        (lambda r: r.url.path, "/look/a/b"),
        (lambda r: list(r.client), ["testclient", 50000]),
        (lambda r: r.client.host, "testclient"),
        (lambda r: r.scope["type"], "http"),
        (lambda r: r.get_json, {}),
        (lambda r: r.body_params, {}),
        (lambda r: r.files, {}),
        (lambda r: r.session, {}),
        (lambda r: r.json(), {}),
        (lambda r: r.json("k", "d"), "d"),
        (lambda r: r.form("k", "d"), "d"),
    ],
)
def test_request_attributes(client_factory, read, expected):
    client = client_factory(_inspect_app(lambda r: [read(r)]))
    response = client.put(
        "/look/a/b?x=1&x=2&y=",
        headers={"X-Custom": "Value", "Cookie": "c1=v1; c2=v2"},
    )
    assert response.json() == [expected]


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda r: r.body_params, {"a": ["1", "2"], "b": ["x"]}),
        (lambda r: r.form("a"), "1"),
        (lambda r: r.form("b"), "x"),
        (lambda r: r.form("c", "none"), "none"),
        (lambda r: r.get_json, {}),
    ],
)
def test_request_form_body(client_factory, read, expected):
    client = client_factory(_inspect_app(lambda r: [read(r)]))
    assert client.post("/look", data={"a": ["1", "2"], "b": "x"}).json() == [expected]


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda r: r.get_json, {"n": 1, "s": "t", "l": [1], "b": True, "z": None}),
        (lambda r: r.json(), {"n": 1, "s": "t", "l": [1], "b": True, "z": None}),
        (lambda r: r.json("n"), 1),
        (lambda r: r.json("missing", 7), 7),
        (lambda r: r.body_params["s"], ["t"]),
        (lambda r: all(isinstance(v[0], str) for v in r.body_params.values()), True),
        (lambda r: sorted(r.body_params), ["b", "l", "n", "s", "z"]),
        (lambda r: r.form("s"), "t"),
    ],
)
def test_request_json_body(client_factory, read, expected):
    client = client_factory(_inspect_app(lambda r: [read(r)]))
    payload = {"n": 1, "s": "t", "l": [1], "b": True, "z": None}
    assert client.post("/look", json=payload).json() == [expected]


def test_json_array_body(client_factory):
    client = client_factory(_inspect_app(lambda r: [r.get_json, r.json("k", "d"), r.body_params]))
    assert client.post("/look", json=[1, 2]).json() == [[1, 2], "d", {}]


def test_repeated_headers_joined(client_factory):
    client = client_factory(_inspect_app(lambda r: r.headers["x-multi"]))
    response = client.get("/look", headers=[("X-Multi", "a"), ("X-Multi", "b")])
    assert response.text == "a, b"


@pytest.mark.parametrize(
    ("read", "expected"),
    [
        (lambda h: h.get("User-Agent"), "pie-client"),
        (lambda h: h.get("user-agent"), "pie-client"),
        (lambda h: h.get("X-MISSING"), None),
        (lambda h: h.get("X-Missing", "none"), "none"),
        (lambda h: h["X-Custom"], "Value"),
        (lambda h: ["User-Agent" in h, "x-custom" in h, "X-Missing" in h], [True, True, False]),
        (lambda h: sorted(h), ["accept", "accept-encoding", "connection", "host", "user-agent",
                               "x-custom"]),
        (lambda h: dict(h)["x-custom"], "Value"),
    ],
)  # fmt: skip
def test_headers_are_looked_up_in_any_case(client_factory, read, expected):
    client = client_factory(_inspect_app(lambda r: {"value": read(r.headers)}))
    response = client.get("/look", headers={"User-Agent": "pie-client", "X-Custom": "Value"})
    assert response.json() == {"value": expected}


def test_a_missing_header_is_a_key_error_in_any_case():
    headers = Request({"type": "http", "headers": [(b"x-a", b"1")]}).headers
    for name in ("X-B", "x-b"):
        with pytest.raises(KeyError):
            headers[name]
    assert headers.get(1) is None and 1 not in headers


def test_starlette_request_reachable(client_factory):
    class MyApp(App):
        async def look(self):
            starlette = self.request.starlette
            assert isinstance(starlette, StarletteRequest)
            return {
                "query": dict(starlette.query_params),
                "path": starlette.url.path,
                "body": (await starlette.body()).decode(),
            }

    response = client_factory(MyApp()).post("/look?a=1", content=b"raw")
    assert response.json() == {"query": {"a": "1"}, "path": "/look", "body": "raw"}


def test_starlette_request_sees_already_parsed_body(client_factory):
    class MyApp(App):
        async def look(self, a):
            return (await self.request.starlette.body()).decode()

    assert client_factory(MyApp()).post("/look", data={"a": "1"}).text == "a=1"


def test_request_is_micropie_request_in_sync_and_async(client_factory):
    class MyApp(App):
        async def a(self):
            return type(self.request).__name__

        def s(self):
            return type(self.request).__name__

    client = client_factory(MyApp())
    assert client.get("/a").text == "Request"
    assert client.get("/s").text == "Request"
    assert micropie.Request is Request


def test_current_request_context_variable(client_factory):
    class MyApp(App):
        async def a(self):
            return str(micropie.current_request.get() is self.request)

        def s(self):
            return str(micropie.current_request.get() is self.request)

    client = client_factory(MyApp())
    assert client.get("/a").text == "True"
    assert client.get("/s").text == "True"
    with pytest.raises(LookupError):
        micropie.current_request.get()


def test_request_per_task_isolated(client_factory):
    class MyApp(App):
        async def slow(self, tag):
            await asyncio.sleep(0.01)
            return self.request.path_params[0] + ":" + tag

    client = client_factory(MyApp())
    assert [client.get(f"/slow/{i}").text for i in range(3)] == ["0:0", "1:1", "2:2"]


def test_middleware_sets_arbitrary_attributes(client_factory):
    class Auth(HttpMiddleware):
        async def before_request(self, request):
            request.user = "alice"
            request.roles = ["admin"]
            return None

    class MyApp(App):
        async def me(self):
            return {"user": self.request.user, "roles": self.request.roles}

    app = MyApp()
    app.middlewares.append(Auth())
    assert client_factory(app).get("/me").json() == {"user": "alice", "roles": ["admin"]}


def test_middleware_reads_form_before_handler(client_factory):
    class Peek(HttpMiddleware):
        async def before_request(self, request):
            request.peeked = request.form("name")
            return None

    class MyApp(App):
        async def submit(self, name):
            return f"{self.request.peeked}/{name}"

    app = MyApp()
    app.middlewares.append(Peek())
    assert client_factory(app).post("/submit", data={"name": "bo"}).text == "bo/bo"


def test_regenerate_session_moves_data_to_fresh_id(client_factory):
    class MyApp(App):
        async def login(self):
            self.request.session["user"] = "u"
            return "in"

        async def elevate(self):
            self.request.regenerate_session()
            return self.request.session.get("user", "-")

        async def who(self):
            return self.request.session.get("user", "-")

    app = MyApp()
    client = client_factory(app)
    client.get("/login")
    first = client.cookies["session_id"]
    assert client.get("/elevate").text == "u"
    second = client.cookies["session_id"]
    assert second != first
    assert client.get("/who").text == "u"
    stale = client_factory(app, cookies={"session_id": first})
    assert stale.get("/who").text == "-"


def test_session_shortcut_on_app(client_factory):
    class MyApp(App):
        async def count(self):
            self.session["n"] = self.session.get("n", 0) + 1
            return str(self.request.session["n"])

    client = client_factory(MyApp())
    assert [client.get("/count").text for _ in range(3)] == ["1", "2", "3"]


def test_client_none_without_client_in_scope(client_factory):
    client = client_factory(_inspect_app(lambda r: [r.client is not None]))
    assert client.get("/look").json() == [True]
    assert Request({"type": "http", "headers": []}).client is None


_JSON_TYPE = {"content-type": "application/json"}


def test_request_repr_and_defaults():
    request = Request({"type": "http", "method": "POST", "path": "/p", "headers": []})
    assert request.method == "POST"
    assert request.path_params == [] and request.query_params == {}
    assert "POST" in repr(request)


def test_request_dicts_are_its_own_and_assignable():
    # session, files, get_json and body_params are made when first read: each request
    # still has its own, the same object on every read, and any of them can be replaced.
    first, second = (Request({"type": "http", "headers": []}) for _ in range(2))
    for name in ("session", "files", "get_json", "body_params"):
        mine = getattr(first, name)
        assert mine == {} and getattr(first, name) is mine
        mine["k"] = "v"
        assert getattr(second, name) == {}
    first.session = {"user": "alice"}
    first.get_json = None  # a JSON body "null"
    first.files = {}
    assert (first.session, first.get_json, first.files) == ({"user": "alice"}, None, {})


def test_headers_cookies_url_and_starlette_read_once_and_assignable():
    scope = {
        "type": "http", "method": "GET", "path": "/p", "query_string": b"", "scheme": "http",
        "server": ("h", 80), "headers": [(b"host", b"h"), (b"cookie", b"a=1")],
    }  # fmt: skip
    request = Request(scope)
    for name in ("headers", "cookies", "url", "starlette"):
        assert getattr(request, name) is getattr(request, name)  # made once
    assert (request.headers["host"], request.cookies, str(request.url)) == (
        "h",
        {"a": "1"},
        "http://h/p",
    )
    assert request.starlette.scope is scope
    other = StarletteRequest(dict(scope))
    request.headers = micropie.request.HeaderDict(host="elsewhere")
    request.cookies, request.url, request.starlette = {}, URL("http://x/"), other
    assert (request.headers.get("Host"), request.cookies) == ("elsewhere", {})
    assert (str(request.url), request.starlette) == ("http://x/", other)


def test_json_null_body_is_none(client_factory):
    class MyApp(App):
        async def look(self):
            return [self.request.get_json, self.request.body_params]

    response = client_factory(MyApp()).post("/look", content=b"null", headers=_JSON_TYPE)
    assert response.json() == [None, {}]


def test_url_includes_root_path(client_factory):
    client = client_factory(_inspect_app(lambda r: [str(r.url), r.path_params]), root_path="/app")
    assert client.get("/app/look/x").json() == ["http://testserver/app/look/x", ["x"]]


def test_undecodable_query_is_replaced_not_500(client_factory):
    client = client_factory(_inspect_app(lambda r: r.query_params))
    response = client.get("/look?a=%FF")
    assert (response.status_code, response.json()) == (200, {"a": ["\ufffd"]})


def test_request_files_present_for_upload(client_factory):
    class MyApp(App):
        async def up(self):
            upload = self.request.files["doc"]
            return [upload.filename, (await upload.read()).decode()]

    response = client_factory(MyApp()).post("/up", files={"doc": ("d.txt", b"data")})
    assert response.json() == ["d.txt", "data"]


def test_body_helper_returns_raw_body(client_factory):
    class MyApp(App):
        async def raw(self):
            return await self.request.body()

    response = client_factory(MyApp()).post("/raw", content=b"bytes!")
    assert response.content == b"bytes!"


def test_root_path_and_route_path_below_a_mount(client_factory):
    from starlette.applications import Starlette
    from starlette.routing import Mount

    class Shop(App):
        async def where(self):
            return {"root": self.request.root_path, "route": self.request.route_path}

    client = client_factory(Starlette(routes=[Mount("/shop", app=Shop())]))
    assert client.get("/shop/where").json() == {"root": "/shop", "route": "/where"}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"cookie", b"a=1; b=2")], {"a": "1", "b": "2"}),
        ([(b"Cookie", b"a=1"), (b"x-other", b"y"), (b"COOKIE", b"b=2")], {"a": "1", "b": "2"}),
        ([(b"cookie", b"a=1"), (b"cookie", b"a=2")], {"a": "2"}),
        ([(b"cookie", b"n=caf\xe9")], {"n": "caf\xe9"}),
        ([(b"x-cookie", b"a=1")], {}),
    ],
    ids=["one", "any-case-repeated", "last-wins", "latin-1", "other-header"],
)
def test_cookies_read_as_the_headers_show_them(headers, expected):
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers}
    request = Request(scope)
    assert request.cookies == expected
    assert request.headers.get("cookie", "") == "; ".join(
        value.decode("latin-1") for name, value in headers if name.lower() == b"cookie"
    )
