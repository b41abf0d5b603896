"""A chat room over websockets: every connected browser sees every message.

Run it with either of::

    uvicorn examples.chat.app:app
    python examples/chat/app.py

then open http://127.0.0.1:8000/ in two browser tabs, pick a name in each and talk.
``index`` serves the page (``chat.html``: plain HTML with inline JavaScript), which
connects to ``/chat``; ``ws_chat`` publishes each message to the room's channel and
relays everything published there to its browser.

The channel is a :class:`micropie.Broadcast`. By default it lives in this process;
with ``REDIS_URL`` set it goes through Redis pub/sub, so that every worker process on
every machine shares one room::

    REDIS_URL=redis://localhost:6379/0 uvicorn examples.chat.app:app --workers 4
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from micropie import (
    App,
    Broadcast,
    BroadcastUnavailable,
    ConnectionClosed,
    Subscriber,
    SubscriberOverflow,
    WebSocket,
)

PAGE = (Path(__file__).parent / "chat.html").read_text(encoding="utf-8")
CHANNEL = "chat"
MAX_NAME = 40
MAX_TEXT = 2000
#: A JSON message longer than this is ignored unread (room for MAX_TEXT escaped characters).
MAX_JSON_MESSAGE = 64 * 1024
#: Close code for a client that fell too far behind: "try again later" (the page reconnects).
TRY_AGAIN_LATER = 1013
#: Close code when the server shuts down: "service restart".
SERVICE_RESTART = 1012
#: Messages one connection may send: MESSAGE_BURST at once, then MESSAGE_RATE a second.
#: Every message goes to everyone: without a bound one client flooding the room made the
#: server send 400,000 messages for 2,000 of its own to 200 readers, fell them all too far
#: behind (disconnected) and slowed every other request.
MESSAGE_RATE = 5.0
MESSAGE_BURST = 20
SLOW_DOWN = f"Slow down: at most {MESSAGE_RATE:g} messages a second."


class _Throttle:
    """A token bucket: :meth:`allow` says whether one more message may go out now."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.tokens = float(MESSAGE_BURST)
        self.last = clock()

    def allow(self) -> bool:
        now = self.clock()
        self.tokens = min(MESSAGE_BURST, self.tokens + (now - self.last) * MESSAGE_RATE)
        self.last = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Chat(App):
    #: The clock the per-connection message limit reads (tests set their own).
    _clock: Callable[[], float] = staticmethod(time.monotonic)

    def __init__(self, broadcast_url: str | None = None) -> None:
        super().__init__()
        #: The room's channel: ``REDIS_URL`` when set, else this process's memory.
        self.broadcast = Broadcast(broadcast_url or os.environ.get("REDIS_URL", "memory://"))
        self.broadcast.install(self)

    async def index(self):
        """``GET /``: the chat page."""
        return PAGE

    async def ws_chat(self, ws: WebSocket, name: str = "anonymous"):
        """``/chat?name=Ann``: publish this client's messages, relay the room's to it.

        A message is JSON ``{"name": ..., "text": ...}`` (the name is optional; strings
        only, at most 64 KiB) or plain text; everyone receives ``{"type": "message",
        "name", "text"}``, and ``{"type": "presence", "name", "joined"}`` when someone
        comes or goes. The
        client's own ``joined`` event is its first: from then on it receives everything.
        A client sending faster than ``MESSAGE_RATE`` (after a burst of
        ``MESSAGE_BURST``) has the extra messages dropped and is told once per burst.
        """
        name = _clean_name(name)
        throttle, told = _Throttle(self._clock), False
        await ws.accept()
        async with self.broadcast.subscribe(CHANNEL) as subscriber:
            relay = asyncio.create_task(_relay(subscriber, ws))
            try:
                await self._publish(ws, {"type": "presence", "name": name, "joined": True})
                async for message in ws:
                    event = _chat_event(message, default_name=name)
                    if event is None:
                        continue
                    if throttle.allow():
                        told = False
                        await self._publish(ws, event)
                    elif not told:
                        told = True
                        await ws.send_json({"type": "error", "text": SLOW_DOWN})
            finally:
                relay.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await relay
                if self.broadcast.connected:
                    with contextlib.suppress(BroadcastUnavailable):
                        left = {"type": "presence", "name": name, "joined": False}
                        await self.broadcast.publish(CHANNEL, left)

    async def _publish(self, ws: WebSocket, event: dict[str, Any]) -> None:
        """Publish ``event`` to the room; tell the sender when it could not be delivered."""
        try:
            await self.broadcast.publish(CHANNEL, event)
        except BroadcastUnavailable:
            error = "Not delivered: the chat relay is unavailable, try again shortly."
            await ws.send_json({"type": "error", "text": error})


async def _relay(subscriber: Subscriber, ws: WebSocket) -> None:
    """Send each event of the room to this websocket until either side ends."""
    try:
        async for event in subscriber:
            await ws.send_json(event)
    except SubscriberOverflow:
        await ws.close(TRY_AGAIN_LATER, "too far behind")
    except ConnectionClosed:
        return
    else:  # the broadcast disconnected: the server is shutting down
        await ws.close(SERVICE_RESTART)


def _clean_name(name: str) -> str:
    return name.strip()[:MAX_NAME] or "anonymous"


def _chat_event(message: str | bytes, default_name: str) -> dict[str, Any] | None:
    """The event to publish for one incoming message, or ``None`` to ignore it."""
    if isinstance(message, bytes):
        return None
    name, text = default_name, message
    if message.startswith("{"):
        if len(message) > MAX_JSON_MESSAGE:  # parsing megabytes would hold the event loop
            return None
        try:
            data = json.loads(message)
        except (ValueError, RecursionError):  # malformed, or nested too deep to parse
            return None
        if not isinstance(data, dict):
            return None
        name, text = data.get("name") or default_name, data.get("text")
        if not isinstance(name, str) or not isinstance(text, str):
            return None
    text = text.strip()[:MAX_TEXT]
    if not text:
        return None
    return {"type": "message", "name": _clean_name(name), "text": text}


app = Chat()

if __name__ == "__main__":
    app.run()
