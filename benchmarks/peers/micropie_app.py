"""micropie: one method per case; signed-cookie sessions, templates from ``TEMPLATES``."""

from __future__ import annotations

from typing import Any

from micropie import CookieSessionBackend

from ..dispatch import BenchApp
from . import LOGIN_SESSION, PAGE_CONTEXT, SESSION_SECRET, TEMPLATES, visit_text


class PeerApp(BenchApp):
    """The dispatch benchmark's app (hello, greet, search, data, submit) and the rest."""

    async def echo(self) -> Any:
        return self.request.get_json

    async def page(self) -> str:
        return await self._render_template("page.html", **PAGE_CONTEXT)

    async def login(self) -> str:
        self.session.update(LOGIN_SESSION)
        return "Logged in"

    async def visit(self) -> str:
        return visit_text(self.session)


app = PeerApp(session_backend=CookieSessionBackend(SESSION_SECRET), templates_dir=TEMPLATES)
