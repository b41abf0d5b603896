"""Drive an ASGI app with hand-built scopes: raw bytes a test client would normalise.

Attack tests need paths, query strings and headers that ``httpx`` refuses or rewrites
(``/../``, undecodable bytes, bad ``Content-Length``) and request bodies that stall.
:func:`call` sends one request straight to the app and returns what it answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

Receive = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class Answer:
    """What the app sent back for one request."""

    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name.lower()), None)


def http_scope(
    raw_path: bytes,
    *,
    method: str = "GET",
    query_string: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
) -> dict[str, Any]:
    """An HTTP scope as uvicorn builds it: ``path`` is ``raw_path`` percent-decoded."""
    path = unquote_to_bytes(raw_path).decode("utf-8", "replace")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": raw_path,
        "root_path": "",
        "query_string": query_string,
        "headers": [(k.lower(), v) for k, v in headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }


def body_receive(*chunks: bytes) -> Receive:
    """A ``receive`` that delivers ``chunks`` then reports a disconnect."""
    pending = list(chunks) or [b""]

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await asyncio.sleep(3600)  # a real client waits for the response
        return {"type": "http.disconnect"}

    return receive


def stalling_receive(first: bytes = b"") -> Receive:
    """A ``receive`` that delivers ``first`` (more to come) and then never sends again."""
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": first, "more_body": True}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    return receive


async def call_async(app: Any, scope: dict[str, Any], receive: Receive | None = None) -> Answer:
    answer = Answer()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer.status = message["status"]
            answer.headers = [
                (k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in message["headers"]
            ]
        elif message["type"] == "http.response.body":
            answer.body += message.get("body", b"")

    await app(scope, receive or body_receive(), send)
    return answer


def call(
    app: Any,
    raw_path: bytes | str,
    *,
    method: str = "GET",
    query_string: bytes = b"",
    headers: Sequence[tuple[bytes, bytes]] = (),
    body: bytes | None = None,
    receive: Receive | None = None,
    timeout: float = 10.0,
) -> Answer:
    """Send one request to ``app`` and return its answer (raises if it hangs)."""
    if isinstance(raw_path, str):
        raw_path = raw_path.encode("ascii")
    scope = http_scope(raw_path, method=method, query_string=query_string, headers=headers)
    if receive is None:
        receive = body_receive(body) if body is not None else body_receive()
    return asyncio.run(asyncio.wait_for(call_async(app, scope, receive), timeout))
