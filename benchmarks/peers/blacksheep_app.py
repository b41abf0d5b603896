"""BlackSheep: router handlers with bound parameters, its Jinja2 renderer and sessions."""

from __future__ import annotations

from typing import Any

import jinja2
from blacksheep import Application, Request, html, json, text
from blacksheep.server.rendering.jinja2 import JinjaRenderer
from blacksheep.server.responses import view
from blacksheep.settings.html import html_settings

from . import JSON_PAYLOAD, LOGIN_SESSION, PAGE_CONTEXT, SESSION_SECRET, TEMPLATES, visit_text


class _Loader(jinja2.FileSystemLoader):
    """BlackSheep names views ``NAME.jinja``; the shared template is ``page.html``."""

    def get_source(self, environment: jinja2.Environment, template: str) -> Any:
        return super().get_source(environment, template.removesuffix(".jinja"))


app = Application()
app.use_sessions(SESSION_SECRET)
html_settings.use(JinjaRenderer(loader=_Loader(TEMPLATES)))
get = app.router.get


@get("/hello")
async def hello() -> Any:
    return text("Hello, world!")


@get("/greet/{name}")
async def greet(name: str) -> Any:
    return text(f"Hello, {name}!")


@get("/search")
async def search(q: str) -> Any:
    return text(f"Results for {q}")


@get("/data")
async def data() -> Any:
    return json(JSON_PAYLOAD)


@app.router.post("/echo")
async def echo(request: Request) -> Any:
    return json(await request.json())


@app.router.post("/submit")
async def submit(request: Request) -> Any:
    form = await request.form()
    return text(f"{form['name']} is {form['age']}")


@get("/page")
async def page() -> Any:
    return view("page.html", PAGE_CONTEXT)


@get("/login")
async def login(request: Request) -> Any:
    request.session.update(LOGIN_SESSION)
    return text("Logged in")


@get("/visit")
async def visit(request: Request) -> Any:
    return html(visit_text(request.session))
