"""examples/showcase (what ``make run`` serves) through its ``app`` and a real uvicorn."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import urljoin, urlsplit

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


_TARGET = re.compile(r"""(?:href|src|action)=["']([^"']*)["']""")


def _mount_of(path: str) -> str | None:
    mounts = sorted((f"/{demo.path}" for demo in DEMOS), key=len, reverse=True)
    return next((m for m in mounts if path == m or path.startswith(m + "/")), None)


def test_every_link_and_form_stays_under_its_demo() -> None:
    with TestClient(app) as client:
        index = client.get("/").text
        pages = [html.unescape(href) for href in _HREF.findall(index)]
        for page in pages:
            response = client.get(page)
            if not response.headers["content-type"].startswith("text/html"):
                continue
            for target in _TARGET.findall(response.text):
                path = urlsplit(urljoin(f"http://testserver{page}", html.unescape(target))).path
                assert _mount_of(path) == _mount_of(page), (page, target)
                if "{" not in target:
                    assert client.get(path).status_code != 404, (page, target)


def _csrf_token(page: str) -> str:
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    return token.group(1)


def test_demos_share_one_session_store() -> None:
    """A paste stays in "My pastes" after the CSRF and shop demos used the session."""
    with TestClient(app) as client:
        data = {"content": "shared", "csrf_token": _csrf_token(client.get("/pastebin/").text)}
        paste = client.post("/pastebin/new", data=data, follow_redirects=False)
        location = paste.headers["location"]
        signed = {"message": "hi", "csrf_token": _csrf_token(client.get("/middleware/csrf/").text)}
        response = client.post("/middleware/csrf/sign", data=signed, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/middleware/csrf/")
        client.post("/starlette/shop/buy/2")
        assert client.get("/starlette/shop/cart").json()["cart"] == ["Cherry pie"]
        assert location in client.get("/pastebin/mine").text
        assert len(client.cookies.jar) == 1  # one session_id cookie for every demo
