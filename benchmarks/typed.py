"""Typed JSON API benchmark: micropie against FastAPI doing the same work, in process.

Both apps take a Pydantic model from a JSON POST body (validated by Pydantic) and answer
with Pydantic models, one or a list, declared as the handler's return type. Each
request is an ASGI call with no server or sockets (see :mod:`benchmarks.dispatch`, whose
timing this reuses), so the figures are the frameworks' own cost per request. Both
apps are checked to give the same status and JSON body for every case before timing.

Run alone with ``python -m benchmarks --only typed``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from micropie import App, methods

from . import markdown_table
from .dispatch import Contender, call_once, compare, make_scope, normalise

#: micropie must answer at least this many times FastAPI's requests/s.
TYPED_TARGET = 2.0


class User(BaseModel):
    id: int
    name: str
    email: str
    active: bool = True
    tags: list[str] = []


USERS = [
    User(id=i, name=f"user{i}", email=f"user{i}@example.com", tags=["a", "b"]) for i in range(10)
]
NEW_USER = b'{"id": 42, "name": "Ada", "email": "ada@example.com", "tags": ["math", "engines"]}'


class TypedBench(App):
    """micropie: a model parameter and model returns."""

    @methods("POST")
    async def create(self, user: User) -> User:
        return user

    @methods("GET")
    async def user(self, user_id: int) -> User:
        return USERS[user_id]

    @methods("GET")
    async def users(self) -> list[User]:
        return USERS


def build_fastapi_app() -> FastAPI:
    """FastAPI: the same three endpoints, typed the FastAPI way."""
    api = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)

    @api.post("/create")
    async def create(user: User) -> User:
        return user

    @api.get("/user/{user_id}")
    async def user(user_id: int) -> User:
        return USERS[user_id]

    @api.get("/users")
    async def users() -> list[User]:
        return USERS

    return api


@dataclass(frozen=True)
class TypedCase:
    """One request shape, sent to both apps."""

    name: str
    path: str
    method: str = "GET"
    body: bytes = b""

    def scope(self) -> dict[str, Any]:
        headers: list[tuple[bytes, bytes]] = []
        if self.method == "POST":
            headers.append((b"content-type", b"application/json"))
            headers.append((b"content-length", str(len(self.body)).encode()))
        return make_scope(self.path, self.method, headers=headers)


CASES = (
    TypedCase("JSON POST → model param → model", "/create", "POST", NEW_USER),
    TypedCase("model return", "/user/3"),
    TypedCase("list of 10 models", "/users"),
)


@dataclass(frozen=True)
class TypedResult:
    """Requests/s of both apps for one case."""

    case: str
    micropie: float
    fastapi: float

    @property
    def ratio(self) -> float:
        return self.micropie / self.fastapi

    @property
    def met(self) -> bool:
        return self.ratio >= TYPED_TARGET


def check_same_answers(loop: asyncio.AbstractEventLoop, apps: dict[str, Any]) -> None:
    """Fail unless both apps give the same status and JSON body for every case."""
    for case in CASES:
        replies = {
            name: loop.run_until_complete(call_once(app, case.scope(), case.body))
            for name, app in apps.items()
        }
        answers = {name: (r.status, normalise(r.body)) for name, r in replies.items()}
        if len(set(map(repr, answers.values()))) != 1:
            raise AssertionError(f"{case.name}: the apps answer differently: {answers}")


def run(seconds: float, rounds: int) -> list[TypedResult]:
    """Time every case on both apps (rounds interleaved, median kept)."""
    loop = asyncio.new_event_loop()
    try:
        apps = {"micropie": TypedBench(), "fastapi": build_fastapi_app()}
        check_same_answers(loop, apps)
        results = []
        for case in CASES:
            contenders = {
                name: Contender(app, case.scope(), case.body) for name, app in apps.items()
            }
            rates = compare(loop, contenders, seconds, rounds)
            results.append(TypedResult(case.name, rates["micropie"], rates["fastapi"]))
        return results
    finally:
        loop.close()


def format_table(results: list[TypedResult]) -> str:
    rows = [
        (
            r.case,
            f"{r.micropie:,.0f}",
            f"{r.fastapi:,.0f}",
            f"{r.ratio:.2f}×",
            f"≥ {TYPED_TARGET:.2f}× {'met' if r.met else 'MISSED'}",
        )
        for r in results
    ]
    columns = ["case", ">micropie req/s", ">FastAPI req/s", ">micropie/FastAPI", ">target"]
    return markdown_table(columns, rows)
