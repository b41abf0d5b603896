"""In-process dispatch benchmark: micropie against the equivalent bare Starlette app.

Each case builds one ASGI ``scope`` and calls the app directly (no server, no sockets),
many times per round, several rounds, micropie and Starlette alternating. The figure
kept is the median round, timed on the process's CPU clock. The garbage collector
runs between rounds and is paused inside them (as :mod:`timeit` does), so a
collection does not land on one app only.

Both apps are checked to give the same status and body for every case before timing.
``micropie_app`` and ``starlette_app`` are importable for the server benchmark.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import io
import json
import pstats
import statistics
import time
from base64 import b64encode
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import itsdangerous
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from micropie import App

from . import markdown_table

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]

#: Rounds are timed on this process's CPU clock: the work is pure CPU, so on an idle
#: machine it reads like wall time, and on a busy one other processes do not count.
CLOCK = time.process_time

#: The session both apps find through the request's cookie.
SESSION_DATA: dict[str, Any] = {"user": "alice", "visits": 0}
SESSION_ID = "6f1c2a3e-4b5d-4e6f-8a9b-0c1d2e3f4a5b"  # a valid UUID4, as micropie requires
SESSION_SECRET = "benchmark-secret-not-for-production"
JSON_PAYLOAD: dict[str, Any] = {"name": "micropie", "fast": True, "items": [1, 2, 3]}


# -- the two applications ------------------------------------------------------------


class BenchApp(App):
    """micropie: one method per case."""

    async def hello(self) -> str:
        return "Hello, world!"

    async def greet(self, name: str) -> str:
        return f"Hello, {name}!"

    async def search(self, q: str) -> str:
        return f"Results for {q}"

    async def data(self) -> dict[str, Any]:
        return JSON_PAYLOAD

    async def submit(self, name: str, age: str) -> str:
        return f"{name} is {age}"

    async def visit(self) -> str:
        session = self.request.session
        session["visits"] = session.get("visits", 0) + 1
        return f"Hello, {session.get('user', 'stranger')}!"


async def _hello(request: Request) -> Response:
    return HTMLResponse("Hello, world!")


async def _greet(request: Request) -> Response:
    return HTMLResponse(f"Hello, {request.path_params['name']}!")


async def _search(request: Request) -> Response:
    return HTMLResponse(f"Results for {request.query_params['q']}")


async def _data(request: Request) -> Response:
    return JSONResponse(JSON_PAYLOAD)


async def _submit(request: Request) -> Response:
    async with request.form() as form:
        return HTMLResponse(f"{form['name']} is {form['age']}")


async def _visit(request: Request) -> Response:
    session = request.session
    session["visits"] = session.get("visits", 0) + 1
    return HTMLResponse(f"Hello, {session.get('user', 'stranger')}!")


async def _not_found(request: Request, exc: Exception) -> Response:
    # micropie's 404 body is "404 Not Found" (SPEC §4); give Starlette the same text.
    assert isinstance(exc, HTTPException)
    return HTMLResponse("404 Not Found", status_code=exc.status_code)


STARLETTE_ROUTES = [
    Route("/hello", _hello),
    Route("/greet/{name}", _greet),
    Route("/search", _search),
    Route("/data", _data),
    Route("/submit", _submit, methods=["POST"]),
]


def build_micropie_app() -> BenchApp:
    """The micropie side; sessions are built in (the in-memory backend)."""
    return BenchApp()


def build_starlette_app(sessions: bool = False) -> Starlette:
    """The bare Starlette side; ``sessions=True`` adds ``SessionMiddleware``."""
    routes = list(STARLETTE_ROUTES)
    middleware = []
    if sessions:
        routes.append(Route("/visit", _visit))
        middleware.append(Middleware(SessionMiddleware, secret_key=SESSION_SECRET))
    return Starlette(routes=routes, middleware=middleware, exception_handlers={404: _not_found})


#: Module-level instances for ``uvicorn benchmarks.dispatch:micropie_app`` and friends.
micropie_app = build_micropie_app()
starlette_app = build_starlette_app()


def starlette_session_cookie(data: dict[str, Any] = SESSION_DATA) -> str:
    """The cookie value Starlette's ``SessionMiddleware`` would have set for ``data``."""
    signer = itsdangerous.TimestampSigner(SESSION_SECRET)
    return signer.sign(b64encode(json.dumps(data).encode())).decode()


async def seed_micropie_session(app: App) -> None:
    """Store the benchmark session in micropie's backend under ``SESSION_ID``."""
    await app.session_backend.save(SESSION_ID, dict(SESSION_DATA), 3600)


# -- cases ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One request shape, sent to both apps."""

    name: str
    path: str
    method: str = "GET"
    query: bytes = b""
    body: bytes = b""
    content_type: bytes | None = None
    session: bool = False
    targets: float = 1.0  # the micropie/starlette ratio this case must reach


CASES: tuple[Case, ...] = (
    Case("hello", "/hello"),
    Case("path param", "/greet/alice"),
    Case("query param", "/search", query=b"q=starlette"),
    Case("json response", "/data"),
    Case(
        "form post",
        "/submit",
        method="POST",
        body=b"name=alice&age=30",
        content_type=b"application/x-www-form-urlencoded",
        targets=0.9,
    ),
    Case("session r/w", "/visit", session=True, targets=0.9),
    Case("404", "/missing/page"),
)


def make_scope(
    path: str,
    method: str = "GET",
    query: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> dict[str, Any]:
    """An HTTP scope shaped like the one uvicorn builds."""
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 51000),
        "scheme": "http",
        "method": method,
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"micropie-bench"),
            (b"accept", b"*/*"),
            *headers,
        ],
        "state": {},
    }


def case_scope(case: Case, app_kind: str) -> dict[str, Any]:
    """The scope for ``case``, with the session cookie ``app_kind`` expects."""
    headers: list[tuple[bytes, bytes]] = []
    if case.content_type is not None:
        headers.append((b"content-type", case.content_type))
    if case.body or case.method == "POST":
        headers.append((b"content-length", str(len(case.body)).encode()))
    if case.session:
        cookie = (
            f"session_id={SESSION_ID}"
            if app_kind == "micropie"
            else f"session={starlette_session_cookie()}"
        )
        headers.append((b"cookie", cookie.encode()))
    return make_scope(case.path, case.method, case.query, headers)


# -- running requests -------------------------------------------------------------------


@dataclass
class Reply:
    """What an app sent back for one request."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


def _receiver(body: bytes) -> Callable[[], Awaitable[dict[str, Any]]]:
    message = {"type": "http.request", "body": body, "more_body": False}

    async def receive() -> dict[str, Any]:
        return message

    return receive


async def _discard(message: dict[str, Any]) -> None:
    return None


async def call_once(app: ASGIApp, scope: dict[str, Any], body: bytes = b"") -> Reply:
    """Send one request to ``app`` and collect the reply."""
    reply = Reply()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            reply.status = message["status"]
            reply.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            reply.body += message.get("body", b"")

    await app(dict(scope), _receiver(body), send)
    return reply


#: Requests between two returns to the event loop. A server's loop runs between
#: requests; without that, timers an app sets and cancels (body timeouts) would pile
#: up in the loop's heap for the whole round.
YIELD_EVERY = 64


async def call_many(app: ASGIApp, scope: dict[str, Any], body: bytes, count: int) -> None:
    """Send the same request ``count`` times, discarding the replies."""
    receive = _receiver(body)
    for index in range(count):
        await app(dict(scope), receive, _discard)
        if index % YIELD_EVERY == YIELD_EVERY - 1:
            await asyncio.sleep(0)


def time_round(
    loop: asyncio.AbstractEventLoop,
    app: ASGIApp,
    scope: dict[str, Any],
    body: bytes,
    count: int,
    with_gc: bool = False,
) -> float:
    """Calls per CPU second for one round of ``count`` calls.

    The collector runs first; inside the round it is paused unless ``with_gc``.
    """
    gc.collect()
    if not with_gc:
        gc.disable()
    try:
        start = CLOCK()
        loop.run_until_complete(call_many(app, scope, body, count))
        elapsed = CLOCK() - start
    finally:
        gc.enable()
    return count / elapsed


@dataclass(frozen=True)
class Contender:
    """One side of a comparison: an app and the request to send it."""

    app: ASGIApp
    scope: dict[str, Any]
    body: bytes = b""


def calibrate(
    loop: asyncio.AbstractEventLoop, item: Contender, seconds: float, minimum: int = 1
) -> int:
    """Warm ``item`` up and return how many requests fill about ``seconds``."""
    count = 10
    while True:
        start = time.perf_counter()
        loop.run_until_complete(call_many(item.app, item.scope, item.body, count))
        elapsed = time.perf_counter() - start
        if elapsed >= min(seconds, 0.05) or count >= 1_000_000:
            return max(int(count * seconds / elapsed), minimum)
        count *= 4


def compare(
    loop: asyncio.AbstractEventLoop,
    contenders: dict[str, Contender],
    seconds: float,
    rounds: int,
    with_gc: bool = False,
) -> dict[str, float]:
    """Median requests/s of each contender over ``rounds`` rounds of about ``seconds``.

    Rounds are interleaved and their order alternates, so drift in machine speed
    falls on both contenders alike.
    """
    names = list(contenders)
    counts = {name: calibrate(loop, contenders[name], seconds) for name in names}
    samples: dict[str, list[float]] = {name: [] for name in names}
    for index in range(rounds):
        order = names if index % 2 == 0 else names[::-1]
        for name in order:
            item = contenders[name]
            rate = time_round(loop, item.app, item.scope, item.body, counts[name], with_gc)
            samples[name].append(rate)
    return {name: statistics.median(values) for name, values in samples.items()}


def normalise(body: bytes) -> Any:
    """A body to compare: parsed JSON when it is JSON, else the bytes."""
    try:
        return json.loads(body)
    except ValueError:
        return body


# -- the benchmark ------------------------------------------------------------------------


@dataclass(frozen=True)
class DispatchResult:
    """Requests/s of both apps for one case."""

    case: str
    micropie: float
    starlette: float
    target: float

    @property
    def ratio(self) -> float:
        return self.micropie / self.starlette

    @property
    def met(self) -> bool:
        return self.ratio >= self.target


@dataclass
class Apps:
    """The apps under test, set up once per run."""

    micropie: App
    starlette: Starlette
    starlette_sessions: Starlette

    def for_case(self, case: Case) -> dict[str, ASGIApp]:
        starlette = self.starlette_sessions if case.session else self.starlette
        return {"micropie": self.micropie, "starlette": starlette}


def setup_apps(loop: asyncio.AbstractEventLoop) -> Apps:
    """Fresh apps, with micropie's session seeded."""
    apps = Apps(build_micropie_app(), build_starlette_app(), build_starlette_app(sessions=True))
    loop.run_until_complete(seed_micropie_session(apps.micropie))
    return apps


def contenders_for(apps: Apps, case: Case) -> dict[str, Contender]:
    return {
        kind: Contender(app, case_scope(case, kind), case.body)
        for kind, app in apps.for_case(case).items()
    }


def check_case(loop: asyncio.AbstractEventLoop, apps: Apps, case: Case) -> int:
    """Both apps' status for ``case``; raises ``AssertionError`` when they differ."""
    replies = {
        kind: loop.run_until_complete(call_once(item.app, item.scope, item.body))
        for kind, item in contenders_for(apps, case).items()
    }
    mine, theirs = replies["micropie"], replies["starlette"]
    if mine.status != theirs.status or normalise(mine.body) != normalise(theirs.body):
        raise AssertionError(
            f"{case.name}: micropie answered {mine.status} {mine.body!r}, "
            f"starlette {theirs.status} {theirs.body!r}"
        )
    return mine.status


def select_cases(names: Iterable[str] | None) -> tuple[Case, ...]:
    """The cases named (all when ``names`` is empty or ``None``)."""
    if not names:
        return CASES
    wanted = set(names)
    unknown = wanted - {case.name for case in CASES}
    if unknown:
        raise ValueError(f"unknown case(s) {sorted(unknown)}; use {[c.name for c in CASES]}")
    return tuple(case for case in CASES if case.name in wanted)


def run(
    seconds: float = 0.1, rounds: int = 15, cases: Iterable[str] | None = None
) -> list[DispatchResult]:
    """Benchmark every case; both apps are checked to agree before timing."""
    loop = asyncio.new_event_loop()
    try:
        apps = setup_apps(loop)
        results = []
        for case in select_cases(cases):
            check_case(loop, apps, case)
            rates = compare(loop, contenders_for(apps, case), seconds, rounds)
            results.append(
                DispatchResult(case.name, rates["micropie"], rates["starlette"], case.targets)
            )
        return results
    finally:
        loop.close()


def format_table(results: list[DispatchResult]) -> str:
    """The results as a Markdown table."""
    columns = ["case", ">micropie req/s", ">starlette req/s", ">micropie/starlette", ">target"]
    rows = [
        [
            r.case,
            f"{r.micropie:,.0f}",
            f"{r.starlette:,.0f}",
            f"{r.ratio:.2f}×",
            f"≥ {r.target:.2f}× {'met' if r.met else 'MISSED'}",
        ]
        for r in results
    ]
    return markdown_table(columns, rows)


def profile(case_name: str, iterations: int = 20000, top: int = 30, kind: str = "micropie") -> str:
    """cProfile of ``iterations`` requests of one case: the top entries by own time."""
    (case,) = select_cases([case_name])
    loop = asyncio.new_event_loop()
    try:
        apps = setup_apps(loop)
        item = contenders_for(apps, case)[kind]
        loop.run_until_complete(call_many(item.app, item.scope, item.body, 200))
        profiler = cProfile.Profile()
        profiler.enable()
        loop.run_until_complete(call_many(item.app, item.scope, item.body, iterations))
        profiler.disable()
    finally:
        loop.close()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()
