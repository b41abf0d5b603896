"""Redis over TLS (``rediss://``), as docs/guides/redis-sessions.md says to connect: a
real ``redis-server`` serving TLS only, with a CA made for the test, behind a real
``uvicorn --workers 2`` for sessions and for the chat's broadcast."""

from __future__ import annotations

import contextlib
import json

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support import count_on_every_worker, spread_over_workers

pytestmark = [pytest.mark.server, pytest.mark.redis]


def test_sessions_over_tls_follow_the_visitor_across_workers(uvicorn_server, tls_redis_server):
    env = {
        "MICROPIE_TEST_SESSION_BACKEND": "redis",
        "MICROPIE_TEST_REDIS_URL": tls_redis_server.url,
    }
    server = uvicorn_server("tests.apps.session_counter:app", workers=2, env=env, timeout=60)
    count_on_every_worker(server)
    assert "Traceback" not in server.log(), server.log()


def test_chat_over_tls_reaches_every_worker(uvicorn_server, tls_redis_server):
    server = uvicorn_server(
        "examples.chat.app:app", workers=2, env={"REDIS_URL": tls_redis_server.url}, timeout=60
    )
    url = server.url.replace("http://", "ws://") + "/chat"
    with contextlib.ExitStack() as stack:

        def open_client() -> tuple[ClientConnection, int]:
            name = f"c{len(stack._exit_callbacks)}"
            ws = stack.enter_context(connect(f"{url}?name={name}"))
            joined = {"type": "presence", "name": name, "joined": True}
            while json.loads(ws.recv(timeout=30)) != joined:  # it receives from now on
                continue
            return ws, ws.socket.getsockname()[1]

        clients = spread_over_workers(server, open_client, 2)  # on both workers
        for n, ws in enumerate(clients):
            ws.send(f"hello {n}")
        expected = sorted(f"hello {n}" for n in range(len(clients)))
        for ws in clients:
            texts: list[str] = []
            while len(texts) < len(clients):
                event = json.loads(ws.recv(timeout=30))
                if event["type"] == "message":
                    texts.append(event["text"])
            assert sorted(texts) == expected
    assert "Traceback" not in server.log(), server.log()


def test_a_server_certificate_the_client_cannot_verify_is_a_503_and_one_line(
    tls_redis_server, caplog
):
    """Without the CA in the URL, redis-py refuses the self-signed server: requests that
    use their session answer 503 and the failure is logged once, naming the cause."""
    from starlette.testclient import TestClient

    from micropie import App, RedisSessionBackend

    class Counter(App):
        async def index(self):
            self.request.session["n"] = 1
            return "stored"

        async def plain(self):
            return "no session"

    url = tls_redis_server.url.partition("?")[0]  # rediss:// without ssl_ca_certs
    sessions = RedisSessionBackend(url)
    app = Counter(sessions)
    app.shutdown_handlers.append(sessions.aclose)
    with TestClient(app) as client:
        assert [client.get("/").status_code for _ in range(3)] == [503, 503, 503]
        assert client.get("/plain").text == "no session"
    lines = [r.getMessage() for r in caplog.records if "session store" in r.getMessage()]
    assert len(lines) == 1 and "CERTIFICATE_VERIFY_FAILED" in lines[0], lines
