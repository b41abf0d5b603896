"""Jinja2 template rendering for ``App._render_template`` (SPEC §3)."""

from __future__ import annotations

import os
from typing import Any

from starlette.datastructures import URL

from ._optional import require
from .request import current_request

__all__ = ["Templates", "url_for"]


class Templates:
    """A lazily created async Jinja2 environment over one templates directory.

    Autoescaping is on for ``.html``, ``.htm`` and ``.xml`` templates. Functions and
    values put in :attr:`globals` are visible in every template; ``url_for(name,
    **params)`` builds the URL of a handler of the app rendering it.
    """

    def __init__(self, directory: str | os.PathLike[str] = "templates") -> None:
        self.directory = directory
        self.globals: dict[str, Any] = {"url_for": url_for}
        self._env: Any = None

    @property
    def env(self) -> Any:
        """The ``jinja2.Environment`` (created on first use; needs jinja2)."""
        if self._env is None:
            jinja2 = require("jinja2", feature="Template rendering", package="jinja2")
            self._env = jinja2.Environment(
                loader=jinja2.FileSystemLoader(os.fspath(self.directory)),
                autoescape=jinja2.select_autoescape(["html", "htm", "xml"]),
                enable_async=True,
            )
            self._env.globals.update(self.globals)
            self.globals = self._env.globals
        return self._env

    async def render(self, name: str, /, **context: Any) -> str:
        """Render template ``name`` with ``context``."""
        template = self.env.get_template(name)
        rendered: str = await template.render_async(**context)
        return rendered


def url_for(name: str, /, **params: Any) -> URL:
    """``url_for`` in templates: the URL of handler or route ``name`` for the current request."""
    return current_request.get().url_for(name, **params)
