"""``Server``: the first MicroPie generation's API on top of :class:`App` (SPEC §15).

Code written for the WSGI-era MicroPie runs with only its import line changed to
``from micropie import Server``: handlers read ``self.query_params`` and
``self.body_params``, render with a synchronous ``self.render_template(...)``, answer
``self.redirect(...)``; ``run()`` serves on port 8080 with ``./static`` at
``/static/``; ``app.wsgi_app`` goes under gunicorn. None of these names is a URL.
"""

from __future__ import annotations

import os
from typing import Any

from .app import App
from .serving import server_address

__all__ = ["Server"]

#: Where ``run()`` serves when neither an argument nor ``$PORT`` says otherwise.
DEFAULT_PORT = 8080
STATIC_DIRECTORY = "static"
#: ``run()`` names the static directory here, for the processes uvicorn starts with
#: ``workers=N`` or ``reload=True``: they import the module afresh and never call ``run()``.
STATIC_ENV = "MICROPIE_SERVER_STATIC"


class Server(App):
    """Subclass this like the first MicroPie's ``Server``; every public method is a URL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        directory = os.environ.get(STATIC_ENV)
        if directory:  # a worker or reloaded process of run(): serve what the parent did
            self._mount_static(directory)

    @property
    def query_params(self) -> dict[str, list[str]]:
        """The query string as ``{name: [values]}``."""
        return self.request.query_params

    @property
    def body_params(self) -> dict[str, list[str]]:
        """The form (or JSON-mirrored) body as ``{name: [values]}``."""
        return self.request.body_params

    def render_template(self, name: str, /, **context: Any) -> str:
        """Render a Jinja2 template from ``templates_dir`` and return the string."""
        return self._templates.render_sync(name, **context)

    def redirect(self, location: str) -> tuple[int, str, list[tuple[str, str]]]:
        """A ``302`` redirect to ``location``."""
        return self._redirect(location)

    def run(self, host: str | None = None, port: int | None = None, **options: Any) -> None:
        """Serve like :meth:`App.run`, on port 8080 by default, ``./static`` at ``/static/``.

        ``host`` and ``port`` default to ``$HOST`` and ``$PORT``, then ``127.0.0.1:8080``.
        """
        host, port = server_address(host, port, default_port=DEFAULT_PORT)
        directory = os.path.abspath(STATIC_DIRECTORY)
        if os.path.isdir(directory):
            self._mount_static(directory)
            os.environ[STATIC_ENV] = directory
        super().run(host, port, **options)

    def _mount_static(self, directory: str) -> None:
        """Mount ``directory`` at ``/static`` once, when it exists."""
        if self.__dict__.get("_static_mounted") or not os.path.isdir(directory):
            return
        from starlette.staticfiles import StaticFiles

        self.mount("/static", StaticFiles(directory=directory), name="static")
        self._static_mounted = True


Server._framework = Server
