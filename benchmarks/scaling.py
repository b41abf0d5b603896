"""Scaling benchmark: does dispatch slow down as the number of handlers grows?

The same path-parameter request (``GET /greet/alice``) goes to apps with 1, 100 and
1,000 handlers. micropie's app is an ``App`` subclass made with ``type()``; Starlette's
has one ``Route`` per handler with the target last (its router tries routes in order).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from micropie import App

from . import markdown_table
from .dispatch import Contender, call_once, compare, make_scope

SIZES = (1, 100, 1000)
TARGET_PATH = "/greet/alice"
#: micropie at the largest size must keep this share of its one-handler rate.
SCALING_TARGET = 0.9


def _micropie_handler(index: int) -> Callable[..., Any]:
    async def handler(self: App, name: str) -> str:
        return f"Handler {index}, {name}"

    return handler


async def _micropie_greet(self: App, name: str) -> str:
    return f"Hello, {name}!"


def build_micropie(size: int) -> App:
    """An ``App`` subclass with ``size`` handlers, one of them ``greet``."""
    methods: dict[str, Any] = {f"handler{i}": _micropie_handler(i) for i in range(size - 1)}
    methods["greet"] = _micropie_greet
    cls = type(f"Scaled{size}", (App,), methods)
    app: App = cls()
    return app


def _starlette_handler(index: int) -> Callable[[Request], Any]:
    async def handler(request: Request) -> Response:
        return HTMLResponse(f"Handler {index}, {request.path_params['name']}")

    return handler


async def _starlette_greet(request: Request) -> Response:
    return HTMLResponse(f"Hello, {request.path_params['name']}!")


def build_starlette(size: int) -> Starlette:
    """A Starlette app with ``size`` routes, ``/greet/{name}`` last."""
    routes = [Route(f"/handler{i}/{{name}}", _starlette_handler(i)) for i in range(size - 1)]
    routes.append(Route("/greet/{name}", _starlette_greet))
    return Starlette(routes=routes)


@dataclass(frozen=True)
class ScalingResult:
    """Requests/s of both apps with ``size`` handlers."""

    size: int
    micropie: float
    starlette: float
    micropie_baseline: float  # micropie's rate with the smallest size

    @property
    def ratio(self) -> float:
        return self.micropie / self.starlette

    @property
    def vs_baseline(self) -> float:
        return self.micropie / self.micropie_baseline


def run(
    seconds: float = 0.1, rounds: int = 15, sizes: Iterable[int] = SIZES
) -> list[ScalingResult]:
    """Benchmark every size in one interleaved comparison (machine drift hits all alike).

    Each app is first checked to answer ``200 Hello, alice!``.
    """
    sizes = list(sizes)
    loop = asyncio.new_event_loop()
    scope = make_scope(TARGET_PATH)
    contenders: dict[str, Contender] = {}
    for size in sizes:
        contenders[f"micropie {size}"] = Contender(build_micropie(size), scope)
        contenders[f"starlette {size}"] = Contender(build_starlette(size), scope)
    try:
        for name, item in contenders.items():
            reply = loop.run_until_complete(call_once(item.app, scope))
            if (reply.status, reply.body) != (200, b"Hello, alice!"):
                raise AssertionError(f"{name}: answered {reply.status} {reply.body!r}")
        rates = compare(loop, contenders, seconds, rounds)
    finally:
        loop.close()
    baseline = rates[f"micropie {sizes[0]}"] if sizes else 0.0
    return [
        ScalingResult(size, rates[f"micropie {size}"], rates[f"starlette {size}"], baseline)
        for size in sizes
    ]


def format_table(results: list[ScalingResult]) -> str:
    """The results as a Markdown table."""
    columns = [
        ">handlers", ">micropie req/s", ">starlette req/s", ">micropie/starlette",
        ">micropie vs 1 handler",
    ]  # fmt: skip
    rows = [
        [
            f"{r.size:,}",
            f"{r.micropie:,.0f}",
            f"{r.starlette:,.0f}",
            f"{r.ratio:.2f}×",
            f"{r.vs_baseline:.2f}×",
        ]
        for r in results
    ]
    return markdown_table(columns, rows)
