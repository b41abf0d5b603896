"""Static files: mount Starlette's ``StaticFiles`` next to your handlers.

Run with ``uvicorn examples.static_files.app:app`` or
``python examples/static_files/app.py`` and open http://127.0.0.1:8000/.

``app.mount(path, asgi_app)`` routes everything under ``path`` to another ASGI app,
before any handler is tried. ``StaticFiles`` answers with ETag/Last-Modified caching,
range requests and 404 for missing files, and never serves outside its directory.
"""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

from micropie import App

STATIC = Path(__file__).resolve().parent / "static"


class Site(App):
    async def index(self):
        root = str(self.request.scope.get("root_path", ""))
        return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Static files</title>
<link rel="stylesheet" href="{root}/static/style.css"></head>
<body><h1>Static files</h1>
<p class="note">This page is styled by <code>/static/style.css</code>.</p>
<p><a href="{root}/static/hello.txt">A text file</a> ·
<a href="{root}/download">the same file as a download</a></p>
<script src="{root}/static/app.js"></script></body></html>"""

    async def download(self):
        """A handler may return any Starlette response, e.g. ``FileResponse``."""
        return FileResponse(STATIC / "hello.txt", filename="hello.txt")


app = Site()
app.mount("/static", StaticFiles(directory=STATIC), name="static")

if __name__ == "__main__":
    app.run()
