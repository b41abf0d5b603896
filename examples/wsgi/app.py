"""Hosting the HTTP side of a micropie app on a WSGI server.

``app.wsgi_app`` (needs the ``wsgi`` extra: ``pip install ".[wsgi]"``) adapts the
ASGI app to WSGI through a2wsgi, for hosts that only speak WSGI (shared hosting,
mod_wsgi, gunicorn's sync workers)::

    gunicorn examples.wsgi.app:wsgi_app          # a WSGI server
    python examples/wsgi/app.py                  # the standard library's wsgiref
    uvicorn examples.wsgi.app:app                # the same app, natively as ASGI

Handlers, binding, sessions, templates and streaming work the same. Websocket handlers
and lifespan startup/shutdown hooks do not cross to WSGI: WSGI has neither.
"""

from __future__ import annotations

import os

from micropie import App


class Site(App):
    async def index(self):
        return "Hello from micropie, served over WSGI!"

    async def echo(self, text: str = ""):
        """Form or JSON bodies and query strings bind as usual."""
        return {"text": text, "method": self.request.method}

    async def visits(self):
        count = self.request.session.get("visits", 0) + 1
        self.request.session["visits"] = count
        return f"You have been here {count} time(s)."

    def countdown(self, start: int = 3):
        """Streaming responses reach WSGI clients chunk by chunk."""
        for n in range(start, 0, -1):
            yield f"{n}\n"
        yield "lift-off\n"


app = Site()
wsgi_app = app.wsgi_app

if __name__ == "__main__":
    import logging
    from wsgiref.simple_server import make_server

    logging.basicConfig(level=logging.INFO)
    host, port = os.environ.get("HOST", "127.0.0.1"), int(os.environ.get("PORT", 8000))
    with make_server(host, port, wsgi_app) as server:
        logging.getLogger("micropie").info("WSGI server on http://%s:%d", host, port)
        server.serve_forever()
