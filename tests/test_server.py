"""SPEC §15: ``micropie.Server``, the first MicroPie generation's API on top of ``App``."""

from __future__ import annotations

import pytest

from micropie import App, HttpMiddleware, Server
from micropie.server import DEFAULT_PORT


def test_server_is_an_app_with_the_first_generation_defaults():
    assert issubclass(Server, App)
    assert DEFAULT_PORT == 8080


def test_query_and_body_params_in_sync_handlers(client_factory):
    class MyApp(Server):
        def profile(self, user_id):
            age = self.query_params.get("age", ["Unknown"])[0]
            return f"User ID: {user_id}, Age: {age}"

        def register(self):
            username = self.body_params.get("username", ["Guest"])[0]
            email = self.body_params.get("email", ["No Email"])[0]
            return f"Registered {username} with email {email}"

    client = client_factory(MyApp())
    assert client.get("/profile/7?age=3").text == "User ID: 7, Age: 3"
    assert client.get("/profile/8").text == "User ID: 8, Age: Unknown"
    data = {"username": "ann", "email": "a@x"}
    assert client.post("/register", data=data).text == "Registered ann with email a@x"
    assert client.post("/register").text == "Registered Guest with email No Email"


def test_render_template_returns_a_string(client_factory, tmp_path):
    (tmp_path / "page.html").write_text("<h1>{{ message }}</h1>{{ range(2)|list }}")

    class MyApp(Server):
        def index(self):
            rendered = self.render_template("page.html", message="<b>hi</b>")
            assert isinstance(rendered, str)
            return rendered

        async def later(self):
            return self.render_template("page.html", message="async")

    client = client_factory(MyApp(templates_dir=tmp_path))
    assert client.get("/").text == "<h1>&lt;b&gt;hi&lt;/b&gt;</h1>[0, 1]"
    assert client.get("/later").text == "<h1>async</h1>[0, 1]"


def test_sync_and_async_templates_share_globals(client_factory, tmp_path):
    (tmp_path / "g.html").write_text("{{ site() }}")

    class MyApp(Server):
        def sync(self):
            return self.render_template("g.html")

        async def asynchronous(self):
            return await self._render_template("g.html")

    app = MyApp(templates_dir=tmp_path)
    app._templates.globals["site"] = lambda: "pie"
    client = client_factory(app)
    assert (client.get("/sync").text, client.get("/asynchronous").text) == ("pie", "pie")


def test_redirect(client_factory):
    class MyApp(Server):
        def old(self):
            return self.redirect("/new")

        def new(self):
            return "new"

    client = client_factory(MyApp())
    response = client.get("/old", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (302, "/new")
    assert client.get("/old").text == "new"


def test_session_counts_visits(client_factory):
    class MyApp(Server):
        def index(self):
            if "visits" not in self.session:
                self.session["visits"] = 1
            else:
                self.session["visits"] += 1
            return f"Welcome! You have visited this page {self.session['visits']} times."

    client = client_factory(MyApp())
    texts = [client.get("/").text for _ in range(2)]
    assert texts == [f"Welcome! You have visited this page {n} times." for n in (1, 2)]


SERVER_NAMES = ["run", "query_params", "body_params", "render_template", "redirect",
                "wsgi_app", "session", "request", "mount"]  # fmt: skip


@pytest.mark.parametrize("name", SERVER_NAMES)
def test_server_api_names_are_not_urls(client_factory, name):
    class MyApp(Server):
        def index(self, *segments):
            return "index " + "/".join(segments)

    response = client_factory(MyApp()).get(f"/{name}")
    assert response.text == f"index {name}"  # not the attribute: index takes the segment


@pytest.mark.parametrize("name", ["_mount_static", "_framework", "render_template"])
def test_server_api_names_are_not_reachable_by_explicit_routing(client_factory, name):
    class Route(HttpMiddleware):
        async def before_request(self, request):
            request._route_handler = name

        async def after_request(self, request, status_code, response_body, extra_headers):
            return None

    app = Server()
    app.middlewares.append(Route())
    assert client_factory(app).get("/").status_code == 404


def test_subclass_may_override_a_server_name(client_factory):
    class MyApp(Server):
        def redirect(self, to="/"):
            return f"my redirect to {to}"

    assert client_factory(MyApp()).get("/redirect?to=/x").text == "my redirect to /x"


def test_migration_guide_server_snippet_runs(client_factory, tmp_path, monkeypatch):
    """The ``micropie.Server`` example of docs/migrating.md, as written."""
    import re
    from pathlib import Path

    guide = (Path(__file__).parent.parent / "docs" / "migrating.md").read_text()
    section = guide.split("## From the WSGI release", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "profile.html").write_text("{{ user_id }} is {{ age }}")
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "app"}
    exec(compile(code, "migrating.md", "exec"), namespace)
    app = namespace["app"]
    assert callable(namespace["wsgi_application"])
    client = client_factory(app)
    response = client.post("/submit", data={"username": "ann"}, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (302, "/profile/ann")
    assert client.get("/profile/ann?age=30").text == "ann is 30"


@pytest.mark.server
def test_run_takes_port_from_the_environment(tmp_path):
    import sys

    from tests.support import free_port, start_server

    (tmp_path / "app.py").write_text(
        "from micropie import Server\n\n"
        "class MyApp(Server):\n"
        "    def index(self):\n"
        "        return 'here'\n\n"
        "MyApp().run()\n"
    )
    port = free_port()
    command = [sys.executable, "app.py"]
    server = start_server(command, port, env={"PORT": str(port)}, cwd=tmp_path)
    try:
        import httpx

        assert httpx.get(server.url + "/").text == "here"
        assert httpx.get(server.url + "/static/x").status_code == 404  # no ./static here
    finally:
        server.stop()


def test_render_template_async_call_raises_type_error(tmp_path):
    (tmp_path / "a.html").write_text("{{ later() }}")

    async def later():
        return "never"

    app = Server(templates_dir=tmp_path)
    with pytest.raises(TypeError, match="await self._render_template"):
        app.render_template("a.html", later=later)


@pytest.mark.server
@pytest.mark.parametrize("options", ["workers=2", "reload=True"])
def test_run_serves_static_in_every_process_it_starts(tmp_path, options):
    """``run(workers=2)`` and ``run(reload=True)`` serve from processes that import the
    module again and never call ``run()``: each of them serves ``./static`` too."""
    import signal
    import sys

    import httpx

    from tests.support import free_port, start_server

    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "style.css").write_text("h1 { color: red }")
    port = free_port()
    (tmp_path / "app.py").write_text(
        "from micropie import Server\n\n"
        "class MyApp(Server):\n"
        "    def index(self):\n"
        "        return 'here'\n\n"
        "app = MyApp()\n\n"
        "if __name__ == '__main__':\n"
        f"    app.run(port={port}, {options})\n"
    )
    command = [sys.executable, "app.py"]
    server = start_server(command, port, cwd=tmp_path, timeout=60, stop_signal=signal.SIGTERM)
    try:
        for _ in range(12):  # a new connection each time: the kernel picks the worker
            response = httpx.get(server.url + "/static/style.css", timeout=30)
            assert (response.status_code, response.text) == (200, "h1 { color: red }")
        assert httpx.get(server.url + "/", timeout=30).text == "here"
    finally:
        server.stop()
    assert "Traceback" not in server.log(), server.log()
