"""Workers started while Redis is down (a deploy racing the Redis container, a Redis
being restarted): ``REDIS_URL=… uvicorn examples.showcase.app:app --workers 3``.

The workers start and serve what needs no Redis; pages using their session answer 503
with Retry-After, a chat message is refused to its sender; once Redis is up, sessions
and the chat room across all three workers work without restarting anything."""

from __future__ import annotations

import contextlib

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support import spread_over_workers, wait_until, worker_pids
from tests.test_operations import _blog_user, _events, _get

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.slow]


@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_workers_started_before_redis_serve_and_recover(uvicorn_server, redis_server):
    redis_server.stop()
    server = uvicorn_server(
        "examples.showcase.app:app",
        workers=3,
        env={"REDIS_URL": redis_server.url},
        args=["--log-level", "info"],
        timeout=60,
    )
    assert wait_until(lambda: server.log().count("Application startup complete") == 3, 60)
    assert len(worker_pids(server)) == 3
    ann = httpx.Cookies()
    for _ in range(6):  # new connections: every worker answers some
        assert _get(server, "/hello/greet/Ann", httpx.Cookies()).text == "Hello, Ann!"
        assert _get(server, "/middleware/subapps/login/ann", ann).status_code == 503
    url = server.url.replace("http://", "ws://") + "/chat/chat"
    with connect(f"{url}?name=early") as ws:
        ws.send("while Redis is down")
        (error,) = _events(ws, "error", 1)
        assert "Not delivered" in error["text"]

    redis_server.start()
    assert wait_until(lambda: server.log().count("Broadcast: connected to Redis at") == 3, 60), (
        server.log()
    )
    login = _get(server, "/middleware/subapps/login/ann", ann, until_served=True)
    assert login.status_code == 200
    for _ in range(6):
        assert _blog_user(server, ann, until_served=True) == (200, "ann")
    with contextlib.ExitStack() as stack:

        def open_chat() -> tuple[ClientConnection, int]:
            ws = stack.enter_context(connect(f"{url}?name=n{len(stack._exit_callbacks)}"))
            _events(ws, "presence", 1)  # its own arrival: subscribed
            return ws, ws.socket.getsockname()[1]

        sockets = spread_over_workers(server, open_chat, 3)
        sockets[0].send("Redis is up")
        for ws in sockets:
            (message,) = _events(ws, "message", 1)
            assert message["text"] == "Redis is up"
    log = server.log()
    assert log.count("Broadcast: cannot reach Redis at") == 3, log
    assert "lost the connection" not in log, log  # it never had one
    assert "Traceback" not in log, log
