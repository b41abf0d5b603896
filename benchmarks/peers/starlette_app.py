"""Starlette: ``Route`` endpoints, ``Jinja2Templates`` and ``SessionMiddleware``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from . import JSON_PAYLOAD, LOGIN_SESSION, PAGE_CONTEXT, SESSION_SECRET, TEMPLATES, visit_text

templates = Jinja2Templates(directory=TEMPLATES)


async def hello(request: Request) -> Response:
    return HTMLResponse("Hello, world!")


async def greet(request: Request) -> Response:
    return HTMLResponse(f"Hello, {request.path_params['name']}!")


async def search(request: Request) -> Response:
    return HTMLResponse(f"Results for {request.query_params['q']}")


async def data(request: Request) -> Response:
    return JSONResponse(JSON_PAYLOAD)


async def echo(request: Request) -> Response:
    return JSONResponse(await request.json())


async def submit(request: Request) -> Response:
    async with request.form() as form:
        return HTMLResponse(f"{form['name']} is {form['age']}")


async def page(request: Request) -> Response:
    return templates.TemplateResponse(request, "page.html", PAGE_CONTEXT)


async def login(request: Request) -> Response:
    request.session.update(LOGIN_SESSION)
    return HTMLResponse("Logged in")


async def visit(request: Request) -> Response:
    return HTMLResponse(visit_text(request.session))


app = Starlette(
    routes=[
        Route("/hello", hello),
        Route("/greet/{name}", greet),
        Route("/search", search),
        Route("/data", data),
        Route("/echo", echo, methods=["POST"]),
        Route("/submit", submit, methods=["POST"]),
        Route("/page", page),
        Route("/login", login),
        Route("/visit", visit),
    ],
    middleware=[Middleware(SessionMiddleware, secret_key=SESSION_SECRET)],
)
