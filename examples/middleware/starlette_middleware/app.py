"""Starlette middleware around the whole app: TrustedHost, CORS and GZip.

Starlette middleware wraps everything micropie does (handlers, hooks, errors). Pass
it to the constructor, ``App(middleware=[Middleware(...)])``, or add it later with
``app.add_middleware(cls, **options)`` before the app starts. Run it with::

    ALLOWED_HOSTS=localhost,127.0.0.1 uvicorn examples.middleware.starlette_middleware.app:app

then ``curl -H 'Accept-Encoding: gzip' -H 'Origin: http://localhost:3000' -i
http://127.0.0.1:8000/report``.
"""

from __future__ import annotations

import os

from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware

from micropie import App

ALLOWED_HOSTS = os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",")
ALLOWED_ORIGINS = os.environ.get("ALLOWED_ORIGINS", "http://localhost:3000").split(",")


class Reports(App):
    async def index(self):
        return "ok"

    async def report(self):
        return {"rows": [{"id": n, "value": n * n} for n in range(200)]}


app = Reports(
    middleware=[
        Middleware(TrustedHostMiddleware, allowed_hosts=ALLOWED_HOSTS),
        Middleware(CORSMiddleware, allow_origins=ALLOWED_ORIGINS, allow_methods=["GET", "POST"]),
    ]
)
app.add_middleware(GZipMiddleware, minimum_size=500)

if __name__ == "__main__":
    app.run()
