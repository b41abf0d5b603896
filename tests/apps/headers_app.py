"""An app that puts client-chosen text into response headers, for real-server tests.

Every handler echoes ``value`` into a header by another route: a handler's tuple, a
redirect, a raised ``HTTPException``, a Starlette response, an ``after_request`` hook
(``?tag=``) and a ``before_request`` answer (``?deny=``).
"""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse

from micropie import App, HttpMiddleware


class Echo(HttpMiddleware):
    async def before_request(self, request):
        deny = request.query("deny")
        if deny is not None:
            return {"status_code": 403, "body": "denied", "headers": {"X-Why": deny}}
        return None

    async def after_request(self, request, status_code, response_body, extra_headers):
        tag = request.query("tag")
        if tag is not None:
            return {"headers": [*extra_headers, ("X-Tag", tag)]}
        return None


class HeadersApp(App):
    async def index(self):
        return "ok"

    async def header(self, value: str = ""):
        return 200, "header", [("X-Echo", value), ("X-Safe", "yes")]

    async def go(self, to: str = "/"):
        return self._redirect(to)

    async def refuse(self, value: str = ""):
        raise HTTPException(409, "refused", headers={"X-Echo": value, "X-Safe": "yes"})

    async def response(self, value: str = ""):
        return PlainTextResponse("response", headers={"X-Echo": value, "X-Safe": "yes"})

    async def streamed(self, value: str = ""):
        return 200, iter(["streamed"]), [("X-Echo", value), ("X-Safe", "yes")]


app = HeadersApp()
app.middlewares.append(Echo())
