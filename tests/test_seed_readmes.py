"""Every code block of both MicroPie generations' READMEs, run as written (issue 13).

``tests/seeds/`` holds the two READMEs (copies of ``shared/seeds/``). Each block is
written to an ``app.py`` in a fresh directory with only its import line adapted
(``from MicroPie import ...`` → ``from micropie import ...``) and served the way its
README says: ``python app.py`` (the first generation's ``run()``, port 8080),
``gunicorn app:...`` (its ``wsgi_app``) or ``uvicorn app:app``. A block that is a
fragment of the README's ``app.py`` (a class without the import or the run line) gets
the README's own first lines around it. Each check is what the README says the URL
returns.

The first generation's ``run()`` always binds 127.0.0.1:8080, so those servers take
turns through a lock file (test runs on one machine share the port).
"""

from __future__ import annotations

import fcntl
import re
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import UvicornServer, free_port, start_server, wait_until

pytestmark = pytest.mark.server

SEEDS = Path(__file__).resolve().parent / "seeds"
WSGI_README = (SEEDS / "micropie-wsgi-readme.txt").read_text(encoding="utf-8")
ASGI_README = (SEEDS / "micropie-asgi-readme.txt").read_text(encoding="utf-8")
FENCE = re.compile(r"```(\w*)\n(.*?)```", re.DOTALL)
RUN_PORT = 8080
PORT_LOCK = Path("/tmp/micropie-tests-port-8080.lock")

Check = Callable[[httpx.Client], None]


def fenced(language: str) -> list[str]:
    """The WSGI README's fenced blocks in ``language``, in order."""
    return [code for lang, code in FENCE.findall(WSGI_README) if lang == language]


def adapt_import(code: str) -> str:
    return code.replace("from MicroPie import", "from micropie import")


# -- checks: what the READMEs say each URL returns ------------------------------------


def get(path: str, expected: str) -> Check:
    def check(client: httpx.Client) -> None:
        response = client.get(path)
        assert (response.status_code, response.text) == (200, expected), path

    return check


def post(path: str, data: dict[str, str] | None, expected: str) -> Check:
    def check(client: httpx.Client) -> None:
        response = client.post(path, data=data)
        assert (response.status_code, response.text) == (200, expected), (path, data)

    return check


def post_json(path: str, body: dict[str, str], expected: str) -> Check:
    def check(client: httpx.Client) -> None:
        response = client.post(path, json=body)
        assert (response.status_code, response.text) == (200, expected), (path, body)

    return check


def contains(path: str, *fragments: str) -> Check:
    def check(client: httpx.Client) -> None:
        response = client.get(path)
        assert response.status_code == 200, path
        for fragment in fragments:
            assert fragment in response.text

    return check


def streams(path: str, lines: list[str]) -> Check:
    """The body arrives as a chunked stream of these lines."""

    def check(client: httpx.Client) -> None:
        with client.stream("GET", path) as response:
            assert response.status_code == 200
            assert "content-length" not in response.headers
            assert list(response.iter_lines()) == lines

    return check


CHUNKS = [f"Chunk {i}" for i in range(1, 6)]


# -- the first generation (WSGI README): Server ---------------------------------------


@dataclass(frozen=True)
class Block:
    """One README code block: how it is served and what it answers."""

    marker: str  # a line that identifies the block in its README
    checks: tuple[Check, ...]
    serve: str = "python app.py"
    files: dict[str, str] = field(default_factory=dict)


def wsgi_app_py(block: str) -> str:
    """``app.py`` for a first-generation block: the README's import and run lines around it."""
    code = adapt_import(block)
    if "import Server" not in code:
        code = "from micropie import Server\n\n" + code
    if ".run(" not in code and "wsgi_app" not in code:
        code += "\nMyApp().run()\n"
    return code


TEMPLATE = fenced("html")[0]

WSGI_BLOCKS = [
    Block('def index(self, name="Guest"):', (get("/", "Hello, Guest!"),)),
    Block("def hello(self):", (get("/hello", "Hello, world!"),)),
    Block(
        'def greet(self, name="Guest"):',
        (get("/greet?name=Alice", "Hello, Alice!"), get("/greet", "Hello, Guest!")),
    ),
    Block(
        "def greet(self, name):",
        (get("/greet/Alice", "Hello, Alice!"), get("/greet/John", "Hello, John!")),
    ),
    Block(
        "def profile(self, user_id):",
        (
            get("/profile/123?age=25", "User ID: 123, Age: 25"),
            get("/profile/456", "User ID: 456, Age: Unknown"),
        ),
    ),
    Block(
        'def submit(self, username="Anonymous"):',
        (
            post("/submit", {"username": "Alice"}, "Form submitted by: Alice"),
            post("/submit", None, "Form submitted by: Anonymous"),
        ),
    ),
    Block(
        "username = self.body_params.get('username', ['Anonymous'])[0]",
        (
            post("/submit", {"username": "Alice"}, "Submitted by: Alice"),
            post("/submit", None, "Submitted by: Anonymous"),
        ),
    ),
    Block(
        "def register(self):",
        (
            post("/register", {"username": "an", "email": "a@b"}, "Registered an with email a@b"),
            post("/register", None, "Registered Guest with email No Email"),
        ),
    ),
    Block(
        "wsgi_application = app.wsgi_app",
        (get("/", "Hello, WSGI World!"),),
        serve="gunicorn app:wsgi_application",
    ),
    Block(
        "# Initialize or increment visit count in session",
        tuple(get("/", f"Welcome! You have visited this page {n} times.") for n in (1, 2, 3)),
    ),
    Block(
        "# Pass data to the template for rendering",
        (contains("/", "<title>Welcome</title>", "<h1>Hello from MicroPie!</h1>"),),
        files={"templates/index.html": TEMPLATE},
    ),
    Block("class Root(Server):", (streams("/", CHUNKS),), serve="gunicorn app:wsgi_app"),
]


def test_every_first_generation_block_is_covered() -> None:
    python_blocks = fenced("python")
    claimed = [[b for b in python_blocks if case.marker in b] for case in WSGI_BLOCKS]
    assert all(len(blocks) == 1 for blocks in claimed), [c.marker for c in WSGI_BLOCKS]
    assert sorted(python_blocks) == sorted(blocks[0] for blocks in claimed)
    assert "python app.py\n" in fenced("bash")
    assert "gunicorn app:wsgi_application" in WSGI_README
    assert "gunicorn app:wsgi_app`" in WSGI_README


@pytest.fixture
def port_8080() -> Iterator[int]:
    """Port 8080, held through a lock file so test runs take turns with it."""
    with PORT_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        assert wait_until(lambda: port_is_free(RUN_PORT), timeout=30), "8080 is busy"
        yield RUN_PORT


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def first_generation(tmp_path: Path, port_8080: int) -> Iterator[Callable[..., UvicornServer]]:
    """Write a block's ``app.py`` (and files) and serve it as its README says."""
    servers: list[UvicornServer] = []

    def serve(block: Block, code: str) -> UvicornServer:
        write_files(tmp_path, {"app.py": code, **block.files})
        if block.serve == "python app.py":
            command = [sys.executable, "app.py"]
            server = start_server(command, port_8080, cwd=tmp_path, probe="/favicon.ico")
        else:
            port = free_port()
            target = block.serve.removeprefix("gunicorn ")
            command = [sys.executable, "-m", "gunicorn", target, "--bind", f"127.0.0.1:{port}"]
            server = start_server(
                command, port, cwd=tmp_path, probe="/favicon.ico", stop_signal=signal.SIGTERM
            )
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()


def write_files(directory: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def assert_clean_log(server: UvicornServer) -> None:
    server.stop()
    log = server.log()
    assert "Traceback" not in log and "ERROR" not in log, log


@pytest.mark.parametrize("block", WSGI_BLOCKS, ids=lambda block: block.marker[:40])
def test_first_generation_block(first_generation, block: Block) -> None:
    (code,) = [b for b in fenced("python") if block.marker in b]
    server = first_generation(block, wsgi_app_py(code))
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for check in block.checks:
            check(client)
    assert_clean_log(server)


def test_first_generation_run_serves_static_files(first_generation) -> None:
    """Section 7: ``./static/style.css`` at ``http://127.0.0.1:8080/static/style.css``."""
    (code,) = [b for b in fenced("python") if 'def index(self, name="Guest"):' in b]
    block = Block("", (), files={"static/style.css": "h1 { color: red }"})
    server = first_generation(block, wsgi_app_py(code))
    assert server.url == "http://127.0.0.1:8080"
    assert "http://127.0.0.1:8080/static/style.css" in WSGI_README
    response = httpx.get(server.url + "/static/style.css")
    assert (response.status_code, response.text) == (200, "h1 { color: red }")
    assert response.headers["content-type"].startswith("text/css")
    assert httpx.get(server.url + "/").text == "Hello, Guest!"
    assert_clean_log(server)


# -- the current generation (ASGI README): App -----------------------------------------

# The ASGI README is a flattened web page without fences: its blocks are quoted here
# and each is checked to appear in it verbatim.

ASGI_FIRST_APP = """\
from MicroPie import App

class MyApp(App):
    async def index(self):
        return "Welcome to MicroPie ASGI."

app = MyApp()
"""
ASGI_GET = """\
class MyApp(App):
    async def greet(self, name="Guest"):
        return f"Hello, {name}!"

    async def hello(self):
        name = self.request.query_params.get("name", None)[0]
        return f"Hello {name}!"
"""
ASGI_POST = """\
class MyApp(App):
    async def submit_default_values(self, username="Anonymous"):
        return f"Form submitted by: {username}"

    async def submit_catch_all(self):
        username = self.request.body_params.get("username", ["Anonymous"])[0]
        return f"Submitted by: {username}"
"""
ASGI_TEMPLATE = """\
class MyApp(App):
    async def index(self):
        return await self._render_template("index.html", title="Welcome", message="Hello from MicroPie!")
"""  # noqa: E501 (the README's line)
ASGI_TEMPLATE_HTML = """\
<!DOCTYPE html>
<html lang="en">
    <meta charset="UTF-8">
    <title>{{ title }}</title>
    <h1>{{ message }}</h1>
"""
ASGI_STREAM = """\
class MyApp(App):
    async def stream(self):
        async def generator():
            for i in range(1, 6):
                yield f"Chunk {i}\\n"
        return generator()
"""
ASGI_SESSIONS = """\
class MyApp(App):
    async def index(self):
        if "visits" not in self.session:
            self.request.session["visits"] = 1
            self.request.session["visits"] += 1
        return f"You have visited {self.request.session['visits']} times."
"""
ASGI_MIDDLEWARE = """\
from MicroPie import App, HttpMiddleware

class MiddlewareExample(HttpMiddleware):
    async def before_request(self, request):
        print("Hook before request")

    async def after_request(self, request, status_code, response_body, extra_headers):
        print("Hook after request")

class Root(App):
    async def index(self):
        return "Hello, World!"

app = Root()
"""
ASGI_BLOCKS = {
    "first app": (ASGI_FIRST_APP, {}, (get("/", "Welcome to MicroPie ASGI."),)),
    "GET routing": (
        ASGI_GET,
        {},
        (
            get("/greet", "Hello, Guest!"),
            get("/greet?name=Alice", "Hello, Alice!"),
            get("/greet/Bob", "Hello, Bob!"),
            get("/hello?name=Ann", "Hello Ann!"),
        ),
    ),
    "POST handling": (
        ASGI_POST,
        {},
        (
            post("/submit_default_values", None, "Form submitted by: Anonymous"),
            post("/submit_default_values", {"username": "sue"}, "Form submitted by: sue"),
            post("/submit_catch_all", {"username": "kim"}, "Submitted by: kim"),
            post("/submit_catch_all", None, "Submitted by: Anonymous"),
            post_json("/submit_catch_all", {"username": "js"}, "Submitted by: js"),
        ),
    ),
    "Jinja2 templates": (
        ASGI_TEMPLATE,
        {"templates/index.html": ASGI_TEMPLATE_HTML},
        (contains("/", "<title>Welcome</title>", "<h1>Hello from MicroPie!</h1>"),),
    ),
    "streaming": (ASGI_STREAM, {}, (streams("/stream", CHUNKS),)),
    # As the (flattened) README has it, the count goes up only on the first visit.
    "sessions": (ASGI_SESSIONS, {}, (get("/", "You have visited 2 times."),) * 2),
    # The block defines the hooks without adding them to app.middlewares.
    "middleware": (ASGI_MIDDLEWARE, {}, (get("/", "Hello, World!"),)),
}


def asgi_app_py(block: str) -> str:
    """``app.py`` for a current-generation block: the README's import and app lines added."""
    code = adapt_import(block)
    if "import App" not in code:
        code = "from micropie import App\n\n" + code
    if "\napp = " not in code:
        code += "\napp = MyApp()\n"
    return code


def test_every_current_generation_block_is_quoted_verbatim() -> None:
    for code, files, _checks in ASGI_BLOCKS.values():
        assert code in ASGI_README
        for text in files.values():
            assert text in ASGI_README
    class_lines = {line for line in ASGI_README.splitlines() if line.startswith("class ")}
    quoted = "".join(code for code, _files, _checks in ASGI_BLOCKS.values())
    assert all(line in quoted for line in class_lines)
    assert "uvicorn app:app" in ASGI_README
    assert "uvicorn app:app --workers 4 --port 8000" in ASGI_README


@pytest.mark.parametrize("name", ASGI_BLOCKS)
def test_current_generation_block(tmp_path: Path, uvicorn_server, name: str) -> None:
    code, files, checks = ASGI_BLOCKS[name]
    write_files(tmp_path, {"app.py": asgi_app_py(code), **files})
    server = uvicorn_server("app:app", cwd=tmp_path)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for check in checks:
            check(client)
    assert_clean_log(server)


def test_current_generation_deployment_with_four_workers(tmp_path: Path, uvicorn_server) -> None:
    """``uvicorn app:app --workers 4 --port 8000`` (on a free port here)."""
    write_files(tmp_path, {"app.py": asgi_app_py(ASGI_FIRST_APP)})
    server = uvicorn_server("app:app", cwd=tmp_path, workers=4, timeout=60)
    for _ in range(8):
        assert httpx.get(server.url + "/").text == "Welcome to MicroPie ASGI."
    assert_clean_log(server)


# -- the current generation's API documentation ----------------------------------------

#: Names the ASGI README documents that micropie leaves out on purpose (docs/migrating.md).
REMOVED = {"_parse_multipart"}
_MEMBER = re.compile(r"•\s+(\w+)\s*(?:\(|:|->)")
_NEXT_HEADING = re.compile(
    r"\n(?:[A-Z][\w ]+ Class|Request Object|Application Base|Response Formats)\n"
)


def documented_members(heading: str) -> list[str]:
    """Names listed as ``• name(...)``, ``• name:`` or ``• name ->`` under ``heading``."""
    section = ASGI_README.split("API Documentation", 1)[1].split(heading, 1)[1]
    section = _NEXT_HEADING.split(section, 1)[0]
    return [name for name in _MEMBER.findall(section) if name != "Requires"]


@pytest.mark.parametrize(
    ("heading", "owner"),
    [
        ("SessionBackend Class", "SessionBackend"),
        ("InMemorySessionBackend Class", "InMemorySessionBackend"),
        ("HttpMiddleware Class", "HttpMiddleware"),
        ("App Class", "App"),
    ],
)
def test_current_generation_api_documentation_names_exist(heading: str, owner: str) -> None:
    import micropie

    names = documented_members(heading)
    assert names, heading
    cls = getattr(micropie, owner)
    missing = [name for name in names if name not in REMOVED and not hasattr(cls, name)]
    assert not missing, (owner, missing)
    migrating = (SEEDS.parent.parent / "docs" / "migrating.md").read_text()
    assert all(name in migrating for name in REMOVED)


def test_current_generation_request_attributes_exist() -> None:
    from micropie import Request

    names = documented_members("Request Class")
    assert {"scope", "method", "path_params", "get_json", "files", "headers"} <= set(names)
    request = Request({"type": "http", "method": "GET", "path": "/", "headers": []})
    missing = [name for name in names if not hasattr(request, name)]
    assert not missing, missing
