"""micropie: one method per case; signed-cookie sessions, templates from ``TEMPLATES``."""

from __future__ import annotations

from typing import Any

from micropie import App, CookieSessionBackend

from . import JSON_PAYLOAD, LOGIN_SESSION, PAGE_CONTEXT, SESSION_SECRET, TEMPLATES, visit_text


class PeerApp(App):
    async def hello(self) -> str:
        return "Hello, world!"

    async def greet(self, name: str) -> str:
        return f"Hello, {name}!"

    async def search(self, q: str) -> str:
        return f"Results for {q}"

    async def data(self) -> dict[str, Any]:
        return JSON_PAYLOAD

    async def echo(self) -> Any:
        return self.request.get_json

    async def submit(self, name: str, age: str) -> str:
        return f"{name} is {age}"

    async def page(self) -> str:
        return await self._render_template("page.html", **PAGE_CONTEXT)

    async def login(self) -> str:
        self.session.update(LOGIN_SESSION)
        return "Logged in"

    async def visit(self) -> str:
        return visit_text(self.session)


app = PeerApp(session_backend=CookieSessionBackend(SESSION_SECRET), templates_dir=TEMPLATES)
