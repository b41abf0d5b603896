"""A chat room over websockets: every connected browser sees every message.

Run it with either of::

    uvicorn examples.chat.app:app
    python examples/chat/app.py

then open http://127.0.0.1:8000/ in two browser tabs, pick a name in each and talk.
``index`` serves the page (``chat.html``: plain HTML with inline JavaScript), which
connects to ``/chat``; ``ws_chat`` relays each message to everyone in the room.

The room lives in this process's memory, so run one worker (or share the messages
through something like Redis pub/sub when running several).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from micropie import App, ConnectionClosed, WebSocket

PAGE = (Path(__file__).parent / "chat.html").read_text(encoding="utf-8")
MAX_NAME = 40
MAX_TEXT = 2000


class Room:
    """The websockets currently in the chat room."""

    def __init__(self) -> None:
        self.members: set[WebSocket] = set()

    async def join(self, ws: WebSocket) -> None:
        self.members.add(ws)
        await self.broadcast({"type": "presence", "online": len(self.members)})

    async def leave(self, ws: WebSocket) -> None:
        self.members.discard(ws)
        await self.broadcast({"type": "presence", "online": len(self.members)})

    async def broadcast(self, event: dict[str, Any]) -> None:
        """Send ``event`` to every member; members whose peer has gone are dropped."""
        for member in list(self.members):
            try:
                await member.send_json(event)
            except ConnectionClosed:
                self.members.discard(member)


class Chat(App):
    def __init__(self) -> None:
        super().__init__()
        self._room = Room()

    async def index(self):
        """``GET /``: the chat page."""
        return PAGE

    async def ws_chat(self, ws: WebSocket, name: str = "anonymous"):
        """``/chat?name=Ann``: relay this client's messages to the whole room.

        A message is JSON ``{"name": ..., "text": ...}`` (the name is optional) or
        plain text; everyone receives ``{"type": "message", "name", "text"}``.
        """
        await ws.accept()
        await self._room.join(ws)
        try:
            async for message in ws:
                event = _chat_event(message, default_name=name)
                if event is not None:
                    await self._room.broadcast(event)
        finally:
            await self._room.leave(ws)


def _chat_event(message: str | bytes, default_name: str) -> dict[str, Any] | None:
    """The event to broadcast for one incoming message, or ``None`` to ignore it."""
    if isinstance(message, bytes):
        return None
    name, text = default_name, message
    if message.startswith("{"):
        try:
            data = json.loads(message)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        name, text = str(data.get("name") or default_name), str(data.get("text") or "")
    text = text.strip()[:MAX_TEXT]
    if not text:
        return None
    return {"type": "message", "name": name.strip()[:MAX_NAME] or "anonymous", "text": text}


app = Chat()

if __name__ == "__main__":
    app.run()
