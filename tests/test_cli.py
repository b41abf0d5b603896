"""The ``micropie`` command line and ``app.run()``, each serving a real uvicorn process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from micropie import __version__
from micropie.serving import import_string
from tests.support import UvicornServer, free_port, start_server, wait_until

pytestmark = pytest.mark.server

MICROPIE = str(Path(sys.executable).with_name("micropie"))

APP_SOURCE = """
import os

from micropie import App


class MyApp(App):
    async def index(self):
        return "{greeting}"

    async def pid(self):
        return {{"pid": os.getpid()}}

    async def boom(self):
        raise ValueError("kaboom")

    async def where(self):
        return {{"url": str(self.request.url), "client": self.request.scope["client"][0]}}


app = MyApp()

if __name__ == "__main__":
    app.run({run_arguments})
"""


def write_app(directory: Path, greeting: str = "one", run_arguments: str = "") -> Path:
    path = directory / "app.py"
    path.write_text(APP_SOURCE.format(greeting=greeting, run_arguments=run_arguments))
    return path


StartServer = Callable[..., UvicornServer]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[StartServer]:
    """Start ``command`` in ``tmp_path`` on a free port (``{port}`` in it is replaced)."""
    servers: list[UvicornServer] = []

    def run(command: list[str], env: dict[str, str] | None = None) -> UvicornServer:
        port = free_port()
        command = [part.replace("{port}", str(port)) for part in command]
        server = start_server(command, port, env={"PORT": str(port), **(env or {})}, cwd=tmp_path)
        servers.append(server)
        return server

    yield run
    for server in servers:
        server.stop()


def get_text(url: str) -> str:
    return httpx.get(url, timeout=5).text


def test_run_serves_the_app_on_the_given_port(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path)
    server = start([MICROPIE, "run", "app:app", "--host", "127.0.0.1", "--port", "{port}"])
    assert get_text(server.url + "/") == "one"
    assert httpx.get(server.url + "/boom", timeout=5).text == "500 Internal Server Error"


def test_run_takes_host_and_port_from_the_environment(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path)
    server = start([MICROPIE, "run", "app:app"], env={"HOST": "127.0.0.1"})
    assert get_text(server.url + "/") == "one"


def test_run_with_workers_starts_that_many_processes(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path)
    server = start([sys.executable, "-m", "micropie", "run", "app:app", "--workers", "2"])
    assert wait_until(lambda: server.log().count("Application startup complete.") == 2, 30)
    assert httpx.get(server.url + "/pid", timeout=5).json()["pid"] != server.pid


def test_run_takes_the_worker_count_from_web_concurrency(
    tmp_path: Path, start: StartServer
) -> None:
    """Platforms (Heroku, Render, Dokku ...) size an app by ``WEB_CONCURRENCY``, as
    uvicorn's own ``--workers`` default does."""
    write_app(tmp_path)
    server = start([MICROPIE, "run", "app:app"], env={"WEB_CONCURRENCY": "2"})
    assert wait_until(lambda: server.log().count("Application startup complete.") == 2, 30)
    assert httpx.get(server.url + "/pid", timeout=5).json()["pid"] != server.pid


@pytest.mark.parametrize(
    ("trusted", "expected"),
    [("127.0.0.1", ("http", "127.0.0.2")), ("127.0.0.2", ("https", "203.0.113.9"))],
    ids=["uvicorn's default", "the proxy's address"],
)
def test_run_trusts_a_proxy_named_by_forwarded_allow_ips(
    tmp_path: Path, start: StartServer, trusted: str, expected: tuple[str, str]
) -> None:
    """A proxy on another address (here 127.0.0.2) is trusted with X-Forwarded-Proto and
    X-Forwarded-For once ``FORWARDED_ALLOW_IPS`` names it, as the deployment guide says
    (uvicorn's default trusts 127.0.0.1 only)."""
    write_app(tmp_path)
    server = start([MICROPIE, "run", "app:app"], env={"FORWARDED_ALLOW_IPS": trusted})
    headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=10) as client:
        where = client.get(server.url + "/where", headers=headers).json()
    assert (where["url"].split(":", 1)[0], where["client"]) == expected


def test_run_with_reload_serves_the_edited_code(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path, "one")
    server = start([MICROPIE, "run", "app:app", "--reload"])
    assert get_text(server.url + "/") == "one"
    write_app(tmp_path, "two")
    assert wait_until(lambda: _text_or_none(server.url + "/") == "two", 30), server.log()


def test_run_with_debug_shows_the_traceback(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path)
    server = start([MICROPIE, "run", "app:app", "--debug"])
    response = httpx.get(server.url + "/boom", timeout=5)
    assert response.status_code == 500
    assert "ValueError: kaboom" in response.text


def big_head_status(server: UvicornServer) -> int:
    """The status answered to a request with 100 KiB of headers (past the 64 KiB bound)."""
    headers = {f"x-filler-{n}": "a" * 1000 for n in range(100)}
    return httpx.get(server.url + "/", headers=headers, timeout=10).status_code


def test_run_bounds_request_heads_by_default(tmp_path: Path, start: StartServer) -> None:
    """Served without a proxy, a 100 KiB head gets 431 (micropie.head_limit's protocol)."""
    write_app(tmp_path)
    server = start([MICROPIE, "run", "app:app"])
    assert big_head_status(server) == 431
    assert get_text(server.url + "/") == "one"


def test_run_with_uvicorns_own_protocol_takes_any_head(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path)
    server = start([MICROPIE, "run", "app:app", "--http", "httptools"])
    assert big_head_status(server) == 200


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["run", "app"], "'app' is not an import string: write module:attribute"),
        (["run", "app:app", "--workers", "0"], "0 is less than 1"),
        (["run", "app:app", "--reload", "--workers", "2"], "not allowed with argument"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(arguments: list[str], message: str) -> None:
    result = subprocess.run([MICROPIE, *arguments], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("PORT", "eighty", "PORT must be a port number, not 'eighty'"),
        ("WEB_CONCURRENCY", "0", "WEB_CONCURRENCY must be a whole number of at least 1, not '0'"),
    ],
)
def test_a_bad_value_in_the_environment_is_reported(
    tmp_path: Path, name: str, value: str, message: str
) -> None:
    result = subprocess.run(
        [MICROPIE, "run", "app:app"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env={**os.environ, name: value},
    )
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize("command", ["micropie run", "app.run()"])
def test_an_empty_web_concurrency_is_one_process(
    tmp_path: Path, start: StartServer, command: str
) -> None:
    """``WEB_CONCURRENCY=`` (a compose file passing on a variable it was not given) counts
    as unset, as an empty ``PORT`` does: uvicorn's own reading of it failed on ``int('')``
    with a traceback."""
    write_app(tmp_path)
    argv = [MICROPIE, "run", "app:app"] if command == "micropie run" else [sys.executable, "app.py"]
    server = start(argv, env={"WEB_CONCURRENCY": ""})
    assert get_text(server.url + "/") == "one"
    assert "Traceback" not in server.log()


def test_a_missing_module_is_reported(tmp_path: Path) -> None:
    port = str(free_port())
    result = subprocess.run(
        [MICROPIE, "run", "nowhere:app", "--port", port],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert 'Could not import module "nowhere"' in result.stdout + result.stderr


def test_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "micropie", "--version"], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == f"micropie {__version__}"


# -- app.run() ----------------------------------------------------------------------------


def test_app_run_takes_the_port_from_the_environment(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path)
    server = start([sys.executable, "app.py"])
    assert get_text(server.url + "/") == "one"


def test_app_run_takes_the_worker_count_from_web_concurrency(
    tmp_path: Path, start: StartServer
) -> None:
    """``WEB_CONCURRENCY=2 python app.py`` serves two workers (uvicorn refused the app
    object for several workers and exited 3)."""
    write_app(tmp_path)
    server = start([sys.executable, "app.py"], env={"WEB_CONCURRENCY": "2"})
    assert wait_until(lambda: server.log().count("Application startup complete.") == 2, 30)
    assert get_text(server.url + "/") == "one"


def test_app_run_reload_is_one_process_whatever_web_concurrency_says(
    tmp_path: Path, start: StartServer
) -> None:
    write_app(tmp_path, "one", "reload=True")
    server = start([sys.executable, "app.py"], env={"WEB_CONCURRENCY": "3"})
    assert get_text(server.url + "/") == "one"
    assert "ignored" not in server.log(), server.log()


def test_app_run_bounds_request_heads_by_default(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path)
    server = start([sys.executable, "app.py"])
    assert big_head_status(server) == 431
    assert get_text(server.url + "/") == "one"


def test_app_run_reload_reimports_the_script(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path, "one", "reload=True")
    server = start([sys.executable, "app.py"])
    assert get_text(server.url + "/") == "one"
    write_app(tmp_path, "two", "reload=True")
    assert wait_until(lambda: _text_or_none(server.url + "/") == "two", 30), server.log()


LOG_CONFIG = {
    "version": 1,
    "formatters": {"plain": {"format": "%(levelname)s %(name)s: %(message)s"}},
    "handlers": {"out": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["out"], "level": "INFO"},
}


@pytest.mark.parametrize("kind", ["json", "dict"])
def test_app_run_with_a_log_config_keeps_micropies_log(
    tmp_path: Path, start: StartServer, kind: str
) -> None:
    """A dictConfig-style log configuration that does not say
    ``disable_existing_loggers`` (Python's default: true) silenced the ``micropie``
    logger, created when the script imported micropie: a handler's exception left no
    trace at all."""
    import json

    (tmp_path / "log.json").write_text(json.dumps(LOG_CONFIG))
    config = "log.json" if kind == "json" else LOG_CONFIG
    write_app(tmp_path, run_arguments=f"log_config={config!r}")
    server = start([sys.executable, "app.py"])
    assert httpx.get(server.url + "/boom", timeout=5).status_code == 500
    assert wait_until(
        lambda: "ERROR micropie: Handler 'boom' raised on GET /boom" in server.log(), 30
    )
    assert "ValueError: kaboom" in server.log()


def test_keep_existing_loggers_leaves_an_explicit_choice() -> None:
    from micropie.serving import keep_existing_loggers

    assert keep_existing_loggers({"version": 1})["disable_existing_loggers"] is False
    explicit = {"version": 1, "disable_existing_loggers": True}
    assert keep_existing_loggers(explicit) == explicit
    assert keep_existing_loggers("logging.ini") == "logging.ini"  # uvicorn keeps them


def test_app_run_debug_shows_the_traceback(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path, run_arguments="debug=True")
    server = start([sys.executable, "app.py"])
    assert "ValueError: kaboom" in get_text(server.url + "/boom")


def test_app_run_debug_reaches_reloaded_processes(tmp_path: Path, start: StartServer) -> None:
    write_app(tmp_path, run_arguments="reload=True, debug=True")
    server = start([sys.executable, "app.py"])
    assert "ValueError: kaboom" in get_text(server.url + "/boom")


def test_app_run_reload_needs_a_module_level_app(tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            """
            from micropie import App

            def main():
                App().run(reload=True)

            main()
            """
        )
    )
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "it must be a module-level variable" in result.stderr
    assert "micropie run module:app --reload" in result.stderr


def test_import_string_names_the_module_variable() -> None:
    app = object()
    assert import_string(app, {"__name__": "shop.web", "app": app}) == "shop.web:app"
    script = {"__name__": "__main__", "__spec__": None, "__file__": "/srv/site.py", "web": app}
    assert import_string(app, script) == "site:web"
    assert import_string(app, {"__name__": "shop.web", "other": object()}) is None


def _text_or_none(url: str) -> str | None:
    try:
        return get_text(url)
    except httpx.HTTPError:
        return None
