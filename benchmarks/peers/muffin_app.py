"""Muffin: routed handlers returning plain values, the ``muffin-jinja2`` plugin."""

from __future__ import annotations

from typing import Any

import muffin
import muffin_jinja2

from . import JSON_PAYLOAD, PAGE_CONTEXT, TEMPLATES

app = muffin.Application()
jinja = muffin_jinja2.Plugin(app, template_folders=[str(TEMPLATES)])


@app.route("/hello")
async def hello(request: muffin.Request) -> str:
    return "Hello, world!"


@app.route("/greet/{name}")
async def greet(request: muffin.Request) -> str:
    return f"Hello, {request.path_params['name']}!"


@app.route("/search")
async def search(request: muffin.Request) -> str:
    return f"Results for {request.query['q']}"


@app.route("/data")
async def data(request: muffin.Request) -> Any:
    return JSON_PAYLOAD


@app.route("/echo", methods=["POST"])
async def echo(request: muffin.Request) -> Any:
    return await request.json()


@app.route("/submit", methods=["POST"])
async def submit(request: muffin.Request) -> str:
    form = await request.form()
    return f"{form['name']} is {form['age']}"


@app.route("/page")
async def page(request: muffin.Request) -> str:
    return await jinja.render("page.html", **PAGE_CONTEXT)
