"""Routing and argument binding: path segments, query strings, types and methods.

Run with ``uvicorn examples.routing.app:app`` or ``python examples/routing/app.py``.

Try:

* ``/add/2/3`` and ``/add?a=2&b=3`` (``int`` annotations convert; ``/add/x/1`` is 400)
* ``/files/docs/guide/intro.md`` (``*parts`` takes every remaining segment)
* ``/tags?tag=a&tag=b`` (``list[str]`` takes every value)
* ``/search?q=pie&limit=5&debug=yes`` (``**filters`` receives the unnamed fields)
* ``/item/1`` with GET, PUT or DELETE; POST answers 405 with an ``Allow`` header
* ``/old_page`` redirects; ``/_secret`` and ``/helper`` are 404
"""

from __future__ import annotations

import datetime
import uuid

from micropie import App, methods

#: ``int`` takes what Python converts, up to 4,300 digits; the sum of two such numbers
#: can have 4,301, which no JSON encoder writes (Python refuses to print it): bound
#: numbers a client sends before computing with them.
MAX_ADDEND = 10**18


class Routing(App):
    async def index(self):
        return "See the module docstring of examples/routing/app.py for URLs to try."

    async def add(self, a: int, b: int):
        """Positional parameters bind from path segments first, then the query string."""
        if abs(a) >= MAX_ADDEND or abs(b) >= MAX_ADDEND:  # see MAX_ADDEND
            return 400, "400 Bad Request: numbers must have at most 18 digits"
        return {"sum": a + b}

    async def files(self, *parts: str):
        """``*args`` takes every remaining segment."""
        return {"path": "/".join(parts)}

    async def tags(self, tag: list[str] | None = None):
        """A ``list[...]`` annotation binds every value of a repeated field."""
        return {"tags": tag or []}

    async def search(self, q: str, *, limit: int = 10, **filters):
        """Keyword-only parameters skip path segments; ``**kwargs`` collects the rest."""
        return {"q": q, "limit": limit, "filters": filters}

    async def when(self, day: datetime.date, ref: uuid.UUID | None = None):
        """Dates, datetimes and UUIDs convert too: ``/when/2024-05-01?ref=<uuid>``."""
        return {"weekday": day.strftime("%A"), "ref": str(ref) if ref else None}

    @methods("GET", "PUT", "DELETE")
    async def item(self, item_id: int):
        """Restrict methods with ``@methods``; ``self.request.method`` tells which."""
        return {"method": self.request.method, "item": item_id}

    async def old_page(self):
        """``self._redirect`` returns a ``(302, "", headers)`` tuple.

        ``root_path`` is where this app is mounted ("" when it is served on its own).
        """
        return self._redirect(str(self.request.scope.get("root_path", "")) + "/add/1/2")

    async def _secret(self):
        """Names starting with ``_`` are never routable."""
        return "hidden"


app = Routing()
app.helper = "not callable, so not a route"  # type: ignore[attr-defined]

if __name__ == "__main__":
    app.run()
