"""The showcase served by ``make run``: one page linking to a live demo of each feature.

Run with ``make run``, ``uvicorn examples.showcase.app:app`` or
``python examples/showcase/app.py`` and open http://127.0.0.1:8000/.

Every example app is mounted under its own prefix with ``app.mount(...)`` (``/hello``,
``/routing``, ...). Mounted apps do not receive lifespan events themselves, so their
startup and shutdown hooks are registered with the showcase's own. All demos keep their
sessions in the showcase's one store: they share the browser's one ``session_id``
cookie (its path is ``/``), so with a store each they would replace each other's session.

With ``REDIS_URL`` set, that store is Redis and the chat and live-feed demos talk through
Redis pub/sub, so the showcase runs under several workers::

    REDIS_URL=redis://localhost:6379/0 uvicorn examples.showcase.app:app --workers 2
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from micropie import App, RedisSessionBackend, SessionBackend

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Demo:
    """One example app, mounted at ``/<path>``."""

    path: str
    module: str
    title: str
    blurb: str
    tries: tuple[str, ...] = ("",)


DEMOS = (
    Demo("hello", "hello", "Hello, world", "Every public method is a URL.",
         ("", "greet/Alice", "greet?name=Bob")),
    Demo("routing", "routing", "Routing and binding",
         "Path segments, query strings, type conversion, *args, **kwargs, @methods.",
         ("add/2/3", "files/docs/intro.md", "tags?tag=a&tag=b", "search?q=pie&x=1",
          "when/2024-05-01", "item/3")),
    Demo("json", "json_api", "Typed JSON API",
         "A to-do API: Pydantic models in, dataclasses out, 422s, its OpenAPI document.",
         ("", "todos", "openapi.json")),
    Demo("forms", "forms", "Forms", "Validation, checkboxes as list[str], Post/Redirect/Get."),
    Demo("templates", "templates", "Templates", "Jinja2 layouts with autoescaping.",
         ("", "hello?name=<script>alert(1)</script>")),
    Demo("static", "static_files", "Static files", "Starlette's StaticFiles mounted at /static.",
         ("", "static/hello.txt", "download")),
    Demo("lifespan", "lifespan", "Lifespan and SQLite",
         "A database opened at startup, queried from worker threads."),
    Demo("pastebin", "pastebin", "Pastebin",
         "A complete app: SQLite, templates, sessions and CSRF protection."),
    Demo("chat", "chat", "WebSocket chat", "ws_ handlers: a chat room for every open tab."),
    Demo("uploads", "uploads", "Uploads", "Streamed file uploads with bounded memory."),
    Demo("streaming", "streaming", "Streaming", "Generators streamed to the client.",
         ("count?to=5", "report")),
    Demo("sse", "sse", "Server-sent events", "A live clock and feed over EventSource."),
    Demo("middleware/hooks", "middleware.hook_order", "Middleware hooks",
         "before_request/after_request in list order (see the response headers)."),
    Demo("middleware/rate-limit", "middleware.rate_limit", "Rate limiting",
         "A before_request hook answering 429; reload quickly."),
    Demo("middleware/rewrite", "middleware.rewrite_response", "Rewriting responses",
         "after_request turns errors into JSON.", ("item/1", "item/99")),
    Demo("middleware/routes", "middleware.explicit_routing", "Explicit routing",
         "A hook maps URL patterns to private handlers.", ("users/1",)),
    Demo("middleware/csrf", "middleware.csrf", "CSRF protection",
         "A guestbook whose form carries a signed token."),
    Demo("middleware/honeypot", "middleware.honeypot", "Reading the form in a hook",
         "A honeypot field refuses spam bots before any handler runs."),
    Demo("middleware/subapps", "middleware.subapps", "Sub-app hand-off",
         "A hook hands /blog and /api to other ASGI apps.", ("blog", "api/me")),
    Demo("wsgi", "wsgi", "WSGI", "The same kind of app as served by app.wsgi_app.",
         ("", "countdown")),
    Demo("starlette", "mount_in_starlette", "Inside Starlette",
         "A micropie app mounted in a Starlette app.", ("", "shop/")),
)  # fmt: skip


def load_example(demo: Demo) -> Any:
    """The ``app`` of ``examples/<module>/app.py``."""
    return importlib.import_module(f"examples.{demo.module}.app").app


def session_store() -> SessionBackend | None:
    """Redis when ``REDIS_URL`` is set (sessions shared by every worker), else the default."""
    url = os.environ.get("REDIS_URL")
    return RedisSessionBackend(url) if url else None


class Showcase(App):
    def __init__(self, session_backend: SessionBackend | None = None, **options: Any) -> None:
        super().__init__(session_backend or session_store(), **options)
        if isinstance(self.session_backend, RedisSessionBackend):
            self.shutdown_handlers.append(self.session_backend.aclose)
        self._demos: list[Demo] = []
        for demo in DEMOS:
            self._add(demo, load_example(demo))
        # Browsers ask every site for it: without one, each first visit logs a 404 in the
        # browser's console and the server log.
        self.add_route("/favicon.ico", favicon, methods=["GET"], include_in_schema=False)

    def _add(self, demo: Demo, example: Any) -> None:
        self.mount("/" + demo.path, example)
        for micropie_app in _micropie_apps(example):
            micropie_app.session_backend = self.session_backend  # one session per browser
        if isinstance(example, App):  # mounted apps get no lifespan events of their own
            self.startup_handlers.extend(example.startup_handlers)
            self.shutdown_handlers.extend(example.shutdown_handlers)
        self._demos.append(demo)

    async def index(self):
        root = str(self.request.scope.get("root_path", ""))
        items = "".join(_demo_html(root, demo) for demo in self._demos)
        return PAGE.format(items=items)


#: A pie slice, as the site's icon.
ICON = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16">'
    b'<circle cx="8" cy="8" r="7" fill="#e0a050"/><path d="M8 8V1a7 7 0 0 1 7 7z" '
    b'fill="#b05a20"/></svg>'
)


async def favicon(request: Request) -> Response:
    """The site's icon (``/favicon.ico``), kept by browsers for a day."""
    return Response(ICON, media_type="image/svg+xml", headers={"cache-control": "max-age=86400"})


def _micropie_apps(app: Any) -> Iterator[App]:
    """``app`` if it is a micropie app, else those mounted in it (a Starlette app's)."""
    if isinstance(app, App):
        yield app
        return
    for route in getattr(app, "routes", ()):
        if isinstance(route, Mount):
            yield from _micropie_apps(route.app)


def _demo_html(root: str, demo: Demo) -> str:
    base = f"{root}/{demo.path}/"
    links = " · ".join(
        f'<a href="{escape(base + path, quote=True)}">/{escape(demo.path + "/" + path)}</a>'
        for path in demo.tries
    )
    return f"<li><strong>{escape(demo.title)}</strong>: {escape(demo.blurb)}<br>{links}</li>"


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>micropie showcase</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
li{{margin:.6rem 0}}</style></head>
<body><h1>micropie showcase</h1>
<p>Each demo below is an app from <code>examples/</code>, mounted here under its own path.
Its source says what it shows; the docs (<code>make docs</code>) explain every feature.</p>
<ul>{items}</ul></body></html>"""


def _ensure_importable() -> None:
    """Let ``python examples/showcase/app.py`` import the ``examples`` package."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


_ensure_importable()
app = Showcase()

if __name__ == "__main__":
    app.run()
