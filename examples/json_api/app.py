"""A small JSON API: a to-do list kept in memory.

Run with ``uvicorn examples.json_api.app:app`` or ``python examples/json_api/app.py``.

Try it with curl::

    curl -X POST localhost:8000/todos -H 'content-type: application/json' \\
         -d '{"title": "Buy flour", "priority": 2}'
    curl localhost:8000/todos
    curl -X PATCH localhost:8000/todos/1 -H 'content-type: application/json' \\
         -d '{"done": true}'
    curl -X DELETE localhost:8000/todos/1     # 204 No Content

Returning a dict or list answers ``application/json``; ``(201, {...})`` sets the
status; ``None`` answers 204. JSON body keys bind to parameters with their JSON
types kept (``priority`` arrives as an ``int``, ``done`` as a ``bool``).
"""

from __future__ import annotations

import itertools
from typing import Any

from starlette.exceptions import HTTPException

from micropie import App, methods


class TodoAPI(App):
    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._todos: dict[int, dict[str, Any]] = {}
        self._ids = itertools.count(1)

    async def index(self):
        return {"endpoints": ["/todos", "/todos/<id>"]}

    @methods("GET", "POST", "PATCH", "DELETE")
    async def todos(self, todo_id: int | None = None, **fields: Any):
        """``/todos`` (GET lists, POST creates) and ``/todos/<id>`` (GET, PATCH, DELETE)."""
        method = self.request.method
        if todo_id is None:
            if method == "POST":
                return self._create(**fields)
            if method in ("GET", "HEAD"):
                return list(self._todos.values())
            raise HTTPException(405, headers={"Allow": "GET, HEAD, POST"})
        item = self._todos.get(todo_id)
        if item is None:
            raise HTTPException(404, f"No to-do with id {todo_id}")
        if method == "DELETE":
            del self._todos[todo_id]
            return None
        if method == "PATCH":
            item.update(_validated(fields, partial=True))
        elif method == "POST":
            raise HTTPException(405, headers={"Allow": "DELETE, GET, HEAD, PATCH"})
        return item

    def _create(self, **fields: Any) -> tuple[int, dict[str, Any]]:
        data = _validated(fields, partial=False)
        item = {"id": next(self._ids), "done": False, "priority": 1, **data}
        self._todos[item["id"]] = item
        return 201, item


_TYPES = {"title": str, "done": bool, "priority": int}


def _validated(fields: dict[str, Any], partial: bool) -> dict[str, Any]:
    """Keep known fields of the right JSON type; 422 otherwise."""
    unknown = set(fields) - set(_TYPES)
    if unknown:
        raise HTTPException(422, f"Unknown field(s): {', '.join(sorted(unknown))}")
    if not partial and "title" not in fields:
        raise HTTPException(422, "Field 'title' is required")
    for name, value in fields.items():
        expected = _TYPES[name]
        if type(value) is not expected:
            raise HTTPException(422, f"Field '{name}' must be {expected.__name__}")
    return fields


app = TodoAPI()

if __name__ == "__main__":
    app.run()
