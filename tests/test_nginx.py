"""The deployment guide's nginx configuration, run as written in front of a real uvicorn
(``--workers 2 --proxy-headers``), at the root and under a path prefix (``--root-path``).

Through nginx: the visitor's address and the public URLs reach the app, websockets are
upgraded, an event's first message arrives before the next is sent (not buffered), and
an upload larger than nginx's own 1 MB default streams to the app, and a body past the
largest limit is refused with 413. Skipped where nginx is not installed (``.ci/run`` installs it).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.support import ROOT, UvicornServer, free_port, start_server, wait_until

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed"),
]

APP_SOURCE = """
import asyncio
import hashlib
from pathlib import Path

from micropie import App, EventSourceResponse, UploadedFile, limits, methods


class Site(App):
    async def index(self):
        return f"{self.request.client.host} {self.request.url_for('page', slug='pie')}"

    async def page(self, slug):
        return slug

    async def old(self):
        return self._redirect(str(self.request.url_for("page", slug="moved")))

    async def events(self):
        async def two():
            yield {"data": "first"}
            while not Path("release").exists():
                await asyncio.sleep(0.05)
            yield {"data": "second"}

        return EventSourceResponse(two())

    @methods("POST")
    @limits(max_body_size=8 * 2**20)
    async def upload(self, file: UploadedFile):
        digest = hashlib.sha256()
        async for chunk in file:
            digest.update(chunk)
        return f"{file.size} {digest.hexdigest()}"

    async def ws_echo(self, ws):
        await ws.accept()
        async for message in ws:
            await ws.send_text(message)


app = Site()
"""


def guide_configuration() -> str:
    """The ``nginx`` block of docs/guides/deployment.md."""
    page = (ROOT / "docs" / "guides" / "deployment.md").read_text()
    (block,) = re.findall(r"```nginx\n(.*?)```", page, re.S)
    return block


def nginx_conf(directory: Path, site: str) -> str:
    """A whole nginx.conf around ``site`` (what conf.d/ holds), with every path in ``directory``."""
    temp = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    user = "user root;\n" if os.geteuid() == 0 else ""  # workers must reach directory
    return (
        f"{user}daemon off;\nworker_processes 1;\npid {directory / 'nginx.pid'};\n"
        f"error_log {directory / 'error.log'};\nevents {{ worker_connections 256; }}\n"
        f"http {{\n    access_log off;\n{temp}\n{site}\n}}\n"
    )


SERVERS = {
    "uvicorn": [
        sys.executable, "-m", "uvicorn", "app:app", "--host", "127.0.0.1", "--port", "{port}",
        "--workers", "2", "--proxy-headers", "--timeout-graceful-shutdown", "10",
    ],
    "micropie run": [
        sys.executable, "-m", "micropie", "run", "app:app", "--port", "{port}", "--workers", "2",
    ],
}  # fmt: skip


@pytest.fixture(
    params=[("uvicorn", "/"), ("uvicorn", "/myapp/"), ("micropie run", "/myapp/")],
    ids=["uvicorn at the root", "uvicorn under /myapp", "micropie run under /myapp"],
)
def proxied(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """The app on uvicorn behind the guide's nginx: (its public base URL, its directory)."""
    server_kind, prefix = request.param
    (tmp_path / "app.py").write_text(APP_SOURCE)
    app_port, nginx_port = free_port(), free_port()
    site = guide_configuration()
    site = site.replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{app_port};")
    site = site.replace("listen 80;", f"listen 127.0.0.1:{nginx_port};")
    site = site.replace("server_name example.com;", "server_name localhost;")
    # the largest body a route accepts, as the guide says: Site.upload's 8 MiB
    site = site.replace("client_max_body_size 1g;", "client_max_body_size 8m;")
    root_path: list[str] = []
    if prefix != "/":  # as the guide says for a prefix
        site = site.replace("location / {", f"location {prefix} {{")
        site = site.replace("proxy_pass http://myapp;", "proxy_pass http://myapp/;")
        root_path = ["--root-path", prefix.rstrip("/")]
    (tmp_path / "nginx.conf").write_text(nginx_conf(tmp_path, site))
    command = [part.replace("{port}", str(app_port)) for part in SERVERS[server_kind]]
    command += root_path
    server = start_server(command, app_port, cwd=tmp_path, timeout=60)
    nginx: UvicornServer | None = None
    try:
        nginx_command = ["nginx", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)]
        nginx = start_server(nginx_command, nginx_port, cwd=tmp_path, timeout=60, probe=prefix)
        yield f"http://127.0.0.1:{nginx_port}{prefix}", tmp_path
    finally:
        if nginx is not None:
            nginx.stop_signal = 3  # SIGQUIT: nginx's graceful stop
            nginx.stop()
        server.stop()


def test_addresses_and_urls_are_the_public_ones(proxied: tuple[str, Path]) -> None:
    base, _ = proxied
    # a visitor on 127.0.0.2: the app sees it, not nginx's 127.0.0.1
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(transport=transport, timeout=30) as client:
        client_host, link = client.get(base).text.split()
    assert client_host == "127.0.0.2"
    assert link == base + "page/pie"
    assert httpx.get(link, timeout=30).text == "pie"
    moved = httpx.get(base + "old", timeout=30)
    assert moved.status_code == 302
    assert moved.headers["location"] == base + "page/moved"


def test_websockets_are_upgraded(proxied: tuple[str, Path]) -> None:
    base, _ = proxied
    with connect(base.replace("http://", "ws://") + "echo", open_timeout=30) as ws:
        ws.send("through nginx")
        assert ws.recv(timeout=30) == "through nginx"


def test_an_event_passes_before_the_next_is_sent(proxied: tuple[str, Path]) -> None:
    base, directory = proxied
    data: list[str] = []

    def listen() -> None:
        with httpx.stream("GET", base + "events", timeout=httpx.Timeout(30, read=120)) as r:
            data.extend(line for line in r.iter_lines() if line.startswith("data:"))

    reader = threading.Thread(target=listen, daemon=True)
    reader.start()
    # buffered by nginx, "first" would wait for the end of the stream, which never comes
    assert wait_until(lambda: data == ["data: first"], timeout=60)
    (directory / "release").write_text("yes")
    reader.join(timeout=60)
    assert data == ["data: first", "data: second"]


def test_uploads_over_a_megabyte_reach_the_app_and_larger_ones_are_refused(
    proxied: tuple[str, Path],
) -> None:
    base, _ = proxied
    content = os.urandom(3 * 2**20)
    files = {"file": ("big.bin", content, "application/octet-stream")}
    answer = httpx.post(base + "upload", files=files, timeout=60)
    assert answer.status_code == 200
    assert answer.text == f"{len(content)} {hashlib.sha256(content).hexdigest()}"
    too_big = {"file": ("huge.bin", b"x" * (9 * 2**20), "application/octet-stream")}
    refused = httpx.post(base + "upload", files=too_big, timeout=60)
    # nginx's own 413: one from the app, which closes without reading the rest, may
    # reach the client as nginx's 502 (the guide says so)
    assert refused.status_code == 413


def test_nginx_is_installed_where_ci_runs() -> None:
    assert "nginx" in (ROOT / ".ci" / "run").read_text()
