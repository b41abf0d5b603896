"""The app real-server security, fault and load tests run under uvicorn.

Handlers cover each kind of work a server does: plain text, JSON, binding, session
writes, a streamed response, an upload and a websocket. ``/debug_state`` reports what
must not leak once clients go away: live asyncio tasks, open stream generators and
upload temp files. ``MICROPIE_SECURITY_SESSION_TIMEOUT`` sets the session timeout (the
load soak uses a short one so sessions expire during the run) and
``MICROPIE_SECURITY_BODY_TIMEOUT`` the body timeout.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

from starlette.responses import PlainTextResponse

from micropie import App, ConnectionClosed, InMemorySessionBackend, limits

#: Where uploads are saved; every file here is removed again by the handler.
UPLOAD_DIR = Path(
    os.environ.get("MICROPIE_SECURITY_UPLOAD_DIR", Path(tempfile.gettempdir()) / "micropie-sec")
)
SESSION_TIMEOUT = int(os.environ.get("MICROPIE_SECURITY_SESSION_TIMEOUT", 8 * 60 * 60))
BODY_TIMEOUT = float(os.environ.get("MICROPIE_SECURITY_BODY_TIMEOUT", 5))

_streams = {"opened": 0, "closed": 0}
_sockets = {"opened": 0, "closed": 0}
_uploads = {"started": 0, "finished": 0}


class SecurityApp(App):
    async def index(self):
        return "ok"

    async def greet(self, name: str = "world", times: int = 1):
        return f"hello {name} " * min(times, 100)

    async def save(self, item: str = ""):
        return {"item": item}

    async def data(self):
        return {"items": list(range(10)), "ok": True}

    async def tagged(self, tag: str = ""):
        """A Starlette response carrying a client-chosen header value."""
        return PlainTextResponse("tagged", headers={"X-Tag": tag})

    async def visit(self):
        """A session write on every request (a new session when no cookie is sent)."""
        self.session["visits"] = self.session.get("visits", 0) + 1
        return str(self.session["visits"])

    async def stream(self, chunks: int = 1000, size: int = 1024):
        _streams["opened"] += 1
        try:
            for _ in range(chunks):
                yield b"x" * size
                await asyncio.sleep(0.001)
        finally:
            _streams["closed"] += 1

    @limits(max_body_size=1024**3, body_timeout=30)
    async def upload(self, file):
        _uploads["started"] += 1
        UPLOAD_DIR.mkdir(parents=True, exist_ok=True)
        try:
            saved = await file.save(UPLOAD_DIR)
            size = saved.stat().st_size
            saved.unlink()
            return {"size": size}
        finally:
            _uploads["finished"] += 1

    async def ws_echo(self, ws):
        _sockets["opened"] += 1
        try:
            await ws.accept()
            async for message in ws:
                await ws.send_text(message if isinstance(message, str) else message.hex())
        except ConnectionClosed:
            pass
        finally:
            _sockets["closed"] += 1

    async def debug_state(self):
        """What is still alive: must return to its idle values after faults."""
        leftovers = sorted(p.name for p in UPLOAD_DIR.glob("*")) if UPLOAD_DIR.exists() else []
        return {
            "tasks": len(asyncio.all_tasks()),
            "streams_open": _streams["opened"] - _streams["closed"],
            "streams_opened": _streams["opened"],
            "sockets_open": _sockets["opened"] - _sockets["closed"],
            "uploads_open": _uploads["started"] - _uploads["finished"],
            "uploads_started": _uploads["started"],
            "upload_files": leftovers,
            "sessions": len(getattr(self.session_backend, "_sessions", ())),
        }


app = SecurityApp(
    InMemorySessionBackend(), session_timeout=SESSION_TIMEOUT, body_timeout=BODY_TIMEOUT
)
