"""SPEC §3: ``await self._render_template(name, **context)`` with Jinja2."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from micropie import App


@pytest.fixture
def templates(tmp_path):
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "index.html").write_text("<title>{{ title }}</title><h1>{{ message }}</h1>")
    (directory / "feed.xml").write_text("<item>{{ value }}</item>")
    (directory / "note.txt").write_text("raw {{ value }}")
    (directory / "base.html").write_text("<main>{% block body %}{% endblock %}</main>")
    (directory / "child.html").write_text(
        '{% extends "base.html" %}{% block body %}{{ value }}{% endblock %}'
    )
    (directory / "loop.html").write_text("{% for i in items %}[{{ i }}]{% endfor %}")
    return directory


def _app(templates_dir, name, **context):
    class MyApp(App):
        async def page(self):
            return await self._render_template(name, **context)

    return MyApp(templates_dir=templates_dir)


def test_render_seed_example(client_factory, templates):
    app = _app(templates, "index.html", title="Welcome", message="Hello from MicroPie!")
    response = client_factory(app).get("/page")
    assert response.text == "<title>Welcome</title><h1>Hello from MicroPie!</h1>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("index.html", "<title>&lt;b&gt;</title><h1></h1>"),
        ("feed.xml", "<item>&lt;b&gt;</item>"),
        ("note.txt", "raw <b>"),
        ("child.html", "<main>&lt;b&gt;</main>"),
    ],
)
def test_autoescape_for_html_and_xml_only(client_factory, templates, name, expected):
    app = _app(templates, name, title="<b>", value="<b>")
    assert client_factory(app).get("/page").text == expected


def test_render_with_loop(client_factory, templates):
    app = _app(templates, "loop.html", items=[1, 2, 3])
    assert client_factory(app).get("/page").text == "[1][2][3]"


def test_render_from_sync_context_is_awaitable(templates):
    import asyncio

    app = App(templates_dir=templates)
    result = app._render_template("loop.html", items=["a"])
    assert asyncio.iscoroutine(result)
    assert asyncio.run(result) == "[a]"


def test_default_templates_directory_is_templates(client_factory, templates, monkeypatch):
    monkeypatch.chdir(templates.parent)

    class MyApp(App):
        async def page(self):
            return await self._render_template("loop.html", items=["d"])

    assert client_factory(MyApp()).get("/page").text == "[d]"


def test_templates_dir_accepts_str(client_factory, templates):
    app = _app(str(templates), "loop.html", items=[0])
    assert client_factory(app).get("/page").text == "[0]"


def test_missing_template_is_500_and_logged(client_factory, templates, caplog):
    app = _app(templates, "nope.html")
    response = client_factory(app, raise_server_exceptions=False).get("/page")
    assert (response.status_code, response.text) == (500, "500 Internal Server Error")
    assert "nope.html" in caplog.text


def test_without_jinja2_error_names_the_extra(tmp_path):
    code = textwrap.dedent(
        """
        import asyncio, sys
        sys.modules["jinja2"] = None
        from micropie import App
        try:
            asyncio.run(App()._render_template("x.html"))
        except ImportError as exc:
            print(type(exc).__name__, exc)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    assert "micropie[standard]" in result.stdout


def test_context_variable_called_name(client_factory, tmp_path):
    (tmp_path / "hi.html").write_text("Hi {{ name }}")

    class MyApp(App):
        async def index(self):
            return await self._render_template("hi.html", name="<b>Ann</b>")

    response = client_factory(MyApp(templates_dir=tmp_path)).get("/")
    assert response.text == "Hi &lt;b&gt;Ann&lt;/b&gt;"
