"""Operators' set-ups sharing one Redis: two "machines" (two uvicorn servers on their own
ports, as behind a round-robin load balancer with no sticky sessions) and gunicorn with
uvicorn workers (docs/guides/scaling-out.md, docs/guides/deployment.md)."""

from __future__ import annotations

import contextlib
import json

import httpx
import pytest

pytestmark = [
    pytest.mark.server,
    pytest.mark.redis,
    pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning"),  # the servers' logs
]


def test_a_session_follows_the_visitor_from_machine_to_machine(uvicorn_server, redis_url):
    env = {"MICROPIE_TEST_SESSION_BACKEND": "redis", "MICROPIE_TEST_REDIS_URL": redis_url}
    machines = [uvicorn_server("tests.apps.session_counter:app", env=env) for _ in range(2)]
    cookies = httpx.Cookies()
    for visit in range(1, 11):  # round robin
        machine = machines[visit % 2]
        response = httpx.get(machine.url + "/count", cookies=cookies, timeout=30)
        cookies.update(response.cookies)
        count, pid = response.text.split()
        assert (count, int(pid)) == (str(visit), machine.pid)
    for machine in machines:
        assert "Traceback" not in machine.log(), machine.log()


def test_chat_messages_reach_the_other_machine(uvicorn_server, redis_url):
    from websockets.sync.client import connect

    machines = [
        uvicorn_server("examples.chat.app:app", env={"REDIS_URL": redis_url}) for _ in range(2)
    ]
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(connect(machine.url.replace("http", "ws") + f"/chat?name=m{n}"))
            for n, machine in enumerate(machines)
        ]
        for n, ws in enumerate(sockets):  # its own "joined" event: it receives from now on
            while json.loads(ws.recv(timeout=30)) != {
                "type": "presence",
                "name": f"m{n}",
                "joined": True,
            }:
                continue
        for n, ws in enumerate(sockets):
            ws.send(f"hello from machine {n}")
        for ws in sockets:
            texts = []
            while len(texts) < 2:
                event = json.loads(ws.recv(timeout=30))
                if event["type"] == "message":
                    texts.append(event["text"])
            assert sorted(texts) == ["hello from machine 0", "hello from machine 1"]
    for machine in machines:
        assert "Traceback" not in machine.log(), machine.log()


def test_gunicorn_with_uvicorn_workers_shares_sessions(redis_url):
    """``gunicorn app:app -k uvicorn_worker.UvicornWorker --workers 2`` as the deployment
    guide says: a visitor's session is found by both workers; SIGTERM stops it cleanly."""
    import signal
    import sys

    from tests.support import count_on_every_worker, free_port, start_server

    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "tests.apps.session_counter:app",
        "-k", "uvicorn_worker.UvicornWorker", "--workers", "2", "--bind", f"127.0.0.1:{port}",
    ]  # fmt: skip
    env = {"MICROPIE_TEST_SESSION_BACKEND": "redis", "MICROPIE_TEST_REDIS_URL": redis_url}
    server = start_server(command, port, env=env, stop_signal=signal.SIGTERM, timeout=60)
    try:
        count_on_every_worker(server)
    finally:
        server.stop()
    log = server.log()
    assert "Traceback" not in log and "ERROR" not in log, log
    assert log.count("Application shutdown complete") == 2, log
