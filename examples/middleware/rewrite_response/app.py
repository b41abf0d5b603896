"""Rewriting responses: an ``after_request`` hook changes status, body and headers.

Errors from handlers become a JSON envelope, every response gets security headers,
and ``?format=text`` turns a dict answer into plain text. Run it with::

    uvicorn examples.middleware.rewrite_response.app:app

then try http://127.0.0.1:8000/item/1, /item/99 and /item/1?format=text.
"""

from __future__ import annotations

from starlette.responses import Response

from micropie import App, HttpMiddleware

SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "same-origin"),
]


class JsonErrors(HttpMiddleware):
    """Wrap error answers as ``{"error": ..., "status": ...}``."""

    async def after_request(self, request, status_code, response_body, extra_headers):
        if status_code < 400 or isinstance(response_body, dict):
            return None
        if isinstance(response_body, Response):  # an error page micropie made (404, 413 ...)
            response_body = bytes(response_body.body).decode("utf-8", "replace")
        return {"body": {"error": str(response_body), "status": status_code}}


class TextFormat(HttpMiddleware):
    """``?format=text`` renders a dict answer as ``key: value`` lines."""

    async def after_request(self, request, status_code, response_body, extra_headers):
        if request.query("format") != "text" or not isinstance(response_body, dict):
            return None
        lines = "".join(f"{key}: {value}\n" for key, value in response_body.items())
        return {"body": lines, "headers": [("Content-Type", "text/plain; charset=utf-8")]}


class SecurityHeaders(HttpMiddleware):
    async def after_request(self, request, status_code, response_body, extra_headers):
        return {"headers": [*extra_headers, *SECURITY_HEADERS]}


ITEMS = {1: "teapot", 2: "kettle"}


class Shop(App):
    async def item(self, item_id: int):
        if item_id not in ITEMS:
            return 404, f"no item {item_id}"
        return {"id": item_id, "name": ITEMS[item_id]}

    async def brew(self):
        return 418, "I'm a teapot", [("X-Brewed", "no")]


app = Shop()
app.middlewares.extend([JsonErrors(), TextFormat(), SecurityHeaders()])

if __name__ == "__main__":
    app.run()
