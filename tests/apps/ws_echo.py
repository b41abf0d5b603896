"""A websocket echo app served by uvicorn in ``tests/test_websockets.py``.

Only ``http://allowed.example`` may open websockets (SPEC §9 origin check).
"""

from __future__ import annotations

from micropie import App, WebSocket


class EchoApp(App):
    async def index(self):
        return "ok"

    async def ws_echo(self, ws: WebSocket, prefix: str = ""):
        await ws.accept()
        async for message in ws:
            if isinstance(message, bytes):
                await ws.send_bytes(message)
            else:
                await ws.send_text(f"{prefix}:{message}")

    async def ws_boom(self, ws: WebSocket):
        await ws.accept()
        raise RuntimeError("boom in a websocket handler")


app = EchoApp(websocket_origins=["http://allowed.example"])
