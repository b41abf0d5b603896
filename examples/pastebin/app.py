"""A pastebin: SQLite persistence, Jinja2 templates, sessions and CSRF protection.

Run with ``uvicorn examples.pastebin.app:app`` or ``python examples/pastebin/app.py``
and open http://127.0.0.1:8000/.

* Pastes live in SQLite (``$PASTEBIN_DB``, default ``micropie-pastebin.sqlite3`` in the
  temporary directory), opened by a startup hook and closed by a shutdown hook; the
  blocking ``sqlite3`` calls run in worker threads.
* Pages are Jinja2 templates from ``templates/`` next to this file (autoescaped).
* The session remembers which pastes this visitor created (``/mine``), so only they
  may delete them, and carries one-shot "flash" messages.
* ``CSRFMiddleware`` guards every POST; forms carry ``{{ csrf_token() }}``. Set
  ``$PASTEBIN_SECRET`` to a long random value (with several workers it must be the same
  for all; without it a random key is made per process).
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from micropie import App, CSRFMiddleware, HTTPException, limits, methods

try:  # run as ``python examples/pastebin/app.py`` or as the package module
    from .store import PasteStore
except ImportError:
    from store import PasteStore  # type: ignore[no-redef,import-not-found]

HERE = Path(__file__).resolve().parent
DEFAULT_DB = Path(tempfile.gettempdir()) / "micropie-pastebin.sqlite3"
MAX_PASTE_CHARS = 100_000
MAX_TITLE_CHARS = 120


class Pastebin(App):
    def __init__(self, db_path: str | os.PathLike[str] = DEFAULT_DB, **options: Any) -> None:
        options.setdefault("templates_dir", HERE / "templates")
        super().__init__(**options)
        self._store = PasteStore(db_path)
        self.startup_handlers.append(self._open_store)
        self.shutdown_handlers.append(self._store.close)

    async def _open_store(self) -> None:
        await run_in_threadpool(self._store.open)

    async def _db(self, method: Callable[..., Any], *args: Any) -> Any:
        return await run_in_threadpool(method, *args)

    # -- pages -------------------------------------------------------------------

    async def index(self):
        recent = await self._db(self._store.recent)
        return await self._page("index.html", recent=recent, max_chars=MAX_PASTE_CHARS)

    @methods("POST")
    @limits(max_body_size=1024 * 1024)
    async def new(self, content: str, title: str = "", private: bool = False):
        title = title.strip()[:MAX_TITLE_CHARS] or "Untitled"
        if not content.strip():
            return 400, await self._page("index.html", error="A paste needs some text.", recent=[])
        if len(content) > MAX_PASTE_CHARS:
            return 413, await self._page("index.html", error="That paste is too long.", recent=[])
        slug = await self._db(self._store.create, title, content, private)
        session = self.request.session
        session["mine"] = [*session.get("mine", []), slug]
        session["flash"] = "Paste created." + (
            " Only people with the link can see it." if private else ""
        )
        return self._redirect(f"{self._root()}/paste/{slug}")

    async def paste(self, slug: str):
        paste = await self._get(slug)
        return await self._page("paste.html", paste=paste, owner=slug in self._mine())

    async def raw(self, slug: str):
        paste = await self._get(slug)
        return 200, paste["content"], {"Content-Type": "text/plain; charset=utf-8"}

    async def mine(self):
        pastes = await self._db(self._store.many, self._mine()) if self._mine() else []
        return await self._page("mine.html", pastes=pastes)

    @methods("POST")
    async def delete(self, slug: str):
        if slug not in self._mine():
            raise HTTPException(403, "403 Forbidden: not your paste")
        await self._db(self._store.delete, slug)
        session = self.request.session
        session["mine"] = [s for s in self._mine() if s != slug]
        session["flash"] = "Paste deleted."
        return self._redirect(f"{self._root()}/mine")

    # -- helpers (underscore names are never URLs) --------------------------------

    async def _get(self, slug: str) -> dict[str, Any]:
        paste = await self._db(self._store.get, slug)
        if paste is None:
            raise HTTPException(404, "404 Not Found: no such paste")
        return paste  # type: ignore[no-any-return]

    def _mine(self) -> list[str]:
        return list(self.request.session.get("mine", []))

    def _root(self) -> str:
        return str(self.request.scope.get("root_path", ""))

    async def _page(self, template: str, /, **context: Any) -> str:
        flash = self.request.session.pop("flash", None)
        return await self._render_template(
            template, root=self._root(), flash=flash, mine_count=len(self._mine()), **context
        )


def create_app(db_path: str | os.PathLike[str] = DEFAULT_DB, secret: str | None = None) -> Pastebin:
    """A pastebin on ``db_path`` with CSRF protection keyed by ``secret``."""
    app = Pastebin(db_path)
    CSRFMiddleware(secret or secrets.token_urlsafe(32)).install(app)
    return app


app = create_app(os.environ.get("PASTEBIN_DB", DEFAULT_DB), os.environ.get("PASTEBIN_SECRET"))

if __name__ == "__main__":
    app.run()
