"""examples/showcase (what ``make run`` serves) through its ``app`` and a real uvicorn."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

import httpx
import pytest
from starlette.testclient import TestClient

from examples.showcase.app import DEMOS, app
from tests.support import UvicornServer

_HREF = re.compile(r'href="([^"]+)"')


def test_showcase_links_every_loaded_demo() -> None:
    with TestClient(app) as client:
        page = client.get("/")
        assert page.status_code == 200
        links = [html.unescape(href) for href in _HREF.findall(page.text)]
        assert {"/hello/", "/routing/add/2/3", "/pastebin/", "/chat/"} <= set(links)
        for link in links:
            assert client.get(link).status_code < 500, link


def test_showcase_mounts_every_demo() -> None:
    required = {f"/{demo.path}/" for demo in DEMOS}
    with TestClient(app) as client:
        text = client.get("/").text
    assert all(f'href="{path}' in text for path in required)


def test_showcase_runs_mounted_lifespan_hooks() -> None:
    with TestClient(app) as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/pastebin/").text)
        assert token is not None
        data = {"content": "from the showcase", "csrf_token": token.group(1)}
        response = client.post("/pastebin/new", data=data, follow_redirects=False)
        assert response.status_code == 302
        assert response.headers["location"].startswith("/pastebin/paste/")
        assert client.post("/lifespan/add", data={"text": "note"}).status_code == 201


def test_showcase_redirects_stay_under_the_mount() -> None:
    with TestClient(app) as client:
        response = client.get("/routing/old_page", follow_redirects=False)
    assert response.headers["location"] == "/routing/add/1/2"


@pytest.mark.server
def test_showcase_under_uvicorn(uvicorn_server: Callable[..., UvicornServer]) -> None:
    server = uvicorn_server("examples.showcase.app:app")
    response = httpx.get(server.url + "/")
    assert response.status_code == 200
    assert "micropie showcase" in response.text
    assert httpx.get(server.url + "/lifespan/").status_code == 200
