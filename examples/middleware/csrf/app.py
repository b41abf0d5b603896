"""CSRF protection: ``CSRFMiddleware`` guards every method but GET/HEAD/OPTIONS/TRACE.

The form carries the token from ``{{ csrf_token() }}``; scripts send it in the
``X-CSRF-Token`` header (``/token`` hands it out). Run it with::

    CSRF_SECRET=change-me uvicorn examples.middleware.csrf.app:app

then open http://127.0.0.1:8000/ and sign the guestbook. A POST without the token,
e.g. ``curl -X POST -d message=hi http://127.0.0.1:8000/sign``, gets ``403``.
"""

from __future__ import annotations

import os
from pathlib import Path

from micropie import App, CSRFMiddleware
from micropie.csrf import csrf_token


class Guestbook(App):
    def __init__(self, **options):
        super().__init__(**options)
        self._entries: list[str] = []

    async def index(self):
        root = self.request.root_path  # where the app is mounted: links stay below it
        return await self._render_template("form.html", entries=self._entries, root=root)

    async def sign(self, message: str):
        """``POST /sign``: only reached with a valid token."""
        self._entries.append(message)
        return self._redirect(self.request.root_path + "/", status=303)

    async def token(self):
        """The token for this session, for ``fetch(..., {headers: {"X-CSRF-Token": t}})``."""
        return {"csrf_token": csrf_token(self.request)}


app = Guestbook(templates_dir=Path(__file__).parent / "templates")
CSRFMiddleware(os.environ.get("CSRF_SECRET", "dev-only-secret-change-me")).install(app)

if __name__ == "__main__":
    app.run()
