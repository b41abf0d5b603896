"""Handlers answering with statuses no HTTP/1.1 response can carry (server bugs).

Each must end as a 500 on a connection that keeps serving, under uvicorn's httptools
and h11 protocols, on the direct path and (``MICROPIE_STATUS_HOOKS=1``: with a
middleware hook) on the general path.
"""

from __future__ import annotations

import os
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.responses import Response

from micropie import App, HttpMiddleware


class StatusApp(App):
    async def index(self):
        return "ok"

    async def raised(self, code: int):
        raise HTTPException(code, "bad status")

    async def returned(self, code: int):
        return code, "bad status"

    async def response(self, code: int):
        return Response("bad status", status_code=code)

    def sync_returned(self, code: int):
        return code, "bad status"

    async def enum(self):
        return HTTPStatus.CREATED, "created"


class Noop(HttpMiddleware):
    async def before_request(self, request):
        return None

    async def after_request(self, request, status_code, response_body, extra_headers):
        return None


app = StatusApp()
if os.environ.get("MICROPIE_STATUS_HOOKS") == "1":
    app.middlewares.append(Noop())
