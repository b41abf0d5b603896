"""SPEC §11: helpers MicroPie applications call, and the seeds' examples run unchanged."""

from __future__ import annotations

import asyncio

import pytest

from micropie import App, HttpMiddleware, InMemorySessionBackend, SessionBackend


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/home", "/home"),
        ("https://example.com/a?b=1", "https://example.com/a?b=1"),
        ("/café", "/caf%C3%A9"),
        ("/naïve path/ü", "/na%C3%AFve%20path/%C3%BC"),
        ("/search?q=café&x=ü", "/search?q=café&x=ü"),
        ("/ünï?q=é", "/%C3%BCn%C3%AF?q=é"),
        ("/already%20encoded", "/already%20encoded"),
        ("/a#frag", "/a#frag"),
    ],
)
def test_redirect_tuple_percent_encodes_path_only(location, expected):
    assert App()._redirect(location) == (302, "", [("Location", expected)])


def test_redirect_extra_headers_and_status():
    status, body, headers = App()._redirect("/x", [("Set-Cookie", "a=1")], status=303)
    assert (status, body) == (303, "")
    assert headers == [("Location", "/x"), ("Set-Cookie", "a=1")]


def test_redirect_from_handler(client_factory):
    class MyApp(App):
        async def old(self):
            return self._redirect("/new", extra_headers=[("X-From", "old")])

        async def new(self):
            return "new"

    client = client_factory(MyApp())
    response = client.get("/old", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (302, "/new")
    assert response.headers["x-from"] == "old"
    assert client.get("/old").text == "new"


def test_redirect_non_ascii_from_handler_is_sendable(client_factory):
    class MyApp(App):
        async def go(self):
            return self._redirect("/café")

    response = client_factory(MyApp()).get("/go", follow_redirects=False)
    assert response.headers["location"] == "/caf%C3%A9"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ("session_id=abc", {"session_id": "abc"}),
        ("", {}),
        ('q="quoted"', {"q": "quoted"}),
        ("spaced = v ;x=y", {"spaced": "v", "x": "y"}),
    ],
)
def test_parse_cookies(header, expected):
    assert App()._parse_cookies(header) == expected
    assert App._parse_cookies(header) == expected


def test_render_template_helper_exists(tmp_path):
    (tmp_path / "t.html").write_text("{{ x }}")
    assert (
        asyncio.run(App(templates_dir=tmp_path)._render_template("t.html", x="<i>")) == "&lt;i&gt;"
    )


def test_send_response_from_hand_written_asgi(client_factory):
    class RawApp(App):
        async def __call__(self, scope, receive, send):
            if scope["type"] == "http" and scope["path"] == "/raw":
                await self._send_response(send, 201, "raw body", [("X-Raw", "1")])
                return
            await super().__call__(scope, receive, send)

        async def index(self):
            return "normal"

    client = client_factory(RawApp())
    response = client.get("/raw")
    assert (response.status_code, response.text) == (201, "raw body")
    assert response.headers["x-raw"] == "1"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert client.get("/").text == "normal"


def test_asgi_app_http_serves_http_for_a_hand_written_call(client_factory):
    """The ASGI README's ``_asgi_app_http(scope, receive, send)``, the app's HTTP entry point."""

    class Wrapped(App):
        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                scope["wrapped"] = True
                await self._asgi_app_http(scope, receive, send)
                return
            await super().__call__(scope, receive, send)

        async def index(self):
            return "wrapped" if self.request.scope.get("wrapped") else "plain"

    client = client_factory(Wrapped())
    assert client.get("/").text == "wrapped"
    assert client.get("/missing").status_code == 404
    assert client.get("/_asgi_app_http").status_code == 404


@pytest.mark.parametrize(
    ("body", "content", "ctype"),
    [
        ({"j": 1}, b'{"j":1}', "application/json"),
        (b"bytes", b"bytes", "text/html; charset=utf-8"),
    ],
)
def test_send_response_bodies(client_factory, body, content, ctype):
    class RawApp(App):
        async def __call__(self, scope, receive, send):
            await self._send_response(send, 200, body)

    response = client_factory(RawApp()).get("/")
    assert (response.content, response.headers["content-type"]) == (content, ctype)


def test_send_response_streams_from_hand_written_asgi(client_factory):
    """MicroPie's ``_send_response`` streamed generators; hand-written ASGI code relies on it."""

    class RawApp(App):
        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                await self._send_response(send, 200, iter(["a", "b"]))
                return
            await super().__call__(scope, receive, send)

    assert client_factory(RawApp()).get("/").text == "ab"


def test_session_backend_is_first_positional_argument(client_factory):
    class Recording(InMemorySessionBackend):
        saved: list[str] = []

        async def save(self, session_id, data, timeout):
            self.saved.append(session_id)
            await super().save(session_id, data, timeout)

    class MyApp(App):
        async def index(self):
            self.request.session["n"] = 1
            return "ok"

    backend = Recording()
    app = MyApp(backend)
    assert app.session_backend is backend
    client = client_factory(app)
    client.get("/")
    assert backend.saved == [client.cookies["session_id"]]


def test_custom_session_backend_subclass(client_factory):
    class DictBackend(SessionBackend):
        def __init__(self):
            self.store = {}

        async def load(self, session_id):
            return dict(self.store.get(session_id, {}))

        async def save(self, session_id, data, timeout):
            if data:
                self.store[session_id] = dict(data)
            else:
                self.store.pop(session_id, None)

    class MyApp(App):
        async def index(self):
            visits = self.request.session.get("visits", 0) + 1
            self.request.session["visits"] = visits
            return f"visits {visits}"

    backend = DictBackend()
    client = client_factory(MyApp(backend))
    assert [client.get("/").text for _ in range(3)] == ["visits 1", "visits 2", "visits 3"]
    assert list(backend.store.values()) == [{"visits": 3}]


# -- the seeds' examples (served for real, block by block, in tests/test_seed_readmes.py) --


def test_seed_wsgi_getting_started_index_with_default(client_factory):
    class MyApp(App):
        def index(self, name="Guest"):
            return f"Hello, {name}!"

    client = client_factory(MyApp())
    assert client.get("/").text == "Hello, Guest!"
    assert client.get("/?name=Ann").text == "Hello, Ann!"
    assert client.get("/Bob").text == "Hello, Bob!"


def test_seed_sessions_visits(client_factory):
    class MyApp(App):
        async def index(self):
            if "visits" not in self.session:
                self.request.session["visits"] = 1
            else:
                self.request.session["visits"] += 1
            return f"You have visited {self.request.session['visits']} times."

    client = client_factory(MyApp())
    assert client.get("/").text == "You have visited 1 times."
    assert client.get("/").text == "You have visited 2 times."


def test_seed_middleware_example_hooks_return_none(client_factory):
    calls: list[str] = []

    class MiddlewareExample(HttpMiddleware):
        async def before_request(self, request):
            calls.append("before")

        async def after_request(self, request, status_code, response_body, extra_headers):
            calls.append(f"after {status_code}")

    class Root(App):
        async def index(self):
            return "Hello, World!"

    app = Root()
    app.middlewares.append(MiddlewareExample())
    assert client_factory(app).get("/").text == "Hello, World!"
    assert calls == ["before", "after 200"]


def test_seed_response_formats(client_factory):
    class MyApp(App):
        async def s(self):
            return "string"

        async def j(self):
            return {"json": True}

        async def t2(self):
            return 201, "created"

        async def t3(self):
            return 200, "h", [("X-H", "1")]

    client = client_factory(MyApp())
    assert client.get("/s").text == "string"
    assert client.get("/j").json() == {"json": True}
    assert client.get("/t2").status_code == 201
    assert client.get("/t3").headers["x-h"] == "1"


def test_seed_request_attributes_exist(client_factory):
    class MyApp(App):
        async def index(self):
            r = self.request
            names = ["scope", "method", "path_params", "query_params", "body_params",
                     "get_json", "session", "files", "headers"]  # fmt: skip
            return {name: hasattr(r, name) for name in names}

    assert all(client_factory(MyApp()).get("/").json().values())


def test_redirect_with_non_latin1_query_is_sent(client_factory):
    from urllib.parse import unquote

    class MyApp(App):
        async def go(self):
            return self._redirect("/s?q=☃")

    response = client_factory(MyApp(), raise_server_exceptions=False).get(
        "/go", follow_redirects=False
    )
    assert response.status_code == 302
    raw = dict(response.headers.raw)[b"location"]
    assert unquote(raw.decode("utf-8")) == "/s?q=☃"


def test_redirect_absolute_url_encodes_path_only():
    location = App()._redirect("https://example.com/café?q=é")[2][0][1]
    assert location == "https://example.com/caf%C3%A9?q=é"


# -- user attributes of natural names never clobber App's own state (issue 13) --------


class _PathRouter(HttpMiddleware):
    """A MicroPie-style explicit router a subclass keeps as ``self.router``."""

    def __init__(self):
        self.routes: dict[str, str] = {}

    def add_route(self, path: str, handler: str) -> None:
        self.routes[path] = handler

    async def before_request(self, request):
        handler = self.routes.get(request.scope["path"])
        if handler is not None:
            request._route_handler = handler
        return None

    async def after_request(self, request, status_code, response_body, extra_headers):
        return None


def test_subclass_may_keep_its_own_router(client_factory):
    class MyApp(App):
        def __init__(self):
            super().__init__()
            self.router = _PathRouter()
            self.ws_router = _PathRouter()
            self.middlewares.append(self.router)
            self.router.add_route("/api/records", "_records")

        async def _records(self):
            return {"records": [1, 2]}

        async def index(self):
            return "home"

    client = client_factory(MyApp())
    assert client.get("/api/records").json() == {"records": [1, 2]}
    assert client.get("/").text == "home"
    assert client.get("/router").status_code == 404  # an attribute, not a handler


_NATURAL_NAMES = ["router", "routes", "sessions", "limits", "templates", "handlers",
                  "ws_handlers", "debug", "errors", "lifespan", "websocket_origins",
                  "middleware", "middleware_stack", "env"]  # fmt: skip


@pytest.mark.parametrize("name", _NATURAL_NAMES)
def test_user_attribute_of_a_natural_name_leaves_the_app_working(client_factory, name):
    from starlette.responses import PlainTextResponse

    class MyApp(App):
        def __init__(self):
            super().__init__()
            setattr(self, name, {"mine": True})

        async def index(self):
            self.request.session["n"] = self.request.session.get("n", 0) + 1
            return f"{self.request.session['n']} {getattr(self, name)['mine']}"

    app = MyApp()
    app.mount("/static", PlainTextResponse("mounted"))
    client = client_factory(app)
    assert [client.get("/").text for _ in range(2)] == ["1 True", "2 True"]
    assert client.get("/static/x").text == "mounted"
    assert client.get("/missing").status_code == 404


def test_app_sets_only_micropie_public_attributes_on_the_instance():
    public = {name for name in vars(App()) if not name.startswith("_")}
    assert public == {"middlewares", "ws_middlewares", "startup_handlers", "shutdown_handlers"}


def test_session_backend_assigned_after_init_is_used(client_factory):
    backend = InMemorySessionBackend()

    class MyApp(App):
        def __init__(self):
            super().__init__()
            self.session_backend = backend

        async def index(self):
            self.request.session["seen"] = True
            return "ok"

    client = client_factory(MyApp())
    client.get("/")
    assert asyncio.run(backend.load(client.cookies["session_id"])) == {"seen": True}


class _SignedSessionIds(HttpMiddleware):
    """MicroPie's signed-session example: its own signed ``session_id`` cookie in hooks."""

    def __init__(self, app: App, secret_key: str):
        from itsdangerous import URLSafeTimedSerializer

        self.app = app
        self.serializer = URLSafeTimedSerializer(secret_key)

    def _verified_id(self, request) -> str | None:
        from itsdangerous import BadSignature

        cookie = self.app._parse_cookies(request.headers.get("cookie", "")).get("session_id")
        try:
            return self.serializer.loads(cookie or "")
        except BadSignature:
            return None

    async def before_request(self, request):
        session_id = self._verified_id(request)
        request.session = await self.app.session_backend.load(session_id) if session_id else {}
        return None

    async def after_request(self, request, status_code, response_body, extra_headers):
        import uuid

        if request.session:
            session_id = self._verified_id(request)
            if session_id is None:
                session_id = str(uuid.uuid4())
                signed = self.serializer.dumps(session_id)
                extra_headers.append(("Set-Cookie", f"session_id={signed}; Path=/; HttpOnly"))
            await self.app.session_backend.save(session_id, request.session, 3600)
        return None


def test_hook_that_sets_the_session_keeps_its_own_cookie(client_factory):
    class Root(App):
        async def index(self):
            self.request.session["visits"] = self.request.session.get("visits", 0) + 1
            return f"You have visited {self.request.session['visits']} times."

    app = Root()
    app.middlewares.append(_SignedSessionIds(app, "my-secret-key"))
    client = client_factory(app)
    first = client.get("/")
    assert len(first.headers.get_list("set-cookie")) == 1  # the hook's, not micropie's
    signed = client.cookies["session_id"]
    assert "." in signed  # itsdangerous-signed, not micropie's bare UUID
    texts = [client.get("/").text for _ in range(2)]
    assert texts == ["You have visited 2 times.", "You have visited 3 times."]
    assert client.cookies["session_id"] == signed
    assert "set-cookie" not in client.get("/").headers
