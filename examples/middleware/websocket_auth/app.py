"""Websocket middleware: refuse a connection without a valid token (close 1008).

``before_websocket`` runs before the ``ws_`` handler; returning ``{"code", "reason"}``
closes the connection with that code. ``after_websocket`` runs when the handler has
finished. Run it with::

    uvicorn examples.middleware.websocket_auth.app:app

then connect to ws://127.0.0.1:8000/echo?token=secret-token (any other token is
refused with code 1008).
"""

from __future__ import annotations

import hmac
import logging
import os

from micropie import App, WebSocketMiddleware

logger = logging.getLogger("micropie.examples.websocket_auth")
TOKENS = {os.environ.get("WS_TOKEN", "secret-token"): "ann"}


class TokenAuth(WebSocketMiddleware):
    async def before_websocket(self, request):
        # compared as bytes: compare_digest raises TypeError for non-ASCII text
        given = (request.query("token") or "").encode()
        for token, user in TOKENS.items():
            if hmac.compare_digest(given, token.encode()):
                request.user = user
                return None
        return {"code": 1008, "reason": "invalid token"}

    async def after_websocket(self, request):
        logger.info("websocket of %s closed", request.user)


class Chat(App):
    async def index(self):
        return "Connect to /echo?token=..."

    async def ws_echo(self, ws):
        await ws.accept()
        await ws.send_text(f"hello {self.request.user}")
        async for message in ws:
            await ws.send_text(f"{self.request.user}: {message}")


app = Chat()
app.ws_middlewares.append(TokenAuth())

if __name__ == "__main__":
    app.run()
