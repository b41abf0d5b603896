"""Jinja2 templates: ``await self._render_template(name, **context)``.

Run with ``uvicorn examples.templates.app:app`` or ``python examples/templates/app.py``
(needs jinja2: the ``standard`` extra, ``pip install ".[standard]"``).

Templates live in ``examples/templates/templates/``; the directory is resolved relative
to this file, so the app works from any working directory. Autoescaping is on for
``.html`` files: ``/hello?name=<script>`` is shown, not run.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from micropie import App

TEMPLATES = Path(__file__).resolve().parent / "templates"

BOOKS: list[dict[str, Any]] = [
    {"title": "The Pie Cookbook", "year": 2019, "tags": ["baking", "sweet"]},
    {"title": "Savoury Pies", "year": 2021, "tags": ["baking", "meat"]},
    {"title": "Pastry from Scratch", "year": 2023, "tags": ["basics"]},
]


class Templates(App):
    async def index(self, tag: str | None = None):
        books = [b for b in BOOKS if tag is None or tag in b["tags"]]
        return await self._render("index.html", title="Books", books=books, tag=tag)

    async def hello(self, name: str = "stranger"):
        return await self._render("hello.html", title="Hello", visitor=name)

    async def _render(self, template: str, /, **context):
        """Add what every page needs (the mount prefix, the year) to the context."""
        root = str(self.request.scope.get("root_path", ""))
        year = datetime.date.today().year
        return await self._render_template(template, root=root, year=year, **context)


app = Templates(templates_dir=TEMPLATES)

if __name__ == "__main__":
    app.run()
