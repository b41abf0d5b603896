"""SPEC §12: the route table, scope route and endpoint, add_route, URL building, mounts."""

from __future__ import annotations

import datetime

import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse
from starlette.routing import Match, Mount, NoMatchFound, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles

from micropie import App, HttpMiddleware, UploadedFile, methods
from micropie.routes import HandlerRoute, HandlerWebSocketRoute


class Shop(App):
    """Handlers of every shape; each answers with its own name."""

    async def index(self, *args):
        return "index"

    async def greet(self, name):
        return "greet"

    async def add(self, a: int, b: int):
        return "add"

    async def page(self, number: int = 1, size: int = 10):
        return "page"

    async def files(self, *parts):
        return "files"

    async def about(self):
        return "about"

    @methods("POST")
    async def submit(self, *, email, note=""):
        return "submit"

    async def search(self, q, **filters):
        return "search"

    async def ws_chat(self, ws, room):
        await ws.accept()
        await ws.send_text("chat")

    async def ws_index(self, ws):
        await ws.accept()
        await ws.send_text("ws_index")


def _by_name(app: App) -> dict[str, object]:
    return {route.name: route for route in app.routes}


# -- the table -------------------------------------------------------------------------------


def test_each_handler_has_a_route_with_its_template():
    routes = _by_name(Shop())
    templates = {name: route.path for name, route in routes.items()}
    assert templates == {
        "greet": "/greet/{name}",
        "add": "/add/{a}/{b}",
        "page": "/page/{number}/{size}",
        "files": "/files/{parts:path}",
        "about": "/about",
        "submit": "/submit",
        "search": "/search/{q}",
        "index": "/{args:path}",
        "ws_chat": "/chat/{room}",
        "ws_index": "/",
    }
    assert isinstance(routes["greet"], HandlerRoute)
    assert isinstance(routes["greet"], Route)
    assert isinstance(routes["ws_chat"], HandlerWebSocketRoute)
    assert isinstance(routes["ws_chat"], WebSocketRoute)


def test_route_carries_endpoint_methods_and_parameters():
    app = Shop()
    routes = _by_name(app)
    assert routes["greet"].endpoint == app.greet
    assert routes["greet"].methods is None
    assert routes["submit"].methods == {"POST"}
    assert [param.name for param in routes["add"].plan.positional] == ["a", "b"]
    assert [param.name for param in routes["submit"].plan.keyword_only] == ["email", "note"]


def test_index_without_parameters_is_the_root_and_plain_index_is_slash():
    class Home(App):
        async def index(self):
            return "home"

        async def profile(self, user, tab="posts"):
            return "profile"

    routes = _by_name(Home())
    assert routes["index"].path == "/"
    assert routes["profile"].path == "/profile/{user}/{tab}"


def test_mounts_come_first_and_the_fallback_index_last():
    app = Shop()
    app.mount("/static", StaticFiles(directory="."), name="static")
    routes = app.routes
    assert isinstance(routes[0], Mount)
    http_routes = [route for route in routes if isinstance(route, HandlerRoute)]
    assert http_routes[-1].name == "index"
    # tried last: after the websocket handlers too, which it does not shadow
    assert routes[-1] is http_routes[-1]
    assert routes.index(_by_name(app)["ws_chat"]) < routes.index(http_routes[-1])


def test_handlers_assigned_on_the_instance_appear_and_win():
    app = Shop()

    async def greet(first, last):
        return f"{first} {last}"

    async def extra(item):
        return item

    app.greet = greet
    app.extra = extra
    routes = _by_name(app)
    assert routes["greet"].path == "/greet/{first}/{last}"
    assert routes["extra"].path == "/extra/{item}"
    assert routes["extra"].endpoint is extra
    assert sum(route.name == "greet" for route in app.routes) == 1


def test_the_router_in_the_scope_lists_the_same_table(client_factory):
    app = Shop()
    recorder = ScopeRecorder(app)
    client_factory(recorder).get("/about")
    router_routes = recorder.scopes[-1]["router"].routes
    assert [route.name for route in router_routes] == [route.name for route in app.routes]


def test_a_subclass_may_keep_its_own_routes_attribute(client_factory):
    class Own(App):
        def __init__(self):
            super().__init__()
            self.routes = {"/a": "b"}

        async def about(self):
            return "about"

    app = Own()
    assert app.routes == {"/a": "b"}
    assert client_factory(app).get("/about").text == "about"


# -- matches() answers as dispatch -------------------------------------------------------


def _scope(path: str, method: str = "GET", kind: str = "http", root_path: str = "") -> dict:
    scope = {"type": kind, "path": root_path + path, "root_path": root_path, "headers": []}
    if kind == "http":
        scope["method"] = method
    return scope


DISPATCH_CASES = [
    "/",
    "/index",
    "/greet/alice",
    "/greet",
    "/greet/alice/",
    "/add/1/2",
    "/page",
    "/page/2",
    "/page/2/20",
    "/files/a/b/c",
    "/files",
    "/about",
    "/search/x",
    "/unknown/path",
    "/index/greet",
]


@pytest.mark.parametrize("path", DISPATCH_CASES)
def test_exactly_one_route_matches_and_it_is_the_handler_dispatch_calls(client_factory, path):
    app = Shop()
    full = [route for route in app.routes if route.matches(_scope(path))[0] is Match.FULL]
    called = client_factory(app).get(path, params={"name": "x", "q": "y"}).text
    assert [route.name for route in full] == [called]


@pytest.mark.parametrize("path", ["/about/extra", "/greet/a/b", "/add/1/2/3"])
def test_paths_dispatch_refuses_match_no_route(client_factory, path):
    class NoFallback(Shop):
        index = None  # type: ignore[assignment]

    app = NoFallback()
    assert all(route.matches(_scope(path))[0] is Match.NONE for route in app.routes)
    assert client_factory(app).get(path).status_code == 404


def test_a_method_outside_methods_is_a_partial_match(client_factory):
    app = Shop()
    route = _by_name(app)["submit"]
    assert route.matches(_scope("/submit", "GET"))[0] is Match.PARTIAL
    assert route.matches(_scope("/submit", "POST"))[0] is Match.FULL
    assert client_factory(app).get("/submit").status_code == 405


def test_match_gives_path_params_by_name_and_the_endpoint():
    app = Shop()
    match, child = _by_name(app)["files"].matches(_scope("/files/a/b"))
    assert match is Match.FULL
    assert child == {"endpoint": app.files, "path_params": {"parts": "a/b"}}
    _, child = _by_name(app)["add"].matches(_scope("/add/1/2"))
    assert child["path_params"] == {"a": "1", "b": "2"}


def test_matching_honours_root_path():
    route = _by_name(Shop())["greet"]
    assert route.matches(_scope("/greet/a", root_path="/shop"))[0] is Match.FULL


def test_websocket_routes_match_websocket_scopes_only():
    routes = _by_name(Shop())
    assert routes["ws_chat"].matches(_scope("/chat/lobby", kind="websocket"))[0] is Match.FULL
    assert routes["ws_chat"].matches(_scope("/chat/lobby"))[0] is Match.NONE
    assert routes["greet"].matches(_scope("/greet/a", kind="websocket"))[0] is Match.NONE
    assert routes["ws_index"].matches(_scope("/", kind="websocket"))[0] is Match.FULL


# -- scope["route"] and scope["endpoint"] ------------------------------------------------


class ScopeRecorder:
    """ASGI middleware keeping the scope of the last request, as monitoring tools see it."""

    def __init__(self, app):
        self.app = app
        self.scopes: list[dict] = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)
        await self.app(scope, receive, send)


def _recorded(client_factory, app: App, path: str, method: str = "GET") -> tuple[int, dict]:
    recorder = ScopeRecorder(app)
    response = client_factory(recorder).request(method, path)
    return response.status_code, recorder.scopes[-1]


def test_each_request_carries_its_route_and_endpoint(client_factory):
    app = Shop()
    status, scope = _recorded(client_factory, app, "/greet/alice")
    assert status == 200
    assert scope["route"] is _by_name(app)["greet"]
    assert scope["endpoint"] == app.greet


def test_the_handler_sees_its_route(client_factory):
    class Where(App):
        async def item(self, slug):
            return self.request.scope["route"].path

    assert client_factory(Where()).get("/item/x").text == "/item/{slug}"


@pytest.mark.parametrize("path", ["/nowhere", "/about/extra"])
def test_404s_carry_no_route(client_factory, path):
    class NoFallback(App):
        async def about(self):
            return "about"

    status, scope = _recorded(client_factory, NoFallback(), path)
    assert status == 404
    assert "route" not in scope
    assert "endpoint" not in scope


def test_405_carries_the_route_it_refused(client_factory):
    app = Shop()
    status, scope = _recorded(client_factory, app, "/submit")
    assert status == 405
    assert scope["route"].name == "submit"


def test_websocket_connections_carry_their_route(client_factory):
    app = Shop()
    recorder = ScopeRecorder(app)
    with client_factory(recorder).websocket_connect("/chat/lobby") as ws:
        assert ws.receive_text() == "chat"
    assert recorder.scopes[-1]["route"] is _by_name(app)["ws_chat"]
    assert recorder.scopes[-1]["endpoint"] == app.ws_chat


def test_explicit_routing_records_the_chosen_handler(client_factory):
    class ToAbout(HttpMiddleware):
        async def before_request(self, request):
            if request.route_path == "/go":
                request._route_handler = "about"

        async def after_request(self, request, status_code, response_body, extra_headers):
            return None

    app = Shop()
    app.middlewares.append(ToAbout())
    status, scope = _recorded(client_factory, app, "/go")
    assert status == 200
    assert scope["route"].name == "about"
    assert scope["endpoint"] == app.about


# -- add_route ------------------------------------------------------------------------------


def test_add_route_is_matched_before_handlers(client_factory):
    async def metrics(request: StarletteRequest) -> PlainTextResponse:
        return PlainTextResponse("metrics")

    app = Shop()
    app.add_route("/metrics", metrics, methods=["GET"], name="metrics")
    client = client_factory(app)
    assert client.get("/metrics").text == "metrics"
    assert client.post("/metrics").status_code == 405
    assert client.get("/about").text == "about"
    assert app.routes[0].path == "/metrics"
    assert app.url_path_for("metrics") == "/metrics"


def test_add_route_accepts_starlettes_keyword_names(client_factory):
    def ping(request):
        return PlainTextResponse("pong")

    app = Shop()
    app.add_route(path="/ping", route=ping, include_in_schema=False)
    assert client_factory(app).get("/ping").text == "pong"


def test_an_added_route_raising_httpexception_answers_its_status(client_factory):
    async def teapot(request):
        raise HTTPException(418, "short and stout")

    app = Shop()
    app.add_route("/teapot", teapot)
    response = client_factory(app).get("/teapot")
    assert (response.status_code, response.text) == (418, "short and stout")


def test_add_websocket_route(client_factory):
    async def echo(websocket):
        await websocket.accept()
        await websocket.send_text("explicit")
        await websocket.close()

    app = Shop()
    app.add_websocket_route("/chat/special", echo)
    with client_factory(app).websocket_connect("/chat/special") as ws:
        assert ws.receive_text() == "explicit"


# -- url_path_for ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "url"),
    [
        ("greet", {"name": "alice"}, "/greet/alice"),
        ("greet", {"name": "a b?#%"}, "/greet/a%20b%3F%23%25"),
        ("greet", {"name": "café"}, "/greet/caf%C3%A9"),
        ("add", {"a": 1, "b": 2}, "/add/1/2"),
        ("page", {}, "/page"),
        ("page", {"number": 3}, "/page/3"),
        ("page", {"size": 50}, "/page?size=50"),
        ("files", {"parts": "a/b/c"}, "/files/a/b/c"),
        ("files", {"parts": ["a", "b"]}, "/files/a/b"),
        ("files", {}, "/files"),
        ("about", {}, "/about"),
        ("submit", {"email": "x@y.z"}, "/submit?email=x%40y.z"),
        ("submit", {}, "/submit"),
        ("search", {"q": "x", "tag": ["a", "b"]}, "/search/x?tag=a&tag=b"),
        ("index", {}, "/"),
        ("index", {"args": "docs/intro"}, "/docs/intro"),
        ("index", {"args": "greet/x"}, "/index/greet/x"),
        ("index", {"args": "index"}, "/index/index"),
        ("ws_chat", {"room": "lobby"}, "/chat/lobby"),
    ],
)
def test_url_path_for(name, params, url):
    assert Shop().url_path_for(name, **params) == url


class Collections(App):
    async def ids(self, ids: list[int]):
        return sorted(ids)

    async def tagged(self, tags: set[str], page: int = 1):
        return {"tags": sorted(tags), "page": page}

    async def pair(self, p: tuple[int, int], *rest):
        return [*p, *rest]


@pytest.mark.parametrize(
    ("name", "params", "url", "answer"),
    [
        ("ids", {"ids": 3}, "/ids/3", [3]),
        ("ids", {"ids": [1, 2]}, "/ids?ids=1&ids=2", [1, 2]),
        ("ids", {"ids": [1]}, "/ids?ids=1", [1]),
        ("tagged", {"tags": ["b", "a"], "page": 2}, "/tagged?tags=b&tags=a&page=2",
         {"tags": ["a", "b"], "page": 2}),
        ("pair", {"p": (1, 2)}, "/pair?p=1&p=2", [1, 2]),
    ],
)  # fmt: skip
def test_url_path_for_puts_several_values_in_the_query_and_they_dispatch_back(
    client_factory, name, params, url, answer
):
    """A list, set or tuple for a positional parameter cannot be one path segment: it
    went into the path as its repr (``/ids/%5B1,%202%5D``, a 400)."""
    app = Collections()
    assert app.url_path_for(name, **params) == url
    assert client_factory(app).get(url).json() == answer


def test_a_fixed_length_tuple_takes_one_value_per_position(client_factory):
    """``tuple[int, int]`` got the first value as text (``"1"``), where the document says
    an array of two integers; now one value per position, converted, else a 400."""
    client = client_factory(Collections())
    assert client.get("/pair?p=1&p=2").json() == [1, 2]
    assert client.post("/pair", json={"p": [3, 4]}).json() == [3, 4]
    assert client.get("/pair/5,6").json() == [5, 6]  # OpenAPI's array in a path segment
    assert client.get("/pair/5,6/x").json() == [5, 6, "x"]
    for url in ["/pair?p=1", "/pair?p=1&p=2&p=3", "/pair?p=1&p=x", "/pair/1,2,3", "/pair/1"]:
        assert client.get(url).status_code == 400, url
    assert "expected 2 values, got 1" in client.get("/pair?p=1").text
    with pytest.raises(NoMatchFound, match="'rest' needs every positional parameter"):
        Collections().url_path_for("pair", p=(1, 2), rest=["x"])


def test_url_path_for_writes_dates_and_times_as_json_answers_do_and_they_dispatch_back(
    client_factory,
):
    """ISO 8601 with ``T`` and ``Z`` (``str()`` gave ``2024-05-01%2012:00:00+00:00``)."""

    class Moments(App):
        async def at(self, when: datetime.datetime, day: datetime.date, clock: datetime.time):
            return {"when": when, "day": day, "clock": clock}

    app = Moments()
    utc = datetime.timezone.utc
    when, day = datetime.datetime(2024, 5, 1, 12, tzinfo=utc), datetime.date(2024, 5, 2)
    clock = datetime.time(10, 30, tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    url = app.url_path_for("at", when=when, day=day, clock=clock)
    assert url == "/at/2024-05-01T12:00:00Z/2024-05-02/10:30:00+02:00"
    answer = {"when": "2024-05-01T12:00:00Z", "day": "2024-05-02", "clock": "10:30:00+02:00"}
    assert client_factory(app).get(url).json() == answer


def test_a_collection_in_a_path_segment_is_documented_as_one_item():
    paths = Collections().openapi()["paths"]
    parameters = paths["/tagged/{tags}"]["get"]["parameters"]
    assert parameters[0] == {"name": "tags", "in": "path", "required": True,
                             "schema": {"type": "string"}}  # fmt: skip
    (pair,) = paths["/pair/{p}"]["get"]["parameters"]
    assert pair["schema"]["prefixItems"] == [{"type": "integer"}] * 2  # sent as /pair/1,2


def test_url_path_for_gives_starlettes_urlpath_with_the_protocol():
    app = Shop()
    assert app.url_path_for("greet", name="a").protocol == "http"
    assert app.url_path_for("ws_chat", room="a").protocol == "websocket"


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("nothing", {}, 'No route for name "nothing": no handler or route has that name.'),
        ("greet", {}, "missing path parameter 'name'"),
        ("add", {"a": 1}, "missing path parameter 'b'"),
        ("about", {"x": 1}, "the handler takes no parameter x"),
        ("greet", {"name": "a/b"}, "'name' must be a non-empty value without '/'"),
        ("greet", {"name": ""}, "'name' must be a non-empty value without '/'"),
        ("ws_nothing", {}, "no handler or route has that name"),
        ("_private", {}, "no handler or route has that name"),
        ("run", {}, "no handler or route has that name"),
    ],
)
def test_url_path_for_refuses_with_a_message_naming_the_problem(name, params, message):
    class Private(Shop):
        async def _private(self):
            return "hidden"

    with pytest.raises(NoMatchFound, match=message.replace("(", r"\(").replace(".", r"\.")):
        Private().url_path_for(name, **params)


def test_request_url_for_is_absolute_and_below_the_mount_point(client_factory):
    class Links(App):
        async def link(self):
            return str(self.request.url_for("greet", name="bob", lang="en"))

        async def greet(self, name, *, lang="en"):
            return name

    outer = Starlette(routes=[Mount("/shop", app=Links())])
    client = client_factory(outer)
    assert client.get("/shop/link").text == "http://testserver/shop/greet/bob?lang=en"
    assert client.get("/shop/greet/bob").text == "bob"


def test_request_url_for_honours_the_servers_root_path(client_factory):
    class Links(App):
        async def link(self):
            return str(self.request.url_for("link"))

    client = client_factory(Links(), root_path="/api")
    assert client.get("/link").text == "http://testserver/api/link"


def test_url_for_in_templates(client_factory, tmp_path):
    (tmp_path / "page.html").write_text(
        "<a href=\"{{ url_for('greet', name=who) }}\">{{ url_for('about') }}</a>"
    )

    class Site(App):
        async def index(self):
            return await self._render_template("page.html", who="ann & bob")

        async def greet(self, name):
            return name

        async def about(self):
            return "about"

    client = client_factory(Site(templates_dir=tmp_path))
    assert client.get("/").text == (
        '<a href="http://testserver/greet/ann%20&amp;%20bob">http://testserver/about</a>'
    )


def test_a_micropie_app_mounted_in_starlette_is_reachable_by_outer_url_path_for():
    outer = Starlette(routes=[Mount("/shop", app=Shop(), name="shop")])
    assert outer.url_path_for("shop:greet", name="x") == "/shop/greet/x"
    assert outer.url_path_for("shop:ws_chat", room="r") == "/shop/chat/r"


# -- apps mounted inside micropie ----------------------------------------------------------


def _starlette_blog() -> Starlette:
    async def post(request):
        return PlainTextResponse(str(request.url_for("blog:post", slug="next")))

    async def home(request):
        return PlainTextResponse("blog home")

    return Starlette(
        routes=[Route("/", home, name="home"), Route("/posts/{slug}", post, name="post")]
    )


def test_a_mounted_starlette_app_keeps_its_named_routes(client_factory):
    app = Shop()
    app.mount("/blog", _starlette_blog(), name="blog")
    assert app.url_path_for("blog:post", slug="hello") == "/blog/posts/hello"
    assert app.url_path_for("blog:home") == "/blog/"
    assert app.url_path_for("blog", path="/feed.xml") == "/blog/feed.xml"
    client = client_factory(app)
    assert client.get("/blog/posts/hello").text == "http://testserver/blog/posts/next"


def test_handlers_can_link_into_a_mounted_app(client_factory):
    class Site(App):
        async def links(self):
            return str(self.request.url_for("blog:post", slug="a"))

    app = Site()
    app.mount("/blog", _starlette_blog(), name="blog")
    assert client_factory(app).get("/links").text == "http://testserver/blog/posts/a"


def test_mount_point_without_slash_redirects_like_starlette(client_factory):
    app = Shop()
    app.mount("/blog", _starlette_blog(), name="blog")
    client = client_factory(app)
    response = client.get("/blog?x=1", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "http://testserver/blog/?x=1"
    assert client.get("/blog").text == "blog home"
    assert client.get("/blogs").text == "index"


def test_a_fastapi_app_mounted_keeps_its_routing(client_factory):
    api = FastAPI()

    @api.get("/items/{item_id}", name="item")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    app = Shop()
    app.mount("/api", api, name="api")
    client = client_factory(app)
    assert app.url_path_for("api:item", item_id=3) == "/api/items/3"
    assert client.get("/api/items/3").json() == {"item_id": 3}
    assert client.get("/api", follow_redirects=False).status_code == 307


def test_own_handler_names_come_before_names_an_unnamed_mount_lends():
    app = Shop()
    app.mount("/blog", _starlette_blog())  # unnamed: its "home" and "post" are reachable
    assert app.url_path_for("post", slug="a") == "/blog/posts/a"
    inner = Shop()
    app.mount("/inner", inner)
    assert app.url_path_for("greet", name="x") == "/greet/x"


def test_one_scope_asked_again_after_its_path_changes_gets_a_fresh_answer():
    app = Shop()
    routes = _by_name(app)
    scope = _scope("/greet/a")
    assert routes["greet"].matches(scope)[0] is Match.FULL
    scope["path"] = "/about"
    assert routes["greet"].matches(scope)[0] is Match.NONE
    assert routes["about"].matches(scope)[0] is Match.FULL
    scope["root_path"], scope["path"] = "/greet", "/greet/about"
    assert routes["about"].matches(scope)[0] is Match.FULL


def test_apps_sharing_a_scope_each_answer_for_themselves():
    class Inner(App):
        async def about(self):
            return "inner"

    outer, inner = Shop(), Inner()
    scope = _scope("/about")
    assert _by_name(outer)["about"].matches(scope)[0] is Match.FULL
    assert _by_name(inner)["about"].matches(scope)[0] is Match.FULL
    assert _by_name(outer)["index"].matches(scope)[0] is Match.NONE
    websocket_scope = _scope("/", kind="websocket")
    assert _by_name(outer)["index"].matches(websocket_scope)[0] is Match.NONE
    assert _by_name(outer)["ws_index"].matches(websocket_scope)[0] is Match.FULL


# -- uploaded files never come from the path ---------------------------------------------------


class Attach(App):
    """A positional ``UploadedFile`` binds from the body: path segments skip it."""

    @methods("POST")
    async def attach(self, file: UploadedFile, note: str = "", *, tag: UploadedFile | None = None):
        return f"attach {file.filename} {note}"


def test_an_uploaded_file_is_no_segment_of_the_template():
    assert _by_name(Attach())["attach"].path == "/attach/{note}"


@pytest.mark.parametrize("path", ["/attach", "/attach/hi", "/attach/hi/extra"])
def test_matches_answers_as_dispatch_for_an_upload_handler(client_factory, path):
    app = Attach()
    route = _by_name(app)["attach"]
    match, child = route.matches(_scope(path, "POST"))
    response = client_factory(app).post(path, files={"file": ("a.txt", b"data")})
    if path.count("/") > 2:
        assert (match, response.status_code) == (Match.NONE, 404)
    else:
        assert match is Match.FULL
        note = path.split("/")[2] if path.count("/") == 2 else ""
        assert child["path_params"] == ({"note": note} if note else {})
        assert response.text == f"attach a.txt {note}"


def test_url_path_for_skips_an_uploaded_file_and_refuses_one_given():
    app = Attach()
    assert app.url_path_for("attach") == "/attach"
    assert app.url_path_for("attach", note="hi") == "/attach/hi"
    for name in ("file", "tag"):
        message = f"'{name}' is an uploaded file, sent in the body, never in the URL"
        with pytest.raises(NoMatchFound, match=message):
            app.url_path_for("attach", **{name: "x"})
