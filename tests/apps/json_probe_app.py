"""An app that shows whether the event loop answered others while a JSON body was parsed.

``/ping`` counts the requests it answers. A pure ASGI middleware notes that count when
``/parse`` has received its whole body (its parse starts) and again when ``/parse``
answers; ``/probe`` reports both. Pings answered in between were served while the body
was being parsed.
"""

from __future__ import annotations

from typing import Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from micropie import App, limits

#: The largest body ``/parse`` takes (several times the default, so its parse is long).
PARSE_LIMIT = 128 * 1024 * 1024

_counts: dict[str, Any] = {"pings": 0, "at_body_end": None, "at_answer": None}


class ParseProbe:
    """Notes the ping count when ``/parse`` has its whole body and when it answers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/parse":
            await self.app(scope, receive, send)
            return

        async def noting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request" and not message.get("more_body", False):
                _counts["at_body_end"] = _counts["pings"]
            return message

        async def noting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                _counts["at_answer"] = _counts["pings"]
            await send(message)

        await self.app(scope, noting_receive, noting_send)


class ProbeApp(App):
    async def ping(self):
        _counts["pings"] += 1
        return "pong"

    @limits(max_body_size=PARSE_LIMIT, max_buffer_size=PARSE_LIMIT, body_timeout=60)
    async def parse(self, value=None):
        return {"parsed": True}

    async def probe(self):
        return dict(_counts)


app = ProbeApp(middleware=[Middleware(ParseProbe)])
