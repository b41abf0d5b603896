"""A small app of a user's, written against micropie's public API only, type-checked by
tests/test_user_typing.py (mypy --strict and pyright, no ignores)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import BaseModel
from starlette.responses import Response

from micropie import (
    App,
    HTTPException,
    HttpMiddleware,
    Request,
    Server,
    UploadedFile,
    WebSocket,
    WebSocketMiddleware,
    WebSocketRequest,
    current_request,
    describe,
    limits,
    methods,
    sse_event,
)


class Item(BaseModel):
    name: str
    price: float = 0.0


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Timing(HttpMiddleware):
    async def before_request(self, request: Request) -> dict[str, Any] | None:
        request.started = time.perf_counter()  # an attribute of the app's own
        return None

    async def after_request(
        self,
        request: Request,
        status_code: int,
        response_body: Any,
        extra_headers: list[tuple[str, str]],
    ) -> dict[str, Any] | None:
        started = getattr(request, "started", None)
        if started is not None:
            extra_headers.append(("X-Time", f"{time.perf_counter() - started:.4f}"))
        return None


class Auth(WebSocketMiddleware):
    async def before_websocket(self, request: WebSocketRequest) -> dict[str, Any] | None:
        request.user = request.query_params.get("user", ["guest"])[0]
        return None


class MyApp(App):
    async def index(self) -> str:
        return "Hello, world!"

    async def greet(self, name: str = "Guest", times: int = 1) -> str:
        return f"Hello, {name}! " * times

    async def add(self, a: int, b: int) -> dict[str, int]:
        return {"sum": a + b}

    @methods("GET", "POST")
    async def visits(self) -> str:
        n = self.request.session["n"] = self.request.session.get("n", 0) + 1
        return f"Visit {n} ({self.request.started:.1f})"

    @methods("POST")
    @describe(status=201, summary="Make an item")
    async def make(self, item: Item) -> Item:
        return item

    async def point(self, x: int, y: int = 0) -> Point:
        return Point(x, y)

    @limits(max_body_size=1024)
    async def upload(self, file: UploadedFile) -> dict[str, Any]:
        return {"name": file.filename, "size": len(await file.read())}

    async def stream(self) -> AsyncIterator[str]:
        yield "a"

    async def events(self) -> AsyncIterator[str]:
        yield sse_event({"n": 1}, event="tick")

    async def raw(self) -> Response:
        return Response("raw", media_type="text/plain")

    async def page(self) -> str:
        return await self._render_template("page.html", title="x")

    async def go(self) -> tuple[int, str, list[tuple[str, str]]]:
        return self._redirect("/")

    async def missing(self) -> str:
        raise HTTPException(404, "no such thing")

    async def where(self) -> str:
        here = current_request.get()
        return str(self.request.url_for("add", a=1, b=2)) + here.method

    async def ws_echo(self, ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(f"{self.request.user}: {await ws.receive_text()}")


app = MyApp(openapi_url="/openapi.json", docs_url="/docs", json_errors=True)
app.middlewares.append(Timing())
app.ws_middlewares.append(Auth())


class Old(Server):
    def index(self, name: str = "Guest") -> str:
        return f"Hello, {name}!"

    def profile(self, user_id: str) -> str:
        age = self.query_params.get("age", ["Unknown"])[0]
        return f"User ID: {user_id}, Age: {age}"

    def submit(self) -> str:
        return self.body_params.get("username", ["Anonymous"])[0]

    def count(self) -> str:
        self.session["visits"] = self.session.get("visits", 0) + 1
        return self.render_template("index.html", visits=self.session["visits"])

    def home(self) -> tuple[int, str, list[tuple[str, str]]]:
        return self.redirect("/")


old = Old()
wsgi_application = old.wsgi_app

if __name__ == "__main__":
    app.run(port=8000)
