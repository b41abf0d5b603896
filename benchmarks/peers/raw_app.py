"""A hand-written ASGI app: a dict of paths, no framework (the floor to measure against).

JSON through :mod:`json`, forms through :func:`urllib.parse.parse_qsl`, the page through
a plain synchronous Jinja2 environment. No sessions.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import jinja2

from . import JSON_PAYLOAD, PAGE_CONTEXT, TEMPLATES

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

_HTML = [(b"content-type", b"text/html; charset=utf-8")]
_JSON = [(b"content-type", b"application/json")]
_env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
_page = _env.get_template("page.html")


async def _answer(send: Send, body: bytes, headers: list[tuple[bytes, bytes]] = _HTML,
                  status: int = 200) -> None:  # fmt: skip
    start = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": start})
    await send({"type": "http.response.body", "body": body})


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _query(scope: dict[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(scope["query_string"].decode()))


async def app(scope: dict[str, Any], receive: Receive, send: Send) -> None:
    if scope["type"] != "http":  # lifespan: nothing to set up
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    if path == "/hello":
        await _answer(send, b"Hello, world!")
    elif path.startswith("/greet/") and path.count("/") == 2:
        await _answer(send, f"Hello, {path[7:]}!".encode())
    elif path == "/search":
        await _answer(send, f"Results for {_query(scope)['q']}".encode())
    elif path == "/data":
        await _answer(send, json.dumps(JSON_PAYLOAD).encode(), _JSON)
    elif path == "/echo" and scope["method"] == "POST":
        await _answer(send, json.dumps(json.loads(await _body(receive))).encode(), _JSON)
    elif path == "/submit" and scope["method"] == "POST":
        form = dict(parse_qsl((await _body(receive)).decode()))
        await _answer(send, f"{form['name']} is {form['age']}".encode())
    elif path == "/page":
        await _answer(send, _page.render(**PAGE_CONTEXT).encode())
    else:
        await _answer(send, b"Not Found", status=404)
