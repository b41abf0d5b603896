"""Typed APIs whose ``/docs`` page runs Swagger UI from a local copy, for the browser test.

The page micropie serves loads Swagger UI from a CDN that test machines cannot reach; the
same page, built by :func:`micropie.openapi.swagger_ui_html`, loads the copy that the
``swagger-ui-py`` package ships (Swagger UI 5, which reads OpenAPI 3.1).
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from starlette.requests import Request
from starlette.responses import HTMLResponse
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


todo_app = with_local_docs(TodoAPI(docs_url=None))
typed_app = with_local_docs(TypedApi(openapi_url="/openapi.json", json_errors=True))
