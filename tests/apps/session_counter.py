"""A session counter served by uvicorn in multi-worker session tests.

``MICROPIE_TEST_SESSION_BACKEND`` picks the backend: ``memory`` (default), ``cookie``
or ``redis`` (``MICROPIE_TEST_REDIS_URL`` says where);
``MICROPIE_TEST_SESSION_STORE_TIMEOUT`` the seconds the store may take to answer.
"""

from __future__ import annotations

import os

from micropie import App, CookieSessionBackend, InMemorySessionBackend, RedisSessionBackend
from micropie.sessions import SessionBackend


def make_backend() -> SessionBackend:
    kind = os.environ.get("MICROPIE_TEST_SESSION_BACKEND", "memory")
    if kind == "redis":
        return RedisSessionBackend(os.environ["MICROPIE_TEST_REDIS_URL"])
    if kind == "cookie":
        return CookieSessionBackend("multi-worker test secret")
    return InMemorySessionBackend()


class CounterApp(App):
    async def index(self):
        return "ok"

    async def count(self):
        self.session["count"] = self.session.get("count", 0) + 1
        return f"{self.session['count']} {os.getpid()}"


app = CounterApp(
    make_backend(),
    session_store_timeout=float(os.environ.get("MICROPIE_TEST_SESSION_STORE_TIMEOUT", 5)),
)
