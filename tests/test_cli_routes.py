"""``micropie routes module:app``: the route table on the command line (SPEC §12)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from micropie.cli import main

MICROPIE = str(Path(sys.executable).with_name("micropie"))

APP_SOURCE = textwrap.dedent(
    """
    from starlette.responses import PlainTextResponse
    from starlette.staticfiles import StaticFiles

    from micropie import App, methods


    def metrics(request):
        return PlainTextResponse("")


    class Shop(App):
        async def index(self):
            return "home"

        async def greet(self, name):
            return name

        async def page(self, number: int = 1, size: int = 10):
            return "page"

        async def files(self, *parts):
            return "files"

        @methods("GET", "POST")
        async def order(self, item_id: int):
            return "ok"

        async def ws_chat(self, ws, room):
            await ws.accept()

        async def ws_feed(self, ws, topic="news"):
            await ws.accept()


    class Admin(App):
        async def users(self, user_id=None):
            return "users"


    app = Shop()
    app.add_route("/metrics", metrics, methods=["GET"])
    app.mount("/admin", Admin(), name="admin")
    app.mount("/static", StaticFiles(directory="."), name="static")
    """
)


@pytest.fixture(autouse=True)
def _fresh_import():
    """Each test imports its own ``shop_app`` (from its own directory)."""
    sys.modules.pop("shop_app", None)
    yield
    sys.modules.pop("shop_app", None)


def _line(text: str) -> int:
    return APP_SOURCE.splitlines().index(text) + 1


def _write_app(directory: Path) -> None:
    (directory / "shop_app.py").write_text(APP_SOURCE)


def test_routes_prints_methods_path_handler_and_source(tmp_path, monkeypatch, capsys):
    _write_app(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["routes", "shop_app:app"]) == 0
    lines = [line.split() for line in capsys.readouterr().out.splitlines()]
    assert lines[0] == ["METHODS", "PATH", "HANDLER", "SOURCE"]
    rows = {tuple(line[-3:-1]): line[:-3] for line in lines[1:]}
    assert rows[("/metrics", "metrics")] == ["GET"]
    assert rows[("/admin", "Admin")] == ["MOUNT"]
    assert rows[("/admin/users[/{user_id}]", "Admin.users")] == ["ANY"]
    assert rows[("/static", "StaticFiles")] == ["MOUNT"]
    assert rows[("/", "Shop.index")] == ["ANY"]
    assert rows[("/greet/{name}", "Shop.greet")] == ["ANY"]
    assert rows[("/order/{item_id}", "Shop.order")] == ["GET,", "POST"]
    assert rows[("/chat/{room}", "Shop.ws_chat")] == ["WS"]
    # segments a URL may leave out (defaults, *args) are in brackets
    assert rows[("/page[/{number}][/{size}]", "Shop.page")] == ["ANY"]
    assert rows[("/files[/{parts:path}]", "Shop.files")] == ["ANY"]
    assert rows[("/feed[/{topic}]", "Shop.ws_feed")] == ["WS"]
    sources = {line[-2]: line[-1] for line in lines[1:]}
    assert sources["Shop.greet"] == f"shop_app.py:{_line('    async def greet(self, name):')}"
    assert (
        sources["Admin.users"] == f"shop_app.py:{_line('    async def users(self, user_id=None):')}"
    )
    # in matching order: explicit routes and mounts, then handlers, websockets last
    paths = [line[-3] for line in lines[1:]]
    assert paths.index("/metrics") < paths.index("/greet/{name}") < paths.index("/chat/{room}")


def test_fallbacks_are_listed_after_every_route_they_do_not_shadow(tmp_path, monkeypatch, capsys):
    """An ``index`` taking every path is tried last: listed after the websocket handlers
    too, so that nothing below a catch-all row looks unreachable."""
    (tmp_path / "fallback_app.py").write_text(
        textwrap.dedent(
            """
            from micropie import App


            class Site(App):
                async def index(self, *parts):
                    return "page"

                async def about(self):
                    return "about"

                async def ws_index(self, ws, *parts):
                    await ws.accept()

                async def ws_chat(self, ws):
                    await ws.accept()


            app = Site()
            """
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "fallback_app", raising=False)
    assert main(["routes", "fallback_app:app"]) == 0
    rows = [line.split()[:3] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == [
        ["ANY", "/about", "Site.about"],
        ["WS", "/chat", "Site.ws_chat"],
        ["ANY", "/[{parts:path}]", "Site.index"],
        ["WS", "/[{parts:path}]", "Site.ws_index"],
    ]


def test_routes_from_the_installed_command(tmp_path):
    _write_app(tmp_path)
    result = subprocess.run(
        [MICROPIE, "routes", "shop_app:app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "/greet/{name}" in result.stdout
    assert "Shop.greet" in result.stdout


def test_routes_reports_an_app_it_cannot_load(tmp_path, monkeypatch, capsys):
    _write_app(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["routes", "shop_app:missing"]) == 1
    assert "cannot load shop_app:missing" in capsys.readouterr().err
    assert main(["routes", "no_such_module_here:app"]) == 1
    assert "No module named 'no_such_module_here'" in capsys.readouterr().err
    assert main(["routes", "shop_app:metrics"]) == 1
    assert "shop_app:metrics has no route table" in capsys.readouterr().err


def test_routes_is_a_preflight_check_for_an_app_that_fails_to_import(tmp_path):
    """The deployment guide's check before ``--workers``, under which uvicorn restarts a
    worker whose import fails for ever: ``micropie routes`` imports the app once and
    exits 1 with the error."""
    (tmp_path / "broken.py").write_text(
        "from micropie import App\nraise RuntimeError('DATABASE_URL is not set')\napp = App()\n"
    )
    result = subprocess.run(
        [MICROPIE, "routes", "broken:app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "RuntimeError: DATABASE_URL is not set" in result.stderr


BIG_APP_SOURCE = textwrap.dedent(
    """
    from micropie import App


    async def handler(self):
        return "x"


    Big = type("Big", (App,), {f"h{i:04d}_{'x' * 200}": handler for i in range(3000)})
    app = Big()
    """
)


def test_routes_piped_into_head_exits_quietly(tmp_path):
    # About 1.3 MB of table, far more than a pipe holds: writes go on after head exits.
    (tmp_path / "big_app.py").write_text(BIG_APP_SOURCE)
    routes = subprocess.Popen(
        [MICROPIE, "routes", "big_app:app"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert routes.stdout is not None and routes.stderr is not None
    head = subprocess.run(
        ["head", "-1"], stdin=routes.stdout, capture_output=True, text=True, timeout=120
    )
    routes.stdout.close()  # head was its only reader
    errors = routes.stderr.read().decode()
    routes.wait(timeout=120)
    routes.stderr.close()
    assert head.stdout.split() == ["METHODS", "PATH", "HANDLER", "SOURCE"]
    assert errors == ""
    assert routes.returncode == 1  # as Python's documented SIGPIPE recipe: no traceback


def test_the_table_in_the_url_building_guide_is_what_the_command_prints(monkeypatch, capsys):
    """docs/guides/url-building.md shows `micropie routes examples.routing.app:app`."""
    import re

    from tests.support import ROOT

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert main(["routes", "examples.routing.app:app"]) == 0
    page = (ROOT / "docs" / "guides" / "url-building.md").read_text()
    shown = re.search(r"```text\n(METHODS .*?)```", page, re.S)
    assert shown is not None
    assert capsys.readouterr().out == shown.group(1)
