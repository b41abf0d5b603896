"""SPEC §3: ``await self._render_template(name, **context)`` with Jinja2."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import jinja2
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


# -- synchronous rendering when nothing needs awaiting; async mode when something does ----


def _render(templates, name, **context):
    import asyncio

    return asyncio.run(templates.render(name, **context))


@pytest.fixture
def engine(tmp_path):
    from micropie.templates import Templates

    (tmp_path / "call.html").write_text("[{{ fetch() }}]")
    (tmp_path / "loop.html").write_text("{% for i in rows %}<{{ i }}>{% endfor %}")
    (tmp_path / "attr.html").write_text("{{ user.name }}|{{ user.title }}")
    (tmp_path / "filter.html").write_text("{{ 'x' | shout }}")
    (tmp_path / "page.html").write_text(
        "<h1>{{ title }}</h1>{% for item in items %}"
        "<li class=\"{{ loop.cycle('odd', 'even') }}\">{{ item.name }} {{ item['n'] }}</li>"
        "{% endfor %}{{ note }}"
    )
    return Templates(tmp_path)


async def _fetch():
    return "awaited"


async def _rows():
    for value in (1, 2):
        yield value


class _User:
    name = "Ann & Bob"

    @property
    def title(self):
        return _fetch()


def test_async_global_call_is_awaited(engine):
    engine.globals["fetch"] = _fetch
    assert _render(engine, "call.html") == "[awaited]"
    assert "call.html" in engine._async_templates  # remembered: renders async from now on
    assert _render(engine, "call.html") == "[awaited]"


def test_sync_function_returning_a_coroutine_is_awaited(engine):
    engine.globals["fetch"] = lambda: _fetch()
    assert _render(engine, "call.html") == "[awaited]"


def test_async_generator_in_context_is_iterated(engine):
    assert _render(engine, "loop.html", rows=_rows()) == "<1><2>"


def test_object_in_context_renders_with_awaited_attributes(engine):
    assert _render(engine, "attr.html", user=_User()) == "Ann &amp; Bob|awaited"


def test_async_filter_is_awaited(engine):
    async def shout(value):
        return value.upper()

    engine.env.filters["shout"] = shout
    assert _render(engine, "filter.html") == "X"


def test_plain_context_renders_synchronously_and_alike(engine):
    from markupsafe import Markup

    context = {
        "title": "Prices <b>",
        "items": [{"name": f"item {i}", "n": i} for i in range(5)],
        "note": Markup("<em>ok</em>"),
    }
    sync = _render(engine, "page.html", **context)
    assert "page.html" not in engine._async_templates
    import asyncio

    forced = asyncio.run(engine._async_env.get_template("page.html").render_async(context))
    assert sync == forced
    assert "Prices &lt;b&gt;" in sync and '<li class="even">item 1 1</li>' in sync
    assert sync.endswith("<em>ok</em>")


def _touch_later(path, text):
    import os

    path.write_text(text)
    stamp = path.stat().st_mtime + 10
    os.utime(path, (stamp, stamp))


def test_templates_are_read_once_without_debug(client_factory, tmp_path):
    (tmp_path / "v.html").write_text("one")

    class MyApp(App):
        async def index(self):
            return await self._render_template("v.html")

    client = client_factory(MyApp(templates_dir=tmp_path))
    assert client.get("/").text == "one"
    _touch_later(tmp_path / "v.html", "two")
    assert client.get("/").text == "one"


def test_templates_reload_in_debug_mode(client_factory, tmp_path):
    (tmp_path / "v.html").write_text("one")

    class MyApp(App):
        async def index(self):
            return await self._render_template("v.html")

    client = client_factory(MyApp(templates_dir=tmp_path, debug=True))
    assert client.get("/").text == "one"
    _touch_later(tmp_path / "v.html", "two")
    assert client.get("/").text == "two"


def test_dict_lookups_read_as_jinja_reads_them(engine, tmp_path):
    import jinja2

    source = (
        "{{ d.name }}|{{ d.missing }}|{{ d.items is callable }}|{{ d['items'] }}|"
        "{{ s.name }}|{{ s.extra }}|{{ n.a.b }}"
    )
    (tmp_path / "lookups.html").write_text(source)

    class Sub(dict):
        extra = "attribute"

    context = {
        "d": {"name": "key", "items": "shadowed"},
        "s": Sub(name="sub", extra="key"),
        "n": {"a": {"b": 1}},
    }
    stock = jinja2.Environment(loader=jinja2.FileSystemLoader(tmp_path), autoescape=True)
    expected = stock.get_template("lookups.html").render(context)
    assert _render(engine, "lookups.html", **context) == expected
    assert expected == "key||True|shadowed|sub|attribute|1"


class _Greeter:
    def hello(self, name):
        return f"hello {name}"

    @jinja2.pass_context
    def context_name(self, context):
        return context.get("who")


class _Shout:
    @jinja2.pass_environment
    def __call__(self, environment, text):
        return f"{text.upper()} ({environment.autoescape is not None})"


def _stops():
    raise StopIteration


def test_calls_read_as_jinja_reads_them(engine, tmp_path):
    source = (
        "{% macro box(x) %}[{{ x }}]{% endmacro %}"
        "{{ plain(1) }}|{{ who_ctx() }}|{{ env_flag() }}|{{ eval_flag() }}|{{ greet('ann') }}|"
        "{{ greeter.context_name() }}|{{ shout('hey') }}|{{ stops() }}|{{ 'a-b'.split('-') }}|"
        "{{ d.get('k') }}|{{ box(2) }}|{{ range(3) | list }}|"
        "{% for i in [1, 2] %}{% set j = i * 10 %}{{ loop.cycle('x', 'y') }}{{ loop_var() }}"
        "{% endfor %}"
    )
    (tmp_path / "calls.html").write_text(source)
    calls = {
        "plain": lambda n: n + 1,
        "who_ctx": jinja2.pass_context(lambda context: context.get("who")),
        "env_flag": jinja2.pass_environment(lambda environment: type(environment).__name__ != ""),
        "eval_flag": jinja2.pass_eval_context(lambda eval_ctx: eval_ctx.autoescape),
        "greet": _Greeter().hello,
        "greeter": _Greeter(),
        "shout": _Shout(),
        "stops": _stops,
        "loop_var": jinja2.pass_context(lambda context: context.get("j")),
    }
    context = {"who": "<b>", "d": {"k": "v"}}
    stock = jinja2.Environment(loader=jinja2.FileSystemLoader(tmp_path), autoescape=True)
    stock.globals.update(calls)
    expected = stock.get_template("calls.html").render(context)
    engine.globals.update(calls)
    assert _render(engine, "calls.html", **context) == expected
    assert "calls.html" not in engine._async_templates  # rendered synchronously
    assert expected == (
        "2|&lt;b&gt;|True|True|hello ann|&lt;b&gt;|HEY (True)||[&#39;a&#39;, &#39;b&#39;]|"
        "v|[2]|[0, 1, 2]|x10y20"
    )


def test_object_inside_table_rows_renders_with_awaited_attributes(engine, tmp_path):
    (tmp_path / "rows.html").write_text("{% for row in rows %}{{ row.user.title }};{% endfor %}")
    rows = [{"n": 1, "user": None}, {"n": 2, "user": _User()}]
    assert _render(engine, "rows.html", rows=rows) == ";awaited;"


def test_self_containing_context_renders(engine, tmp_path):
    (tmp_path / "count.html").write_text("{{ rows | length }}/{{ table['row'] | length }}")
    rows: list = [1]
    rows.append(rows)
    table: dict = {}
    table["row"] = {"table": table}
    assert _render(engine, "count.html", rows=rows, table=table) == "2/1"
