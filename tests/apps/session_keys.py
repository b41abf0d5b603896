"""Writes one session key per request; served by uvicorn in concurrent-session tests.

The backend is chosen as in ``tests.apps.session_counter`` (``MICROPIE_TEST_SESSION_BACKEND``).
"""

from __future__ import annotations

import os

from micropie import App
from tests.apps.session_counter import make_backend


class KeysApp(App):
    async def index(self):
        return "ok"

    async def put(self, key: str):
        """Store this worker's pid under ``key``; answers the pid."""
        self.session[key] = os.getpid()
        return str(os.getpid())

    async def keys(self):
        return sorted(self.session)


app = KeysApp(make_backend())
