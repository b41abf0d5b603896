"""Running micropie as an operator does: the documented logging set-up under real
servers, and the showcase on two workers while its Redis stops and comes back empty."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support import (
    ROOT,
    UvicornServer,
    free_port,
    spread_over_workers,
    start_server,
    wait_until,
)

pytestmark = pytest.mark.server

DEPLOYMENT = ROOT / "docs" / "guides" / "deployment.md"


def _deployment_block(marker: str) -> str:
    """The ``python`` block of the deployment guide containing ``marker``."""
    blocks = re.findall(r"```python\n(.*?)```", DEPLOYMENT.read_text(), re.S)
    (code,) = [block for block in blocks if marker in block]
    return code


# -- logging, as docs/guides/deployment.md sets it up ------------------------------------------

_LOGGED_ERROR = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} \[(\d+)\] "
    r"ERROR micropie: Handler 'boom' raised on GET /boom\n"
    r"Traceback \(most recent call last\):\n"
    r'  File ".*app\.py", line 16, in boom\n'
    r'    raise RuntimeError\("boom"\)\n'
    r"RuntimeError: boom$",
    re.M,
)

SERVERS = {
    "uvicorn --workers 2": [
        sys.executable, "-m", "uvicorn", "app:app", "--port", "{port}", "--workers", "2",
    ],
    "micropie run": [sys.executable, "-m", "micropie", "run", "app:app", "--port", "{port}"],
    "gunicorn": [
        sys.executable, "-m", "gunicorn", "app:app", "-k", "workers.Worker",
        "--workers", "2", "--bind", "127.0.0.1:{port}", "--access-logfile", "-",
    ],
}  # fmt: skip


@pytest.mark.parametrize("server", SERVERS)
def test_the_documented_logging_set_up_times_and_levels_every_error(server, tmp_path):
    """With the guide's ``logging.basicConfig``, a handler's exception is one ``ERROR``
    line with time and worker pid, then its traceback from the handler down (the line
    numbers the guide shows), next to the server's own access log."""
    (tmp_path / "app.py").write_text(_deployment_block("logging.basicConfig"))
    (tmp_path / "workers.py").write_text(_deployment_block("class Worker(UvicornWorker)"))
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in SERVERS[server]]
    running = start_server(command, port, cwd=tmp_path, timeout=60, stop_signal=signal.SIGTERM)
    try:
        for _ in range(4):  # new connections: both workers answer some
            assert httpx.get(running.url + "/boom", timeout=30).status_code == 500
        assert wait_until(lambda: len(_LOGGED_ERROR.findall(running.log())) == 4, timeout=30)
    finally:
        running.stop()
    log = running.log()
    assert "GET /boom HTTP/1.1" in log and "500" in log  # the access log is still there
    assert log.count("Traceback") == 4, log  # nothing else went wrong


# -- the showcase on two workers: Redis stops, and restarts empty ------------------------------


def _get(
    server: UvicornServer, path: str, cookies: httpx.Cookies, *, until_served: bool = False
) -> httpx.Response:
    """``GET path`` on a new connection (the kernel picks the worker), keeping cookies.

    ``until_served``: again while the answer is 503 (for a second after its last failure
    a worker answers 503 without asking the store: each worker has its own second).
    """
    deadline = time.monotonic() + 30
    while True:
        with httpx.Client(base_url=server.url, cookies=cookies, timeout=30) as client:
            response = client.get(path)
            cookies.update(client.cookies)
        if not until_served or response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


def _blog_user(
    server: UvicornServer, cookies: httpx.Cookies, *, until_served: bool = False
) -> tuple[int, str | None]:
    response = _get(server, "/middleware/subapps/blog", cookies, until_served=until_served)
    if response.status_code != 200:
        return response.status_code, response.headers.get("retry-after")
    return 200, response.json()["user"]


def _events(ws: ClientConnection, kind: str, count: int) -> list[dict]:
    """The next ``count`` events of type ``kind`` (others skipped)."""
    found: list[dict] = []
    while len(found) < count:
        event = json.loads(ws.recv(timeout=60))
        if event["type"] == kind:
            found.append(event)
    return found


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_showcase_through_a_redis_outage_and_an_empty_restart(uvicorn_server, redis_server):
    """``REDIS_URL=… uvicorn examples.showcase.app:app --workers 2``, Redis without
    persistence. While it is down: a page using the session answers 503 with Retry-After
    (nobody is logged out or mixed up), other pages are served, a chat message is refused
    to its sender. Back but empty: every session is gone (visitors start anonymous, never
    as someone else), the chat room works again on both workers, and each worker logged
    the outage once for the broadcast (the showcase runs two) and once for the sessions."""
    server = uvicorn_server(
        "examples.showcase.app:app", workers=2, env={"REDIS_URL": redis_server.url}, timeout=60
    )
    visitors = {name: httpx.Cookies() for name in ("ann", "bob")}
    for name, cookies in visitors.items():
        assert _get(server, f"/middleware/subapps/login/{name}", cookies).status_code == 200
        for _ in range(4):
            assert _blog_user(server, cookies) == (200, name)
    old_ids = {name: cookies["session_id"] for name, cookies in visitors.items()}
    url = server.url.replace("http://", "ws://") + "/chat/chat"
    with contextlib.ExitStack() as stack:

        def open_chat() -> tuple[ClientConnection, int]:
            ws = stack.enter_context(connect(f"{url}?name=n{len(stack._exit_callbacks)}"))
            _events(ws, "presence", 1)  # its own arrival: subscribed
            return ws, ws.socket.getsockname()[1]

        sockets = spread_over_workers(server, open_chat, 2)

        redis_server.stop()
        sockets[0].send("while Redis is down")
        (error,) = _events(sockets[0], "error", 1)
        assert "Not delivered" in error["text"]
        for cookies in visitors.values():
            assert _blog_user(server, cookies) == (503, "1")
        assert _get(server, "/hello/greet/Ann", httpx.Cookies()).text == "Hello, Ann!"
        assert _get(server, "/hello/greet/Ann", visitors["ann"]).status_code == 200

        redis_server.start()  # empty: it kept nothing
        assert wait_until(lambda: server.log().count("reconnected to Redis at") == 2, 60)
        sockets[-1].send("after the restart")
        for ws in sockets:
            (message,) = _events(ws, "message", 1)
            assert message["text"] == "after the restart"

    for name, cookies in visitors.items():
        # gone, never someone else's
        assert _blog_user(server, cookies, until_served=True) == (200, "stranger")
        login = _get(server, f"/middleware/subapps/login/{name}", cookies, until_served=True)
        assert login.status_code == 200
        assert cookies["session_id"] != old_ids[name]  # a fresh id, the old one not adopted
        assert _blog_user(server, cookies, until_served=True) == (200, name)
    log = server.log()
    address = f"127.0.0.1:{redis_server.port}"
    assert log.count(f"Broadcast: lost the connection to Redis at {address}") == 2, log
    assert log.count(f"Broadcast: reconnected to Redis at {address}") == 2, log
    assert 1 <= log.count("The session store is unavailable") <= 2, log
    assert "Traceback" not in log, log


def test_every_page_and_example_spells_redis_url_alike() -> None:
    """Every page and example spells the variable ``REDIS_URL``."""
    spellings: set[str] = set()
    for path in [*ROOT.glob("docs/**/*.md"), *ROOT.glob("examples/**/*.py"), ROOT / "README.md"]:
        spellings.update(re.findall(r"\bREDIS_[A-Z_]+\b", Path(path).read_text()))
    assert spellings == {"REDIS_URL"}


# -- Redis URLs with credentials, as docs/guides/redis-sessions.md writes them ------------------


@pytest.fixture
def locked_redis(redis_server):
    """The test's redis-server once it requires a password (``s3cret``) and has an ACL
    user ``app`` (password ``app pw``) limited to session keys and the chat channel,
    without scripting (as managed Redis services often are)."""
    import redis

    with redis.Redis.from_url(redis_server.url) as admin:
        admin.acl_setuser(
            "app", enabled=True, passwords=["+app pw"], keys=["micropie:session:*"],
            channels=["chat"],
            commands=["+@read", "+@write", "+@pubsub", "+@connection", "+@transaction"],
        )  # fmt: skip
        admin.config_set("requirepass", "s3cret")
    return redis_server


@pytest.mark.redis
@pytest.mark.parametrize(
    "credentials",
    [":s3cret@", "default:s3cret@", "app:app%20pw@"],
    ids=["password", "default", "acl"],
)
def test_redis_urls_with_credentials_serve_sessions_and_broadcasts(locked_redis, credentials):
    import asyncio

    from starlette.testclient import TestClient

    from micropie import App, Broadcast, RedisSessionBackend

    url = f"redis://{credentials}127.0.0.1:{locked_redis.port}/0"

    class Counter(App):
        async def index(self):
            count = self.request.session["n"] = self.request.session.get("n", 0) + 1
            return str(count)

    sessions = RedisSessionBackend(url)
    app = Counter(sessions)
    app.shutdown_handlers.append(sessions.aclose)
    with TestClient(app) as client:
        assert [client.get("/").text for _ in range(3)] == ["1", "2", "3"]

    async def chat() -> object:
        async with Broadcast(url) as broadcast, broadcast.subscribe("chat") as subscriber:
            await broadcast.publish("chat", {"text": "hi"})
            return await asyncio.wait_for(subscriber.__anext__(), 30)

    assert asyncio.run(chat()) == {"text": "hi"}


@pytest.mark.redis
def test_a_wrong_redis_password_is_a_503_and_one_logged_line(locked_redis, caplog):
    from starlette.testclient import TestClient

    from micropie import App, RedisSessionBackend

    class Counter(App):
        async def index(self):
            self.request.session["n"] = 1
            return "stored"

    sessions = RedisSessionBackend(f"redis://app:wrong@127.0.0.1:{locked_redis.port}/0")
    app = Counter(sessions)
    app.shutdown_handlers.append(sessions.aclose)
    with TestClient(app) as client:
        answers = [client.get("/") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [503, 503, 503]
    lines = [r.getMessage() for r in caplog.records if "session store" in r.getMessage()]
    assert len(lines) == 1 and "AuthenticationError" in lines[0], lines


# -- health checks (docs/guides/deployment.md) ---------------------------------------------------


@pytest.mark.redis
def test_the_documented_health_checks_follow_redis(redis_server, monkeypatch):
    """``/livez`` answers whatever Redis does; ``/readyz`` answers 503 while Redis is down
    and 200 once sessions and the broadcast are back."""
    from starlette.testclient import TestClient

    monkeypatch.setenv("REDIS_URL", redis_server.url)
    namespace: dict[str, object] = {"__name__": "health_checks"}
    exec(compile(_deployment_block("async def readyz"), "health_checks.py", "exec"), namespace)
    broadcast = namespace["broadcast"]
    with TestClient(namespace["app"]) as client:
        assert wait_until(lambda: broadcast.connected, timeout=30)
        assert client.get("/readyz").text == "ok"
        redis_server.stop()
        assert client.get("/livez").text == "ok"
        ready = client.get("/readyz")
        assert (ready.status_code, ready.text) == (503, "session store unavailable")
        redis_server.start()
        assert wait_until(lambda: client.get("/readyz").status_code == 200, timeout=30)
        assert client.get("/livez").text == "ok"


# -- behind a proxy: --root-path, --proxy-headers and url_for --------------------------------------


@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_urls_behind_a_proxy_take_its_scheme_prefix_and_host(uvicorn_server):
    """uvicorn ``--proxy-headers --root-path /shop`` behind a proxy that strips ``/shop``:
    ``url_for`` builds the public URL from ``X-Forwarded-Proto``, the root path and the
    ``Host`` header (uvicorn ignores ``X-Forwarded-Host``, as the deployment guide says)."""
    args = ["--proxy-headers", "--forwarded-allow-ips", "127.0.0.1", "--root-path", "/shop"]
    server = uvicorn_server("examples.monitoring.app:app", args=args)
    headers = {
        "Host": "shop.example",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Host": "elsewhere.example",
    }
    links = httpx.get(server.url + "/", headers=headers, timeout=30).json()
    assert links["item"] == "https://shop.example/shop/items/1"
    assert links["search"] == "https://shop.example/shop/search/pie"
    assert httpx.get(server.url + "/items/1", headers=headers, timeout=30).status_code == 200
