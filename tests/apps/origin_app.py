"""An app with ``websocket_origins`` and a mounted Starlette websocket route, for uvicorn."""

from __future__ import annotations

from starlette.routing import Router, WebSocketRoute
from starlette.websockets import WebSocket

from micropie import App

ALLOWED = "https://app.example"


async def mounted_chat(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text("mounted")
    await websocket.close()


class OriginApp(App):
    async def hello(self):
        return "hello"

    async def ws_chat(self, ws):
        await ws.accept()
        await ws.send_text("welcome")
        await ws.close()


app = OriginApp(websocket_origins=[ALLOWED])
app.mount("/sub", Router([WebSocketRoute("/chat", mounted_chat)]))
