"""The same small web app in micropie, Starlette, FastAPI, BlackSheep, Muffin and raw ASGI.

Each ``*_app`` module here exposes ``app`` for ``uvicorn benchmarks.peers.NAME_app:app``;
:mod:`benchmarks.frameworks` serves them side by side under ``wrk``. Every app answers
the requests in :data:`CASES` the idiomatic way of its framework, with the same bodies
(checked before anything is timed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The directory of ``page.html``, the Jinja2 page every app renders.
TEMPLATES = Path(__file__).resolve().parent / "templates"
#: The secret the signed-cookie sessions are signed with.
SESSION_SECRET = "benchmark-secret-not-for-production"
#: What ``GET /data`` answers (as JSON).
JSON_PAYLOAD: dict[str, Any] = {"name": "micropie", "fast": True, "items": [1, 2, 3]}
#: What ``POST /echo`` is sent (and answers).
ECHO_BODY = b'{"user":{"name":"alice","id":42},"tags":["a","b","c"],"active":true,"score":9.5}'
#: The context of the Jinja2 page: a title and a 20-item loop.
PAGE_CONTEXT: dict[str, Any] = {
    "title": "Price list",
    "items": [{"name": f"item {i}", "price": f"{i * 1.5:.2f}"} for i in range(20)],
}
#: The session ``GET /login`` starts; ``GET /visit`` reads ``user`` and bumps ``visits``.
LOGIN_SESSION: dict[str, Any] = {"user": "alice", "visits": 0}


def visit_text(session: dict[str, Any]) -> str:
    """Read ``user`` and bump ``visits`` in ``session``: the session case's work."""
    session["visits"] = session.get("visits", 0) + 1
    return f"Hello, {session.get('user', 'stranger')}! Visit {session['visits']}."


@dataclass(frozen=True)
class Case:
    """One request, sent alike to every app that supports it, and what it must answer."""

    name: str
    path: str
    method: str = "GET"
    body: bytes = b""
    content_type: str | None = None
    status: int = 200
    answer: bytes | None = None  # the body; None: only the status is checked
    json: bool = False  # compare bodies as JSON
    session: bool = False  # needs the cookie GET /login sets


CASES: tuple[Case, ...] = (
    Case("plaintext", "/hello", answer=b"Hello, world!"),
    Case("path param", "/greet/alice", answer=b"Hello, alice!"),
    Case("query", "/search?q=starlette", answer=b"Results for starlette"),
    Case("JSON response", "/data", answer=json.dumps(JSON_PAYLOAD).encode(), json=True),
    Case("JSON POST echo", "/echo", "POST", ECHO_BODY, "application/json", answer=ECHO_BODY,
         json=True),
    Case(
        "form POST", "/submit", "POST", b"name=alice&age=30",
        "application/x-www-form-urlencoded", answer=b"alice is 30",
    ),
    Case("404", "/missing/page", status=404),
    Case("Jinja2 page", "/page"),  # answer: the rendered page, filled in below
    Case("session r/w", "/visit", session=True, answer=b"Hello, alice! Visit 1."),
)  # fmt: skip


def render_page() -> bytes:
    """The page every app must answer ``GET /page`` with (Jinja2, rendered directly)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, auto_reload=False
    )
    return env.get_template("page.html").render(**PAGE_CONTEXT).encode()
