"""Stopping a server (SIGTERM, as systemd, docker and Kubernetes do) while streams,
websockets and requests are open: the worker exits and its shutdown handlers run.

uvicorn alone waits for ever for a response that never ends (an event stream); gunicorn
kills such a worker after ``--graceful-timeout`` without running its handlers. The
launchers micropie documents bound the wait (docs/guides/deployment.md).
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import threading
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support import ROOT, UvicornServer, free_port, start_server, wait_until

pytestmark = pytest.mark.server

APP_SOURCE = """
import asyncio
import os
from pathlib import Path

from micropie import App, EventSourceResponse


class Feed(App):
    async def index(self):
        return "ok"

    async def events(self):
        async def forever():
            while True:
                yield {"data": "tick"}
                await asyncio.sleep(0.5)

        return EventSourceResponse(forever())

    async def slow(self):
        Path("slow-started").write_text("yes")
        while not Path("slow-may-end").exists():
            await asyncio.sleep(0.05)
        return "finished"

    async def ws_echo(self, ws):
        await ws.accept()
        async for message in ws:
            await ws.send_text(message)


app = Feed()
app.shutdown_handlers.append(lambda: Path(f"cleaned-up-{os.getpid()}").write_text("yes"))

if __name__ == "__main__":
    app.run()
"""


def deployment_worker_class() -> str:
    """The gunicorn worker class docs/guides/deployment.md tells readers to write."""
    page = (ROOT / "docs" / "guides" / "deployment.md").read_text()
    (code,) = [block for block in re.findall(r"```python\n(.*?)```", page, re.S)
               if "class Worker(UvicornWorker)" in block]  # fmt: skip
    return code


def open_event_stream(server: UvicornServer) -> list[str]:
    """Read ``/events`` in a thread; the lines read so far."""
    lines: list[str] = []

    def listen() -> None:
        with contextlib.suppress(httpx.HTTPError):
            timeout = httpx.Timeout(5, read=120)
            with httpx.stream("GET", server.url + "/events", timeout=timeout) as response:
                for line in response.iter_lines():
                    lines.append(line)

    threading.Thread(target=listen, daemon=True).start()
    assert wait_until(lambda: "data: tick" in lines, timeout=30)
    return lines


def cleaned_up(directory: Path) -> list[Path]:
    return sorted(directory.glob("cleaned-up-*"))


@pytest.fixture
def app_dir(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text(APP_SOURCE)
    return tmp_path


def start(command: list[str], directory: Path) -> UvicornServer:
    port = free_port()
    command = [part.replace("{port}", str(port)) for part in command]
    return start_server(command, port, env={"PORT": str(port)}, cwd=directory, timeout=60)


@pytest.mark.parametrize(
    "command",
    [[sys.executable, "-m", "micropie", "run", "app:app"], [sys.executable, "app.py"]],
    ids=["micropie run", "app.run()"],
)
def test_stopping_with_an_event_stream_open_runs_the_shutdown_handlers(
    app_dir: Path, command: list[str]
) -> None:
    server = start(command, app_dir)
    try:
        open_event_stream(server)
        server.process.send_signal(signal.SIGTERM)
        server.process.wait(timeout=120)  # GRACEFUL_SHUTDOWN (10 s), on a loaded machine
    finally:
        server.stop()
    assert len(cleaned_up(app_dir)) == 1
    assert "Traceback" not in server.log()


def test_gunicorn_with_the_documented_worker_stops_cleanly(app_dir: Path) -> None:
    """Two workers, each with an event stream open, one with a request in progress and a
    websocket: the request is answered, the websocket closed 1012, and both workers run
    their shutdown handlers before gunicorn's 30 s would have killed them."""
    (app_dir / "workers.py").write_text(deployment_worker_class())
    command = [
        sys.executable, "-m", "gunicorn", "app:app", "-k", "workers.Worker",
        "--workers", "2", "--bind", "127.0.0.1:{port}",
    ]  # fmt: skip
    server = start(command, app_dir)
    server.stop_signal = signal.SIGTERM
    try:
        for _ in range(6):  # new connections: the kernel spreads them over both workers
            open_event_stream(server)
        answers: list[str] = []
        slow = threading.Thread(
            target=lambda: answers.append(httpx.get(server.url + "/slow", timeout=120).text)
        )
        slow.start()
        assert wait_until(lambda: (app_dir / "slow-started").exists(), timeout=30)
        with connect(server.url.replace("http", "ws") + "/echo") as ws:
            ws.send("hi")
            assert ws.recv(timeout=10) == "hi"
            server.process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=60)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
        (app_dir / "slow-may-end").write_text("yes")
        slow.join(timeout=60)
        assert answers == ["finished"]
        server.process.wait(timeout=120)
    finally:
        server.stop()
    assert len(cleaned_up(app_dir)) == 2, server.log()
    assert "Traceback" not in server.log()
