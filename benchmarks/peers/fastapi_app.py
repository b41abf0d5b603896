"""FastAPI: decorated path operations, ``Form``/``Body`` parameters, Starlette's templates
and ``SessionMiddleware`` (untyped bodies; typed models are another benchmark's subject)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, FastAPI, Form, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.sessions import SessionMiddleware

from . import JSON_PAYLOAD, LOGIN_SESSION, PAGE_CONTEXT, SESSION_SECRET, TEMPLATES, visit_text

app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
app.add_middleware(SessionMiddleware, secret_key=SESSION_SECRET)
templates = Jinja2Templates(directory=TEMPLATES)


@app.get("/hello", response_class=HTMLResponse)
async def hello() -> str:
    return "Hello, world!"


@app.get("/greet/{name}", response_class=HTMLResponse)
async def greet(name: str) -> str:
    return f"Hello, {name}!"


@app.get("/search", response_class=HTMLResponse)
async def search(q: str) -> str:
    return f"Results for {q}"


@app.get("/data")
async def data() -> dict[str, Any]:
    return JSON_PAYLOAD


@app.post("/echo")
async def echo(payload: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return payload


@app.post("/submit", response_class=HTMLResponse)
async def submit(name: Annotated[str, Form()], age: Annotated[str, Form()]) -> str:
    return f"{name} is {age}"


@app.get("/page", response_class=HTMLResponse)
async def page(request: Request) -> Any:
    return templates.TemplateResponse(request, "page.html", {**PAGE_CONTEXT})


@app.get("/login", response_class=HTMLResponse)
async def login(request: Request) -> str:
    request.session.update(LOGIN_SESSION)
    return "Logged in"


@app.get("/visit", response_class=HTMLResponse)
async def visit(request: Request) -> str:
    return visit_text(request.session)
