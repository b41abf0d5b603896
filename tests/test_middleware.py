"""Middleware hooks, explicit routing, sub-app hand-off and Starlette middleware (SPEC §7)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.websockets import WebSocketDisconnect

from examples.middleware.rate_limit.app import RateLimiter
from micropie import App, HttpMiddleware, WebSocketMiddleware, subapps

# -- before_request / after_request ---------------------------------------------------


def test_rate_limiter_answers_429_with_retry_after(client_factory):
    class Root(App):
        async def index(self):
            return "ok"

    app = Root()
    app.middlewares.append(RateLimiter(limit=2, window=60))
    client = client_factory(app)
    assert [client.get("/").status_code for _ in range(2)] == [200, 200]
    response = client.get("/")
    assert (response.status_code, response.text) == (429, "429 Too Many Requests")
    assert 1 <= int(response.headers["retry-after"]) <= 60


def test_short_circuit_does_not_call_the_handler(client_factory):
    calls = []

    class Deny(HttpMiddleware):
        async def before_request(self, request):
            return {"status_code": 401, "body": "no"}

    class Root(App):
        async def index(self):
            calls.append(1)
            return "ok"

    app = Root()
    app.middlewares.append(Deny())
    response = client_factory(app).get("/")
    assert (response.status_code, response.text, calls) == (401, "no", [])


def test_after_hook_rewrites_status_body_and_headers(client_factory):
    class Rewrite(HttpMiddleware):
        async def after_request(self, request, status_code, response_body, extra_headers):
            if request.path_params == ["secret"]:
                return {
                    "status_code": 451,
                    "body": f"censored {status_code}: {response_body}",
                    "headers": [*extra_headers, ("X-Censored", "yes")],
                }
            return None

    class Root(App):
        async def index(self, word):
            return 200, word, [("X-Word", word)]

    app = Root()
    app.middlewares.append(Rewrite())
    client = client_factory(app)
    plain = client.get("/hello")
    assert (plain.status_code, plain.text, plain.headers["x-word"]) == (200, "hello", "hello")
    response = client.get("/secret")
    assert response.status_code == 451
    assert response.text == "censored 200: secret"
    assert response.headers["x-censored"] == "yes"
    assert response.headers["x-word"] == "secret"


def test_after_hook_may_override_only_some_fields(client_factory):
    class Stamp(HttpMiddleware):
        async def after_request(self, request, status_code, response_body, extra_headers):
            return {"headers": {"X-Stamp": "1"}}

    class Root(App):
        async def index(self):
            return 201, "made"

    app = Root()
    app.middlewares.append(Stamp())
    response = client_factory(app).get("/")
    assert (response.status_code, response.text) == (201, "made")
    assert response.headers["x-stamp"] == "1"


def test_hooks_run_in_list_order(client_factory):
    log: list[str] = []

    class Named(HttpMiddleware):
        def __init__(self, name: str) -> None:
            self.name = name

        async def before_request(self, request):
            log.append(f"before {self.name}")
            request.trail = [*getattr(request, "trail", []), self.name]

        async def after_request(self, request, status_code, response_body, extra_headers):
            log.append(f"after {self.name}")
            return {"body": f"{response_body}+{self.name}"}

    class Root(App):
        async def index(self):
            log.append("handler")
            return ",".join(self.request.trail)

    app = Root()
    app.middlewares.extend([Named("a"), Named("b"), Named("c")])
    response = client_factory(app).get("/")
    assert response.text == "a,b,c+a+b+c"
    assert log == ["before a", "before b", "before c", "handler", "after a", "after b", "after c"]


def test_first_short_circuit_stops_later_before_hooks(client_factory):
    log: list[str] = []

    class Log(HttpMiddleware):
        def __init__(self, name: str, answer: dict[str, Any] | None = None) -> None:
            self.name, self.answer = name, answer

        async def before_request(self, request):
            log.append(self.name)
            return self.answer

    class Root(App):
        async def index(self):
            return "handler"

    app = Root()
    app.middlewares.extend([Log("a"), Log("b", {"status_code": 403, "body": "b"}), Log("c")])
    response = client_factory(app).get("/")
    assert (response.status_code, response.text, log) == (403, "b", ["a", "b"])


def test_after_hooks_also_see_a_before_hook_answer(client_factory):
    class Deny(HttpMiddleware):
        async def before_request(self, request):
            return {"status_code": 429, "body": "slow down", "headers": {"Retry-After": "3"}}

        async def after_request(self, request, status_code, response_body, extra_headers):
            return {"headers": [*extra_headers, ("X-Seen", str(status_code))]}

    class Root(App):
        async def index(self):
            return "ok"

    app = Root()
    app.middlewares.append(Deny())
    response = client_factory(app).get("/")
    assert (response.status_code, response.text) == (429, "slow down")
    assert (response.headers["retry-after"], response.headers["x-seen"]) == ("3", "429")


@pytest.mark.parametrize("hook", ["before_request", "after_request"])
def test_hook_returning_a_non_dict_is_a_500_naming_the_hook(client_factory, caplog, hook):
    class Bad(HttpMiddleware):
        async def before_request(self, request):
            return "nope" if hook == "before_request" else None

        async def after_request(self, request, status_code, response_body, extra_headers):
            return ("nope",)

    class Root(App):
        async def index(self):
            return "ok"

    app = Root()
    app.middlewares.append(Bad())
    response = client_factory(app, raise_server_exceptions=False).get("/")
    assert response.status_code == 500
    assert f"{hook} must return None or a dict" in caplog.text


class FormToken(HttpMiddleware):
    """A CSRF-like check reading the parsed form in ``before_request``."""

    async def before_request(self, request):
        if request.method == "POST" and request.form("token") != "let-me-in":
            return {"status_code": 403, "body": f"bad token {request.form('token')!r}"}
        return None


def test_before_hook_reads_parsed_form_and_handler_still_binds(client_factory):
    class Root(App):
        async def submit(self, name, token):
            return f"{name}:{token}"

    app = Root()
    app.middlewares.append(FormToken())
    client = client_factory(app)
    ok = client.post("/submit", data={"name": "ann", "token": "let-me-in"})
    assert (ok.status_code, ok.text) == (200, "ann:let-me-in")
    bad = client.post("/submit", data={"name": "ann", "token": "nope"})
    assert (bad.status_code, bad.text) == (403, "bad token 'nope'")
    json_ok = client.post("/submit", json={"name": "bob", "token": "let-me-in"})
    assert json_ok.text == "bob:let-me-in"


def test_hooks_see_the_session_and_changes_are_saved(client_factory):
    class Count(HttpMiddleware):
        async def before_request(self, request):
            request.session["hits"] = request.session.get("hits", 0) + 1

        async def after_request(self, request, status_code, response_body, extra_headers):
            request.session["last_status"] = status_code

    class Root(App):
        async def index(self):
            return f"{self.session['hits']} {self.session.get('last_status')}"

    app = Root()
    app.middlewares.append(Count())
    client = client_factory(app)
    assert client.get("/").text == "1 None"
    assert client.get("/").text == "2 200"
    assert client.get("/").text == "3 200"


def test_middleware_sees_unknown_paths_and_404_follows(client_factory):
    seen: list[str] = []

    class Spy(HttpMiddleware):
        async def before_request(self, request):
            seen.append(request.scope["path"])

    class Root(App):
        async def index(self):
            return "home"

    app = Root()
    app.middlewares.append(Spy())
    client = client_factory(app)
    assert client.get("/nowhere/at/all").status_code == 404
    assert seen == ["/nowhere/at/all"]


# -- explicit routing -------------------------------------------------------------------


class PatternRouter(HttpMiddleware):
    """Maps ``/users/{id:int}``-style patterns to handler names (private ones too)."""

    def __init__(self, routes: dict[str, str]) -> None:
        from starlette.routing import compile_path

        self.routes = [(compile_path(pattern), name) for pattern, name in routes.items()]

    async def before_request(self, request):
        path = request.scope["path"]
        for (regex, _fmt, convertors), name in self.routes:
            match = regex.match(path)
            if match:
                request._route_handler = name
                request.path_params = [
                    str(convertors[key].convert(value)) for key, value in match.groupdict().items()
                ]
                return None
        return None


def test_explicit_routing_to_private_handler_with_path_params(client_factory):
    class Root(App):
        async def _user(self, user_id: int):
            return {"user": user_id}

        async def _post(self, user_id: int, slug: str):
            return {"user": user_id, "post": slug}

        async def users(self):
            return "implicit"

    app = Root()
    app.middlewares.append(
        PatternRouter({"/users/{id:int}": "_user", "/users/{id:int}/posts/{slug}": "_post"})
    )
    client = client_factory(app)
    assert client.get("/users/42").json() == {"user": 42}
    assert client.get("/users/7/posts/hello").json() == {"user": 7, "post": "hello"}
    assert client.get("/users").text == "implicit"
    assert client.get("/users/abc").status_code == 404  # implicit `users` takes no segment
    assert client.get("/_user/42").status_code == 404  # private names have no implicit URL


def test_explicit_routing_to_unknown_handler_is_404(client_factory):
    class Route(HttpMiddleware):
        async def before_request(self, request):
            request._route_handler = "missing"

    class Root(App):
        async def index(self):
            return "home"

    app = Root()
    app.middlewares.append(Route())
    assert client_factory(app).get("/").status_code == 404


def test_explicit_routing_binds_query_and_form_too(client_factory):
    class Route(HttpMiddleware):
        async def before_request(self, request):
            if request.scope["path"].startswith("/api/greet/"):
                request._route_handler = "_greet"
                request.path_params = request.scope["path"].split("/")[3:]

    class Root(App):
        async def _greet(self, name, punctuation="!"):
            return f"hi {name}{punctuation}"

    app = Root()
    app.middlewares.append(Route())
    client = client_factory(app)
    assert client.get("/api/greet/ann").text == "hi ann!"
    assert client.get("/api/greet/ann?punctuation=?").text == "hi ann?"
    assert client.post("/api/greet/bo", data={"punctuation": "."}).text == "hi bo."


# -- sub-application hand-off -------------------------------------------------------------


class Mounter(HttpMiddleware):
    """Hands ``/<prefix>/...`` to the app mounted under that prefix."""

    def __init__(self, mounts: dict[str, Any], explicit_mount_path: bool = False) -> None:
        self.mounts = mounts
        self.explicit = explicit_mount_path

    async def before_request(self, request):
        path = request.scope["path"][len(request.scope.get("root_path", "")) :]
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                request._subapp = app
                request._subapp_path = path[len(prefix) :] or "/"
                if self.explicit:
                    request._subapp_mount_path = prefix
                return None
        return None


class ShopApp(App):
    async def index(self):
        req = self.request
        return {
            "app": "shop",
            "path": req.scope["path"],
            "root_path": req.scope["root_path"],
            "url": str(req.url),
            "segments": req.path_params,
        }

    async def item(self, item_id: int):
        return {"item": item_id, "root_path": self.request.scope["root_path"]}

    async def buy(self, item: str, qty: int = 1):
        self.session.setdefault("cart", []).append([item, qty])
        return {"bought": item, "qty": qty, "cart": self.session["cart"]}

    async def upload(self, note: str = ""):
        return {"note": note, "json": self.request.get_json}


async def starlette_echo(request: StarletteRequest) -> JSONResponse:
    body = await request.body()
    request.session["seen"] = request.session.get("seen", 0) + 1
    return JSONResponse(
        {
            "app": "starlette",
            "path": request.url.path,
            "route_path": request.scope["path"][len(request.scope["root_path"]) :],
            "root_path": request.scope["root_path"],
            "body": body.decode(),
            "session": dict(request.session),
            "url_for": str(request.url_for("echo")),
        }
    )


def make_parent() -> App:
    class Parent(App):
        async def index(self):
            return "parent"

        async def whoami(self):
            return dict(self.session)

        async def login(self, user):
            self.session["user"] = user
            return "ok"

    starlette_app = Starlette(
        routes=[Route("/echo", starlette_echo, methods=["GET", "POST"], name="echo")]
    )
    app = Parent()
    app.middlewares.append(Mounter({"/shop": ShopApp(), "/api": starlette_app}))
    return app


def test_subapp_micropie_receives_path_and_root_path(client_factory):
    client = client_factory(make_parent())
    assert client.get("/").text == "parent"
    assert client.get("/shop").json() == {
        "app": "shop",
        "path": "/shop/",
        "root_path": "/shop",
        "url": "http://testserver/shop/",
        "segments": [],
    }
    assert client.get("/shop/item/5").json() == {"item": 5, "root_path": "/shop"}
    assert client.get("/shop/nope/x").status_code == 404


def test_subapp_micropie_gets_body_and_shares_session(client_factory):
    client = client_factory(make_parent())
    client.post("/login", data={"user": "ann"})
    first = client.post("/shop/buy", data={"item": "tea", "qty": "2"})
    assert first.json() == {"bought": "tea", "qty": 2, "cart": [["tea", 2]]}
    second = client.post("/shop/buy", json={"item": "jam"})
    assert second.json()["cart"] == [["tea", 2], ["jam", 1]]
    assert client.get("/whoami").json() == {"user": "ann", "cart": [["tea", 2], ["jam", 1]]}
    upload = client.post("/shop/upload?note=n", json={"a": [1, 2]})
    assert upload.json() == {"note": "n", "json": {"a": [1, 2]}}


def test_subapp_micropie_receives_an_upload(client_factory):
    class Photos(App):
        async def upload(self, photo, caption=""):
            return {"name": photo.filename, "size": len(await photo.read()), "caption": caption}

    class Root(App):
        pass

    app = Root()
    app.middlewares.append(Mounter({"/photos": Photos()}))
    files = {"photo": ("cat.jpg", b"x" * 300_000)}
    response = client_factory(app).post("/photos/upload", data={"caption": "c"}, files=files)
    assert response.json() == {"name": "cat.jpg", "size": 300_000, "caption": "c"}


def test_subapp_session_started_inside_subapp_sets_cookie(client_factory):
    client = client_factory(make_parent())
    response = client.post("/shop/buy", data={"item": "tea"})
    assert "session_id=" in response.headers["set-cookie"]
    assert client.get("/whoami").json() == {"cart": [["tea", 1]]}


def test_subapp_starlette_receives_path_body_and_session(client_factory):
    client = client_factory(make_parent())
    client.post("/login", data={"user": "bo"})
    response = client.post("/api/echo", content=b"raw bytes", headers={"content-type": "x/y"})
    assert response.json() == {
        "app": "starlette",
        "path": "/api/echo",
        "route_path": "/echo",
        "root_path": "/api",
        "body": "raw bytes",
        "session": {"user": "bo", "seen": 1},
        "url_for": "http://testserver/api/echo",
    }
    form = client.post("/api/echo", data={"a": "1"})
    assert form.json()["body"] == "a=1"  # parsed by the parent, replayed to the sub-app
    assert client.get("/whoami").json() == {"user": "bo", "seen": 2}


def test_subapp_with_explicit_mount_path(client_factory):
    class Root(App):
        async def index(self):
            return "root"

    app = Root()
    app.middlewares.append(Mounter({"/shop": ShopApp()}, explicit_mount_path=True))
    client = client_factory(app)
    assert client.get("/shop/item/3").json() == {"item": 3, "root_path": "/shop"}


def test_subapp_inside_a_starlette_mount_extends_root_path(client_factory):
    from starlette.routing import Mount

    outer = Starlette(routes=[Mount("/outer", app=make_parent())])
    client = client_factory(outer)
    body = client.get("/outer/shop/").json()
    assert (body["path"], body["root_path"]) == ("/outer/shop/", "/outer/shop")
    assert client.get("/outer/api/echo").json()["url_for"] == "http://testserver/outer/api/echo"


def test_nested_handoff_keeps_one_session(client_factory):
    inner = ShopApp()

    class Middle(App):
        pass

    middle = Middle()
    middle.middlewares.append(Mounter({"/shop": inner}))
    app = make_parent()
    app.middlewares.insert(0, Mounter({"/mall": middle}))
    client = client_factory(app)
    client.post("/login", data={"user": "cy"})
    response = client.post("/mall/shop/buy", data={"item": "pen"})
    assert response.json()["cart"] == [["pen", 1]]
    assert client.get("/mall/shop/").json()["root_path"] == "/mall/shop"
    assert client.get("/whoami").json() == {"user": "cy", "cart": [["pen", 1]]}


def test_subapp_regenerate_session_moves_the_id(client_factory):
    class Auth(App):
        async def index(self):
            self.request.regenerate_session()
            self.session["fresh"] = True
            return "ok"

    app = make_parent()
    app.middlewares.insert(0, Mounter({"/auth": Auth()}))
    client = client_factory(app)
    client.post("/login", data={"user": "di"})
    old = client.cookies["session_id"]
    response = client.get("/auth")
    assert response.text == "ok"
    assert client.cookies["session_id"] != old
    assert client.get("/whoami").json() == {"user": "di", "fresh": True}


# -- websocket middleware ---------------------------------------------------------------


def test_websocket_middleware_rejects_with_1008_and_passes(client_factory):
    class TokenCheck(WebSocketMiddleware):
        def __init__(self) -> None:
            self.finished: list[str] = []

        async def before_websocket(self, request):
            if request.query("token") != "good":
                return {"code": 1008, "reason": "bad token"}
            request.user = "ann"
            return None

        async def after_websocket(self, request):
            self.finished.append(request.user)

    class Root(App):
        async def ws_echo(self, ws):
            await ws.accept()
            text = await ws.receive_text()
            await ws.send_text(f"{self.request.user}: {text}")
            await ws.close()

    app = Root()
    check = TokenCheck()
    app.ws_middlewares.append(check)
    client = client_factory(app)
    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect("/echo?token=bad") as ws:
            ws.receive_text()
    assert refused.value.code == 1008
    assert refused.value.reason == "bad token"
    with client.websocket_connect("/echo?token=good") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "ann: hi"
    assert check.finished == ["ann"]


# -- Starlette middleware around the whole app ------------------------------------------


class Hello(App):
    async def index(self):
        return "hello " * 200


def test_starlette_cors_middleware_via_constructor(client_factory):
    app = Hello(middleware=[Middleware(CORSMiddleware, allow_origins=["https://ok.example"])])
    client = client_factory(app)
    allowed = client.get("/", headers={"Origin": "https://ok.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://ok.example"
    other = client.get("/", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    preflight = client.options(
        "/",
        headers={"Origin": "https://ok.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200


def test_starlette_gzip_middleware_via_add_middleware(client_factory):
    app = Hello()
    app.add_middleware(GZipMiddleware, minimum_size=100)
    client = client_factory(app)
    response = client.get("/", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "hello " * 200  # httpx decodes it
    small = client.get("/missing", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers  # under minimum_size


def test_starlette_trusted_host_middleware(client_factory):
    app = Hello()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["good.example"])
    good = client_factory(app, base_url="http://good.example")
    assert good.get("/").status_code == 200
    bad = client_factory(app, base_url="http://bad.example")
    response = bad.get("/")
    assert (response.status_code, response.text) == (400, "Invalid host header")


def test_starlette_middleware_wraps_hook_answers_and_errors(client_factory):
    class Deny(HttpMiddleware):
        async def before_request(self, request):
            return {"status_code": 403, "body": "denied"}

    app = Hello(middleware=[Middleware(CORSMiddleware, allow_origins=["*"])])
    app.middlewares.append(Deny())
    response = client_factory(app).get("/", headers={"Origin": "https://x.example"})
    assert (response.status_code, response.text) == (403, "denied")
    assert response.headers["access-control-allow-origin"] == "*"


def test_add_middleware_after_start_is_refused(client_factory):
    app = Hello()
    client_factory(app).get("/")
    with pytest.raises(RuntimeError, match="after the application has started"):
        app.add_middleware(GZipMiddleware)


def test_subapp_starlette_multipart_is_logged_as_not_forwarded(client_factory, caplog, monkeypatch):
    async def upload(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"body": (await request.body()).decode()})

    class Root(App):
        pass

    app = Root()
    app.middlewares.append(
        Mounter({"/api": Starlette(routes=[Route("/up", upload, methods=["POST"])])})
    )
    monkeypatch.setattr(subapps, "_empty_multipart_warned", False)
    caplog.set_level(logging.DEBUG, "micropie")
    client = client_factory(app)
    for _ in range(3):  # each client upload: one warning, not one per request
        response = client.post("/api/up", files={"f": ("x.txt", b"hello")})
        assert response.json() == {"body": ""}
    said = [r for r in caplog.records if "reaches a non-micropie app empty" in r.getMessage()]
    assert [r.levelno for r in said] == [logging.WARNING, logging.DEBUG, logging.DEBUG]
