"""SPEC §10 and §7 (Starlette middleware): lifespan, mounts, middleware, run()."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.testclient import TestClient

from micropie import App
from micropie.serving import HEAD_LIMITED_HTTP


def test_startup_and_shutdown_handlers_sync_and_async():
    events: list[str] = []

    async def async_start():
        events.append("async start")

    app = App()
    app.startup_handlers.append(lambda: events.append("sync start"))
    app.startup_handlers.append(async_start)
    app.shutdown_handlers.append(lambda: events.append("sync stop"))

    async def async_stop():
        events.append("async stop")

    app.shutdown_handlers.append(async_stop)
    with TestClient(app):
        assert events == ["sync start", "async start"]
    assert events == ["sync start", "async start", "sync stop", "async stop"]


def test_startup_handler_state_visible_to_handlers():
    class MyApp(App):
        async def index(self):
            return self.db

    app = MyApp()

    def connect():
        app.db = "connected"

    app.startup_handlers.append(connect)
    with TestClient(app) as client:
        assert client.get("/").text == "connected"


def test_failing_startup_reports_lifespan_startup_failed():
    async def broken():
        raise RuntimeError("database unreachable")

    app = App()
    app.startup_handlers.append(broken)
    messages: list[dict] = []

    async def run_lifespan():
        queue = [{"type": "lifespan.startup"}]

        async def receive():
            return queue.pop(0) if queue else {"type": "lifespan.shutdown"}

        async def send(message):
            messages.append(message)

        with contextlib.suppress(Exception):
            await app({"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}, receive, send)

    import asyncio

    asyncio.run(run_lifespan())
    failed = [m for m in messages if m["type"] == "lifespan.startup.failed"]
    assert failed and "database unreachable" in failed[0]["message"]


def test_failing_startup_raises_through_testclient():
    app = App()
    app.startup_handlers.append(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError), TestClient(app):
        pass


def test_a_failing_shutdown_handler_leaves_the_others_to_run(caplog):
    """Each shutdown handler releases its own resource: one raising left the broadcast,
    the Redis pool and the rest after it open. All run; the first error is the lifespan's
    failure (the server reports it), later ones are logged."""
    events: list[str] = []

    async def close_database():
        raise RuntimeError("the pool did not close")

    def flush_cache():
        raise OSError("the cache directory is gone")

    app = App()
    app.shutdown_handlers.extend(
        [close_database, flush_cache, lambda: events.append("broadcast disconnected")]
    )
    with pytest.raises(RuntimeError, match="the pool did not close"):
        with TestClient(app):
            pass
    assert events == ["broadcast disconnected"]
    (record,) = [r for r in caplog.records if r.name == "micropie"]
    assert record.getMessage() == (
        "Shutdown handler "
        "test_a_failing_shutdown_handler_leaves_the_others_to_run.<locals>.flush_cache raised"
    )
    assert record.exc_info is not None and "the cache directory is gone" in str(record.exc_info[1])


def test_lifespan_context_manager():
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        events.append("enter")
        yield {"greeting": "hi"}
        events.append("exit")

    class MyApp(App):
        async def index(self):
            return self.request.starlette.state.greeting

    with TestClient(MyApp(lifespan=lifespan)) as client:
        assert events == ["enter"]
        assert client.get("/").text == "hi"
    assert events == ["enter", "exit"]


def test_lifespan_and_handlers_together_in_order():
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app):
        events.append("lifespan in")
        yield
        events.append("lifespan out")

    app = App(lifespan=lifespan)
    app.startup_handlers.append(lambda: events.append("startup"))
    app.shutdown_handlers.append(lambda: events.append("shutdown"))
    with TestClient(app):
        pass
    assert set(events) == {"lifespan in", "lifespan out", "startup", "shutdown"}
    assert events.index("startup") < events.index("shutdown")
    assert events.index("lifespan in") < events.index("lifespan out")


def test_mount_static_files_before_handlers(client_factory, tmp_path):
    (tmp_path / "style.css").write_text("body {}")

    class MyApp(App):
        async def static(self, *parts):
            return "handler"

        async def other(self):
            return "other"

    app = MyApp()
    app.mount("/static", StaticFiles(directory=tmp_path), name="static")
    client = client_factory(app)
    response = client.get("/static/style.css")
    assert (response.status_code, response.text) == (200, "body {}")
    assert response.headers["content-type"].startswith("text/css")
    assert client.get("/static/missing.css").status_code == 404
    assert client.get("/other").text == "other"


def test_mount_asgi_app_sees_its_own_path(client_factory):
    async def inner(scope, receive, send):
        text = f"{scope['root_path']}|{scope['path']}"
        await PlainTextResponse(text)(scope, receive, send)

    app = App()
    app.mount("/api", inner)
    assert client_factory(app).get("/api/items").text.startswith("/api|")


def test_mount_added_after_first_request(client_factory, tmp_path):
    (tmp_path / "a.txt").write_text("A")
    app = App()
    client = client_factory(app)
    assert client.get("/files/a.txt").status_code == 404
    app.mount("/files", StaticFiles(directory=tmp_path))
    assert client.get("/files/a.txt").text == "A"


def test_cors_middleware_via_constructor(client_factory):
    class MyApp(App):
        async def data(self):
            return {"ok": True}

    middleware = [Middleware(CORSMiddleware, allow_origins=["https://a.example"])]
    client = client_factory(MyApp(middleware=middleware))
    response = client.get("/data", headers={"Origin": "https://a.example"})
    assert response.headers["access-control-allow-origin"] == "https://a.example"
    preflight = client.options(
        "/data",
        headers={"Origin": "https://a.example", "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 200


def test_gzip_middleware_via_add_middleware(client_factory):
    class MyApp(App):
        async def big(self):
            return "x" * 5000

    app = MyApp()
    app.add_middleware(GZipMiddleware, minimum_size=100)
    response = client_factory(app).get("/big", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.text == "x" * 5000


def test_trusted_host_middleware(client_factory):
    class MyApp(App):
        async def index(self):
            return "home"

    app = MyApp(middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["good.example"])])
    client = client_factory(app, base_url="http://good.example")
    assert client.get("/").text == "home"
    assert client.get("http://evil.example/").status_code == 400


def test_middleware_order_add_middleware_outermost(client_factory):
    order: list[str] = []

    class Tag:
        def __init__(self, app, name):
            self.app, self.name = app, name

        async def __call__(self, scope, receive, send):
            if scope["type"] == "http":
                order.append(self.name)
            await self.app(scope, receive, send)

    class MyApp(App):
        async def index(self):
            return "ok"

    app = MyApp(middleware=[Middleware(Tag, name="first"), Middleware(Tag, name="second")])
    app.add_middleware(Tag, name="added")
    client_factory(app).get("/")
    assert order == ["added", "first", "second"]


def test_add_middleware_after_start_raises(client_factory):
    app = App()
    client_factory(app).get("/")
    with pytest.raises(RuntimeError):
        app.add_middleware(GZipMiddleware)


def test_starlette_middleware_sees_error_responses(client_factory):
    class MyApp(App):
        async def boom(self):
            raise RuntimeError("x")

    middleware = [Middleware(CORSMiddleware, allow_origins=["*"])]
    client = client_factory(MyApp(middleware=middleware), raise_server_exceptions=False)
    response = client.get("/nothing", headers={"Origin": "https://x.example"})
    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == "*"


class ShopApp(App):
    async def index(self):
        return f"shop home {self.request.scope.get('root_path')}"

    async def item(self, item_id: int):
        return {"item": item_id, "path": self.request.url.path}

    async def go(self):
        return self._redirect("/shop/item/1")


def _mounted_in_starlette():
    async def home(request):
        return PlainTextResponse("site home")

    return Starlette(routes=[Route("/", home), Mount("/shop", app=ShopApp())])


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/", "site home"),
        ("/shop/", "shop home /shop"),
        ("/shop/index", "shop home /shop"),
    ],
)
def test_app_mounted_inside_starlette(client_factory, path, expected):
    assert client_factory(_mounted_in_starlette()).get(path).text == expected


def test_mounted_app_routes_below_mount_point(client_factory):
    client = client_factory(_mounted_in_starlette())
    assert client.get("/shop/item/7").json() == {"item": 7, "path": "/shop/item/7"}
    assert client.get("/shop/nothing").status_code == 404
    assert client.get("/item/7").status_code == 404
    assert client.get("/shop/go", follow_redirects=False).headers["location"] == "/shop/item/1"


def test_mounted_app_without_trailing_slash_redirects(client_factory):
    """Starlette's router redirects ``/shop`` to ``/shop/``, where ``index`` answers."""
    response = client_factory(_mounted_in_starlette()).get("/shop")
    assert response.text == "shop home /shop"


def test_root_path_from_server_is_removed(client_factory):
    class MyApp(App):
        async def where(self, *parts):
            return {"parts": list(parts), "root": self.request.scope["root_path"]}

    client = client_factory(MyApp(), root_path="/prefix")
    assert client.get("/prefix/where/a").json() == {"parts": ["a"], "root": "/prefix"}


def test_run_calls_uvicorn_with_app_and_options(monkeypatch):
    import uvicorn

    calls: list[tuple] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    app = App()
    app.run(port=9999, log_level="warning")
    options = {"host": "127.0.0.1", "port": 9999, "log_level": "warning"}
    assert calls == [(app, {**options, "timeout_graceful_shutdown": 10, "http": HEAD_LIMITED_HTTP})]


def test_run_defaults(monkeypatch):
    import uvicorn

    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    App().run()
    assert calls == [
        {
            "host": "127.0.0.1",
            "port": 8000,
            "timeout_graceful_shutdown": 10,
            "http": HEAD_LIMITED_HTTP,
        }
    ]
    App().run(timeout_graceful_shutdown=None)  # uvicorn's own: wait for ever
    assert calls[1]["timeout_graceful_shutdown"] is None
    App().run(http="h11")  # uvicorn's own protocol, no head bounds of micropie's
    assert calls[2]["http"] == "h11"


def test_run_without_uvicorn_names_the_extra():
    code = textwrap.dedent(
        """
        import sys
        sys.modules["uvicorn"] = None
        from micropie import App
        try:
            App().run()
        except ImportError as exc:
            print(type(exc).__name__, exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert "MissingDependencyError" in result.stdout
    assert "micropie[standard]" in result.stdout


@pytest.mark.slow
def test_run_serves_in_a_subprocess(tmp_path):
    import socket

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            f"""
            from micropie import App

            class MyApp(App):
                def index(self, name="Guest"):
                    return f"Hello, {{name}}!"

            MyApp().run(port={port}, log_level="warning")
            """
        )
    )
    process = subprocess.Popen([sys.executable, str(script)], cwd=tmp_path)
    try:
        import time

        deadline = time.monotonic() + 15
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/?name=Ann", timeout=1)
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        assert response.text == "Hello, Ann!"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_app_mounted_inside_app(client_factory):
    class Api(App):
        async def users(self, user_id: int):
            return {"user": user_id, "root": self.request.scope["root_path"]}

    class Site(App):
        async def index(self):
            return "site"

    site = Site()
    site.mount("/api", Api())
    client = client_factory(site)
    assert client.get("/").text == "site"
    assert client.get("/api/users/3").json() == {"user": 3, "root": "/api"}
    assert client.get("/api/nothing").text == "404 Not Found"


def test_run_passes_app_object_not_import_string(monkeypatch):
    import uvicorn

    seen: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.append(app))

    class MyApp(App):
        pass

    app = MyApp()
    app.run("0.0.0.0", 8080)
    assert seen == [app]


def test_run_without_httptools_leaves_the_protocol_to_uvicorn(monkeypatch):
    """uvicorn's h11 (picked when httptools is missing) bounds a head's size itself."""
    import importlib.util

    import uvicorn

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *args: None if name == "httptools" else real_find_spec(name, *args),
    )
    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    App().run()
    assert calls[0]["http"] == "auto"
