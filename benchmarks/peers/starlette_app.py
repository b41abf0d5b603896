"""Starlette: ``Route`` endpoints (the dispatch benchmark's and the rest),
``Jinja2Templates`` and ``SessionMiddleware``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from ..dispatch import STARLETTE_ROUTES
from . import LOGIN_SESSION, PAGE_CONTEXT, SESSION_SECRET, TEMPLATES, visit_text

templates = Jinja2Templates(directory=TEMPLATES)


async def echo(request: Request) -> Response:
    return JSONResponse(await request.json())


async def page(request: Request) -> Response:
    return templates.TemplateResponse(request, "page.html", {**PAGE_CONTEXT})


async def login(request: Request) -> Response:
    request.session.update(LOGIN_SESSION)
    return HTMLResponse("Logged in")


async def visit(request: Request) -> Response:
    return HTMLResponse(visit_text(request.session))


app = Starlette(
    routes=[
        *STARLETTE_ROUTES,  # hello, greet/{name}, search, data, submit
        Route("/echo", echo, methods=["POST"]),
        Route("/page", page),
        Route("/login", login),
        Route("/visit", visit),
    ],
    middleware=[Middleware(SessionMiddleware, secret_key=SESSION_SECRET)],
)
