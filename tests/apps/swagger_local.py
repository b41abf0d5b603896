"""Typed APIs whose ``/docs`` page runs Swagger UI without a CDN, for the browser test.

With the ``swagger-ui-py`` package installed (extra ``swagger-ui``; the dev extra has
it) micropie serves Swagger UI's files below ``docs_url`` itself: ``todo_app`` and
``typed_app`` are the apps as they are, ``mounted_app`` serves the to-do API below
``/api``. ``self_hosted_app`` builds the page with
:func:`micropie.openapi.swagger_ui_html` on files it mounts itself, as the typed guide
shows for a copy of one's own.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from examples.json_api.app import TodoAPI
from micropie import App
from micropie.openapi import swagger_ui_html
from tests.apps.typed_api import TypedApi

ASSETS = Path(swagger_ui.__file__).parent / "static"


def with_local_docs(app: App) -> App:
    """``app`` with Swagger UI's files at ``/swagger-assets`` and its page at ``/docs``."""

    async def docs(request: Request) -> HTMLResponse:
        page = swagger_ui_html(
            "/openapi.json",
            "API docs",
            js_url="/swagger-assets/swagger-ui-bundle.js",
            css_url="/swagger-assets/swagger-ui.css",
        )
        return HTMLResponse(page)

    app.mount("/swagger-assets", StaticFiles(directory=ASSETS))
    app.add_route("/docs", docs, include_in_schema=False)
    return app


todo_app = TodoAPI()
typed_app = TypedApi(openapi_url="/openapi.json", docs_url="/docs", json_errors=True)
mounted_app = Starlette(routes=[Mount("/api", app=TodoAPI())])
self_hosted_app = with_local_docs(TodoAPI(docs_url=None))
