"""A typed JSON API: a to-do list kept in memory, with models in and out.

Run with ``uvicorn examples.json_api.app:app`` or ``python examples/json_api/app.py``
(needs the ``standard`` and ``typed`` extras: ``pip install ".[standard,typed]"``), then open
http://localhost:8000/docs (Swagger UI from a CDN, or served by the app itself with the
``swagger-ui`` extra too).

Try it with curl::

    curl -X POST localhost:8000/add -H 'content-type: application/json' \\
         -d '{"title": "Buy flour", "priority": 2}'          # 201 and the new to-do
    curl localhost:8000/todos                                   # the list
    curl -X PATCH localhost:8000/edit/1 -H 'content-type: application/json' \\
         -d '{"done": true}'
    curl -X DELETE localhost:8000/remove/1                      # 204 No Content
    curl -X POST localhost:8000/add -H 'content-type: application/json' \\
         -d '{"priority": 9}'                                   # 422 and what is wrong

Parameters annotated with a Pydantic model are built from the JSON body and validated
by Pydantic; a dataclass return answers JSON. ``json_errors=True`` answers every
error as ``{"detail": ...}``; ``/openapi.json`` describes the API and ``/docs`` shows it.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any

from pydantic import BaseModel, Field

from micropie import App, HTTPException, describe, methods


class NewTodo(BaseModel):
    """A to-do to add."""

    title: str = Field(min_length=1, max_length=200)
    priority: int = Field(1, ge=1, le=5)


class TodoChanges(BaseModel):
    """The fields of a to-do to change; those left out stay as they are."""

    title: str | None = Field(None, min_length=1, max_length=200)
    done: bool | None = None
    priority: int | None = Field(None, ge=1, le=5)


@dataclasses.dataclass
class Todo:
    """A to-do as stored and answered."""

    id: int
    title: str
    done: bool
    priority: int


NOT_FOUND = {404: "No to-do with that id"}


class TodoAPI(App):
    def __init__(self, **options: Any) -> None:
        options.setdefault("json_errors", True)
        options.setdefault("openapi_url", "/openapi.json")
        options.setdefault("docs_url", "/docs")
        options.setdefault("openapi_info", {"title": "To-do API", "version": "1.0.0"})
        super().__init__(**options)
        self._todos: dict[int, Todo] = {}
        self._ids = itertools.count(1)

    @methods("GET")
    async def index(self) -> dict[str, str]:
        """Where the API and its documentation are (under the app's mount point, if any)."""
        url_for = self.request.url_for
        return {name: url_for(name).path for name in ("todos", "openapi", "docs")}

    @methods("GET")
    async def todos(self, *, done: bool | None = None) -> list[Todo]:
        """List the to-dos, optionally only those done (or not done)."""
        items = self._todos.values()
        return [item for item in items if done is None or item.done is done]

    @methods("POST")
    @describe(status=201)
    async def add(self, todo: NewTodo) -> tuple[int, Todo]:
        """Add a to-do; it starts not done."""
        item = Todo(next(self._ids), todo.title, False, todo.priority)
        self._todos[item.id] = item
        return 201, item

    @methods("GET")
    @describe(responses=NOT_FOUND)
    async def todo(self, todo_id: int) -> Todo:
        """One to-do."""
        return self._get(todo_id)

    @methods("PATCH")
    @describe(responses=NOT_FOUND)
    async def edit(self, todo_id: int, changes: TodoChanges) -> Todo:
        """Change some fields of a to-do."""
        item = self._get(todo_id)
        for name, value in changes.model_dump(exclude_none=True).items():
            setattr(item, name, value)
        return item

    @methods("DELETE")
    @describe(responses=NOT_FOUND)
    async def remove(self, todo_id: int) -> None:
        """Delete a to-do."""
        self._get(todo_id)
        del self._todos[todo_id]

    def _get(self, todo_id: int) -> Todo:
        item = self._todos.get(todo_id)
        if item is None:
            raise HTTPException(404, f"No to-do with id {todo_id}")
        return item


app = TodoAPI()

if __name__ == "__main__":
    app.run()
