"""SPEC §1.3: names that are never routable answer 404 and call nothing.

The attacker's move is a URL naming something that is not a handler: a dunder
(``/__init__``), a framework method (``/run``, ``/mount``), a property (``/request``),
a private helper or a ``ws_`` handler over HTTP.
"""

from __future__ import annotations

import functools

import pytest
from starlette.websockets import WebSocketDisconnect

import micropie
from micropie import App, HttpMiddleware

from .raw import call

NOT_FOUND = (404, "404 Not Found")

DUNDERS = [
    "__init__", "__class__", "__dict__", "__call__", "__module__", "__new__", "__del__",
    "__getattribute__", "__setattr__", "__reduce__", "__subclasshook__", "__init_subclass__",
    "__weakref__", "__doc__", "__globals__", "__builtins__",
]  # fmt: skip
APP_PUBLIC = sorted(name for name in dir(micropie.App) if not name.startswith("_"))
APP_PRIVATE = sorted(
    name for name in dir(micropie.App) if name.startswith("_") and not name.startswith("__")
)
INSTANCE_PUBLIC = sorted(
    name for name in dir(micropie.App()) if not name.startswith("_") and name not in APP_PUBLIC
)
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


class Victim(App):
    """A typical app; its class attributes are traps that must stay unreachable."""

    calls: list[str] = []
    VERSION = "1.0"

    class Nested:
        pass

    async def hello(self):
        self.calls.append("hello")
        return "hello"

    async def _secret(self):
        self.calls.append("_secret")
        return "secret"

    async def ws_chat(self, ws):
        self.calls.append("ws_chat")
        return "ws"

    @property
    def prop(self):
        self.calls.append("prop")
        return "prop"

    @functools.cached_property
    def cached(self):
        self.calls.append("cached")
        return "cached"


@pytest.fixture
def spied(monkeypatch):
    """Wrap every public attribute App defines so any call or property read is recorded."""
    seen: list[str] = []
    for name in APP_PUBLIC:
        raw = micropie.App.__dict__.get(name)
        if isinstance(raw, property):
            getter = raw.fget

            def spy_get(self, _name=name, _get=getter):
                seen.append(_name)
                return _get(self)

            monkeypatch.setattr(micropie.App, name, property(spy_get))
        elif callable(raw):

            def spy(*args, _name=name, **kwargs):
                seen.append(_name)
                raise AssertionError(f"{_name} was called")

            monkeypatch.setattr(micropie.App, name, spy)
    Victim.calls.clear()
    return seen


def assert_still_serves(client):
    response = client.get("/hello")
    assert (response.status_code, response.text) == (200, "hello")


def test_app_public_names_were_computed():
    assert {"run", "mount", "request", "add_middleware", "wsgi_app", "session_backend"} <= set(
        APP_PUBLIC
    )
    assert {"middlewares", "ws_middlewares", "startup_handlers"} <= set(INSTANCE_PUBLIC)


@pytest.mark.parametrize("name", APP_PUBLIC + INSTANCE_PUBLIC)
def test_app_attribute_is_404_and_not_called(client_factory, spied, name):
    client = client_factory(Victim())
    for method in METHODS:
        response = client.request(method, f"/{name}/x")
        assert response.status_code == 404, method
        if method != "HEAD":
            assert response.text == "404 Not Found"
    assert spied == []
    assert_still_serves(client)


@pytest.mark.parametrize("name", DUNDERS + APP_PRIVATE + ["_secret"])
def test_private_and_dunder_names_are_404(client_factory, name):
    Victim.calls.clear()
    client = client_factory(Victim())
    for method in ("GET", "POST"):
        response = client.request(method, f"/{name}")
        assert (response.status_code, response.text) == NOT_FOUND
    assert Victim.calls == []
    assert_still_serves(client)


@pytest.mark.parametrize(
    "name", ["ws_chat", "chat", "prop", "cached", "VERSION", "Nested", "calls"]
)
def test_websocket_handlers_properties_and_values_are_404(client_factory, name):
    Victim.calls.clear()
    client = client_factory(Victim())
    response = client.post(f"/{name}")
    assert (response.status_code, response.text) == NOT_FOUND
    assert Victim.calls == []
    assert_still_serves(client)


@pytest.mark.parametrize("name", ["__class__", "__init__", "run", "mount", "request"])
def test_index_taking_path_receives_the_name_as_a_segment(client_factory, spied, name):
    class CatchAll(App):
        async def index(self, *parts):
            return "/".join(parts)

    client = client_factory(CatchAll())
    response = client.get(f"/{name}")
    assert (response.status_code, response.text) == (200, name)
    assert spied == []


@pytest.mark.parametrize("name", ["__init__", "__class__", "_dispatch", "_handle_http", "run"])
def test_explicit_routing_cannot_reach_framework_internals(client_factory, name):
    """A hook that routes by a client-chosen name still cannot call App internals."""

    class RouteByQuery(HttpMiddleware):
        async def before_request(self, request):
            request._route_handler = request.query("to")

        async def after_request(self, request, status_code, response_body, extra_headers):
            return None

    app = Victim()
    app.middlewares.append(RouteByQuery())
    client = client_factory(app)
    response = client.get("/hello", params={"to": name})
    assert (response.status_code, response.text) == NOT_FOUND
    assert client.get("/hello", params={"to": "hello"}).text == "hello"


def test_instance_attribute_values_are_not_routable(client_factory):
    app = Victim()
    app.token = "s3cr3t"
    app.settings = {"debug": True}
    client = client_factory(app)
    for name in ("token", "settings"):
        assert (client.get(f"/{name}").status_code, client.get(f"/{name}").text) == NOT_FOUND
    assert_still_serves(client)


@pytest.mark.parametrize("raw_path", [b"/__class__/__init__/__globals__", b"/%5f%5finit%5f%5f"])
def test_encoded_dunder_paths_are_404(raw_path):
    answer = call(Victim(), raw_path)
    assert (answer.status, answer.text) == NOT_FOUND


@pytest.mark.parametrize(
    "name", ["__init__", "__class__", "_secret", "run", "mount", "hello", "ws_chat"]
)
def test_websocket_to_unroutable_name_closes_1008(client_factory, spied, name):
    client = client_factory(Victim())
    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect(f"/{name}"):
            pass  # pragma: no cover - refused before accept
    assert (closed.value.code, closed.value.reason) == (1008, "No matching WebSocket route")
    assert spied == [] and Victim.calls == []
    assert_still_serves(client)


# -- a handler may not take the name of state micropie reads ---------------------------

STATE_NAMES = sorted(
    name
    for name in APP_PUBLIC + INSTANCE_PUBLIC
    if isinstance(getattr(micropie.App, name, None), property)
    or isinstance(getattr(micropie.App(), name, None), list)
)


def test_state_names_were_computed():
    assert {"request", "session", "routes", "middlewares", "startup_handlers"} <= set(STATE_NAMES)


@pytest.mark.parametrize("name", STATE_NAMES)
@pytest.mark.parametrize("base", [micropie.App, micropie.Server])
def test_handler_named_like_framework_state_is_refused_at_class_definition(base, name):
    """``def request(self)`` would replace ``self.request`` for every handler (each then
    500s); ``def middlewares(self)`` broke the app at construction with a bare
    ``TypeError: [] is not a callable object``. The class is refused, saying why."""
    with pytest.raises(TypeError, match=rf"Mine\.{name} would replace \w+\.{name}.*another name"):
        type("Mine", (base,), {name: lambda self: "handler"})


@pytest.mark.parametrize("name", ["run", "mount", "openapi", "url_path_for"])
def test_handler_may_still_override_a_framework_method(client_factory, name):
    """SPEC §1.3: a framework method the subclass overrides is its handler."""
    app = type("Mine", (micropie.App,), {name: lambda self: "mine"})()
    assert client_factory(app).get(f"/{name}").text == "mine"


def test_state_name_as_a_property_or_value_is_still_allowed(client_factory):
    class Mine(micropie.App):
        routes_seen = 0  # a plain value of another name

        @property
        def session(self):  # a property may replace a property
            return self.request.session

        async def index(self):
            self.session["n"] = 1
            return "ok"

    assert client_factory(Mine()).get("/").text == "ok"
