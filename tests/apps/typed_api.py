"""A typed API written the FastAPI way, for the schema-against-dispatch tests.

Models in and out (Pydantic, nested, a msgspec Struct), ``Annotated`` constraints,
enums and literals, optional and defaulted positional parameters, keyword-only
parameters, list query parameters, ``*args`` and a ``Request`` parameter.
"""

from __future__ import annotations

import datetime
import decimal
import enum
from typing import Annotated, Literal

import msgspec
from pydantic import BaseModel, Field

from micropie import App, Request, methods


class Colour(str, enum.Enum):
    RED = "red"
    GREEN = "green"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Tag(BaseModel):
    name: str = Field(min_length=1, max_length=20)


class Item(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    price: float = Field(gt=0, le=1_000_000)
    tags: list[Tag] = Field(default=[], max_length=5)
    colour: Colour = Colour.RED


class Stored(BaseModel):
    id: int
    item: Item


class Point(msgspec.Struct):
    x: int
    y: int = 0


class TypedApi(App):
    async def items(
        self, item_id: Annotated[int, Field(ge=1, le=10**9)], q: str | None = None
    ) -> Stored:
        """One item; ``q`` may be a second path segment or a query parameter."""
        return Stored(id=item_id, item=Item(name=q or "item", price=1))

    async def search(
        self,
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        colour: Colour = Colour.RED,
        level: Level = Level.LOW,
        mode: Literal["fast", "slow"] = "fast",
        tags: list[str] | None = None,
    ) -> dict[str, object]:
        return {"limit": limit, "colour": colour, "level": level, "mode": mode, "tags": tags or []}

    async def page(
        self,
        n: Annotated[int, Field(ge=0, le=10**6)],
        size: Annotated[int, Field(ge=1, le=50)] = 20,
    ) -> dict[str, int]:
        return {"n": n, "size": size}

    async def flags(
        self, *, strict: bool = False, name: Annotated[str, Field(max_length=10)] = "x"
    ) -> dict[str, object]:
        return {"strict": strict, "name": name}

    async def whoami(self, request: Request, loud: bool = False) -> dict[str, str]:
        return {"path": request.url.path.upper() if loud else request.url.path}

    @methods("POST")
    async def create(self, item: Item) -> tuple[Literal[201], Stored]:
        return 201, Stored(id=1, item=item)

    @methods("POST")
    async def move(self, point: Point, by: Annotated[int, Field(ge=-100, le=100)] = 1) -> Point:
        return Point(point.x + by, point.y + by)

    async def tag(self, tag: Tag) -> Tag:
        """No ``@methods``: a required model is documented as POST only."""
        return tag

    async def quote(
        self,
        price: decimal.Decimal,
        *,
        at: datetime.time | None = None,
        ids: set[int] | None = None,
        fast: bool = False,
    ) -> dict[str, object]:
        """Decimal, time, set and bool parameters from the query."""
        return {"price": price, "at": at, "ids": sorted(ids or ()), "fast": fast}

    async def files(self, *parts: str) -> list[str]:
        """Zero or more path segments (documented with and without them)."""
        return list(parts)

    @methods("POST")
    async def bulk(self, items: list[Item]) -> list[Stored]:
        """A list of models: a JSON array body."""
        return [Stored(id=number, item=item) for number, item in enumerate(items, 1)]

    @methods("PUT")
    async def place(self, item: Item, point: Point) -> dict[str, object]:
        """Two models: each from its own key of the body."""
        return {"name": item.name, "x": point.x}


app = TypedApi(openapi_url="/openapi.json", docs_url="/docs", json_errors=True)
