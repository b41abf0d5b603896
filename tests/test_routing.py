"""SPEC §1: which path reaches which handler, methods, HEAD and the handler table."""

from __future__ import annotations

import functools

import pytest

import micropie
from micropie import App


def test_root_and_index_call_index(client_factory):
    class MyApp(App):
        async def index(self):
            return "home"

    client = client_factory(MyApp())
    assert client.get("/").text == "home"
    assert client.get("/index").text == "home"


@pytest.mark.parametrize("path", ["/greet", "/greet/", "/greet//"])
def test_trailing_slash_is_ignored(client_factory, path):
    class MyApp(App):
        async def greet(self):
            return "hi"

    response = client_factory(MyApp()).get(path)
    assert (response.status_code, response.text) == (200, "hi")


def test_segments_arrive_decoded(client_factory):
    class MyApp(App):
        async def echo(self, word):
            return word

    client = client_factory(MyApp())
    assert client.get("/echo/caf%C3%A9%20au%20lait").text == "café au lait"


def test_no_handler_is_404(client_factory):
    class MyApp(App):
        async def greet(self):
            return "hi"

    response = client_factory(MyApp()).get("/missing")
    assert (response.status_code, response.text) == (404, "404 Not Found")


def test_no_index_is_404(client_factory):
    class MyApp(App):
        async def greet(self):
            return "hi"

    assert client_factory(MyApp()).get("/").status_code == 404


def test_sync_and_async_handlers(client_factory):
    class MyApp(App):
        def sync(self):
            return "sync"

        async def asynchronous(self):
            return "async"

    client = client_factory(MyApp())
    assert client.get("/sync").text == "sync"
    assert client.get("/asynchronous").text == "async"


def test_inherited_handlers_route(client_factory):
    class Base(App):
        async def shared(self):
            return "base"

        async def over(self):
            return "base"

    class Child(Base):
        async def over(self):
            return "child"

    client = client_factory(Child())
    assert client.get("/shared").text == "base"
    assert client.get("/over").text == "child"


def test_staticmethod_and_classmethod_route(client_factory):
    class MyApp(App):
        @staticmethod
        def stat(x):
            return f"static {x}"

        @classmethod
        def klass(cls):
            return cls.__name__

    client = client_factory(MyApp())
    assert client.get("/stat/1").text == "static 1"
    assert client.get("/klass").text == "MyApp"


class _Calls:
    """Records calls made by handlers that must never be reached."""

    def __init__(self) -> None:
        self.names: list[str] = []


def _never_routable_app(calls: _Calls) -> App:
    class Callable:
        def __call__(self):
            calls.names.append("callable-class-attr")
            return "called"

    class MyApp(App):
        data = {"a": 1}
        count = 3
        nested = Callable

        def _private(self):
            calls.names.append("_private")
            return "private"

        def __secret__(self):
            calls.names.append("__secret__")
            return "secret"

        async def ws_chat(self, ws):
            calls.names.append("ws_chat")
            return "ws"

        @property
        def prop(self):
            calls.names.append("prop")
            return lambda: "prop"

        @functools.cached_property
        def cached(self):
            calls.names.append("cached")
            return lambda: "cached"

    app = MyApp()
    app.mutable_attr = ["x"]
    return app


@pytest.mark.parametrize(
    "path",
    [
        "/_private",
        "/__secret__",
        "/_x",
        "/__class__",
        "/__init__",
        "/__call__",
        "/__dict__",
        "/ws_chat",
        "/ws_x",
        "/run",
        "/mount",
        "/request",
        "/session",
        "/middlewares",
        "/ws_middlewares",
        "/router",
        "/session_backend",
        "/startup_handlers",
        "/shutdown_handlers",
        "/add_middleware",
        "/wsgi_app",
        "/prop",
        "/cached",
        "/data",
        "/count",
        "/nested",
        "/mutable_attr",
    ],
)
def test_never_routable_answers_404_without_calling(client_factory, path):
    calls = _Calls()
    app = _never_routable_app(calls)
    client = client_factory(app, raise_server_exceptions=False)
    response = client.get(path)
    assert (response.status_code, response.text) == (404, "404 Not Found")
    assert calls.names == []


def test_never_routable_with_index_taking_args_goes_to_index(client_factory):
    """`index(*args)` takes unknown first segments; reserved names are not handlers."""

    class MyApp(App):
        async def index(self, *parts):
            return "index:" + "/".join(parts)

    client = client_factory(MyApp())
    assert client.get("/run").text == "index:run"
    assert client.get("/_x/y").text == "index:_x/y"


def test_app_attribute_overridden_by_subclass_is_routable(client_factory):
    class MyApp(App):
        def run(self):
            return "my run"

    assert client_factory(MyApp()).get("/run").text == "my run"


def test_run_is_not_called_over_http(client_factory, monkeypatch):
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **k: started.append(a))
    response = client_factory(App()).get("/run")
    assert response.status_code == 404
    assert started == []


def test_instance_handler_replacement_is_honoured_at_once(client_factory):
    class MyApp(App):
        async def greet(self, name):
            return f"Hello {name}"

    app = MyApp()
    client = client_factory(app)
    assert client.get("/greet/ann").text == "Hello ann"
    app.greet = lambda name: f"Hi {name}"
    assert client.get("/greet/ann").text == "Hi ann"
    app.greet = lambda name, punct="!": f"Yo {name}{punct}"
    assert client.get("/greet/ann?punct=?").text == "Yo ann?"


def test_handler_added_on_instance_is_routable(client_factory):
    app = App()
    client = client_factory(app)
    assert client.get("/added").status_code == 404
    app.added = lambda x="0": f"added {x}"
    assert client.get("/added/5").text == "added 5"


def test_handler_assigned_on_instance_private_stays_404(client_factory):
    app = App()
    app._hidden = lambda: "hidden"
    app.ws_thing = lambda: "ws"
    client = client_factory(app)
    assert client.get("/_hidden").status_code == 404
    assert client.get("/ws_thing").status_code == 404


def test_handler_deleted_from_instance_falls_back_to_class(client_factory):
    class MyApp(App):
        async def greet(self):
            return "class"

    app = MyApp()
    client = client_factory(app)
    app.greet = lambda: "instance"
    assert client.get("/greet").text == "instance"
    del app.greet
    assert client.get("/greet").text == "class"


def test_instance_non_callable_shadowing_handler_is_404(client_factory):
    class MyApp(App):
        async def greet(self):
            return "class"

    app = MyApp()
    app.greet = "not callable"
    assert client_factory(app).get("/greet").status_code == 404


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "index:"),
        ("/a", "index:a"),
        ("/a/b/c", "index:a/b/c"),
    ],
)
def test_index_star_args_takes_unknown_segments(client_factory, path, expected):
    class MyApp(App):
        async def index(self, *parts):
            return "index:" + "/".join(parts)

    assert client_factory(MyApp()).get(path).text == expected


def test_index_positional_takes_unknown_segment(client_factory):
    class MyApp(App):
        async def index(self, slug="home"):
            return f"page {slug}"

    client = client_factory(MyApp())
    assert client.get("/").text == "page home"
    assert client.get("/about").text == "page about"
    assert client.get("/about/more").status_code == 404


def test_index_without_path_params_gives_404_for_unknown(client_factory):
    class MyApp(App):
        async def index(self, *, q="x"):
            return q

    client = client_factory(MyApp())
    assert client.get("/").text == "x"
    assert client.get("/unknown").status_code == 404


def test_named_handler_wins_over_index_fallback(client_factory):
    class MyApp(App):
        async def index(self, *parts):
            return "index"

        async def about(self):
            return "about"

    assert client_factory(MyApp()).get("/about").text == "about"


@pytest.mark.parametrize(
    ("path", "status", "text"),
    [
        ("/pair/a/b", 200, "a-b"),
        ("/pair/a", 200, "a-z"),
        ("/pair/a/b/c", 404, "404 Not Found"),
        ("/none/x", 404, "404 Not Found"),
        ("/rest/a/b/c", 200, "a|b,c"),
        ("/rest/a", 200, "a|"),
    ],
)
def test_segments_fill_positionals_and_leftovers_404(client_factory, path, status, text):
    class MyApp(App):
        async def pair(self, first, second="z"):
            return f"{first}-{second}"

        async def none(self):
            return "none"

        async def rest(self, first, *others):
            return f"{first}|{','.join(others)}"

    response = client_factory(MyApp()).get(path)
    assert (response.status_code, response.text) == (status, text)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_every_method_reaches_the_handler(client_factory, method):
    class MyApp(App):
        async def which(self):
            return self.request.method

    response = client_factory(MyApp()).request(method, "/which")
    assert (response.status_code, response.text) == (200, method)


def test_methods_decorator_allows_listed(client_factory):
    class MyApp(App):
        @micropie.methods("GET", "POST")
        async def form(self):
            return self.request.method

    client = client_factory(MyApp())
    assert client.get("/form").text == "GET"
    assert client.post("/form").text == "POST"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_methods_decorator_refuses_others_with_405_and_allow(client_factory, method):
    called: list[str] = []

    class MyApp(App):
        @micropie.methods("GET", "POST")
        async def form(self):
            called.append(self.request.method)
            return "ok"

    response = client_factory(MyApp()).request(method, "/form")
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "POST"} <= allowed
    assert called == []


def test_methods_decorator_on_sync_handler(client_factory):
    class MyApp(App):
        @micropie.methods("POST")
        def submit(self):
            return "done"

    client = client_factory(MyApp())
    assert client.post("/submit").text == "done"
    assert client.get("/submit").status_code == 405


def test_head_answered_as_get_without_body(client_factory):
    class MyApp(App):
        async def page(self):
            return "hello world"

    client = client_factory(MyApp())
    response = client.head("/page")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["content-length"] == str(len("hello world"))


def test_head_allowed_where_get_is_restricted(client_factory):
    class MyApp(App):
        @micropie.methods("GET")
        async def page(self):
            return "body"

    response = client_factory(MyApp()).head("/page")
    assert (response.status_code, response.content) == (200, b"")


def test_head_on_json_and_stream_has_no_body(client_factory):
    class MyApp(App):
        async def data(self):
            return {"a": 1}

        async def stream(self):
            yield "chunk"

    client = client_factory(MyApp())
    assert client.head("/data").content == b""
    assert client.head("/stream").content == b""


def test_many_handlers_route_by_table(client_factory):
    namespace = {f"h{i}": (lambda i=i: lambda self: f"handler {i}")() for i in range(300)}
    MyApp = type("MyApp", (App,), namespace)
    client = client_factory(MyApp())
    assert client.get("/h0").text == "handler 0"
    assert client.get("/h299").text == "handler 299"
    assert client.get("/h300").status_code == 404


def test_lookup_does_not_inspect_signature_per_request(client_factory, monkeypatch):
    import inspect

    class MyApp(App):
        async def greet(self, name="x"):
            return name

    client = client_factory(MyApp())
    client.get("/greet")
    calls: list[object] = []
    real = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda *a, **k: calls.append(a) or real(*a, **k))
    for _ in range(3):
        assert client.get("/greet/y").text == "y"
    assert calls == []


@pytest.mark.parametrize("path", ["/%5Fprivate", "/%5F%5Fclass__", "/ws%5Fchat"])
def test_encoded_private_names_are_404(client_factory, path):
    calls = _Calls()
    response = client_factory(_never_routable_app(calls)).get(path)
    assert (response.status_code, calls.names) == (404, [])


def test_index_taking_nothing_with_segment_is_404(client_factory):
    class MyApp(App):
        async def index(self):
            return "home"

    client = client_factory(MyApp())
    assert client.get("/index/extra").status_code == 404
    assert client.get("/extra").status_code == 404


def test_head_refused_where_get_is_not_allowed(client_factory):
    class MyApp(App):
        @micropie.methods("POST")
        async def submit(self):
            return "x"

    response = client_factory(MyApp()).head("/submit")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]


def test_head_on_unknown_path_is_404(client_factory):
    response = client_factory(App()).head("/nothing")
    assert (response.status_code, response.content) == (404, b"")


def test_methods_decorator_is_case_insensitive(client_factory):
    class MyApp(App):
        @micropie.methods("get", "Post")
        async def both(self):
            return self.request.method

    client = client_factory(MyApp())
    assert client.post("/both").text == "POST"
    assert client.put("/both").status_code == 405


def test_methods_on_instance_assigned_handler(client_factory):
    app = App()
    app.only_post = micropie.methods("POST")(lambda: "posted")
    client = client_factory(app)
    assert client.post("/only_post").text == "posted"
    assert client.get("/only_post").status_code == 405


def test_sync_instance_handler_replaced_by_async(client_factory):
    class MyApp(App):
        def greet(self, name):
            return f"sync {name}"

    app = MyApp()
    client = client_factory(app)

    async def greet(name):
        return f"async {name}"

    app.greet = greet
    assert client.get("/greet/x").text == "async x"


def test_mixin_methods_route(client_factory):
    class Mixin:
        def from_mixin(self):
            return "mixin"

    class MyApp(Mixin, App):
        pass

    assert client_factory(MyApp()).get("/from_mixin").text == "mixin"


def test_instance_none_shadowing_handler_is_404(client_factory):
    called: list[str] = []

    class MyApp(App):
        async def greet(self):
            called.append("greet")
            return "class"

    app = MyApp()
    app.greet = None
    response = client_factory(app).get("/greet")
    assert (response.status_code, called) == (404, [])


def test_instance_assigned_app_attribute_name_is_404(client_factory):
    app = App()
    app.startup_handlers = [lambda: "x"]
    app.mount_point = lambda: "fine"
    client = client_factory(app)
    assert client.get("/startup_handlers").status_code == 404
    assert client.get("/mount_point").text == "fine"
