"""examples/showcase (what ``make run`` serves) through its ``app`` and a real uvicorn."""

from __future__ import annotations

import contextlib
import html
import http.client
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


# -- several workers, sessions and chat through Redis ----------------------------------------


@pytest.mark.server
@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_showcase_on_two_workers_with_redis(uvicorn_server, redis_url) -> None:
    """``REDIS_URL=… uvicorn examples.showcase.app:app --workers 2``: a visitor's session
    (a counter, a paste created through a CSRF-checked form) is the same on every
    worker, and chat messages reach a websocket on each worker."""
    from tests.support import spread_over_workers

    env = {"REDIS_URL": redis_url, "PASTEBIN_SECRET": "one secret for every worker"}
    server = uvicorn_server("examples.showcase.app:app", workers=2, env=env, timeout=60)

    def open_connection() -> tuple[http.client.HTTPConnection, int]:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        connection.request("GET", "/hello/")  # answered: a worker has accepted it
        connection.getresponse().read()
        assert connection.sock is not None
        return connection, connection.sock.getsockname()[1]

    connections = spread_over_workers(server, open_connection, 2)
    try:
        _visit_every_worker(server, connections)
    finally:
        for connection in connections:
            connection.close()
    _chat_on_every_worker(server)
    assert "Traceback" not in server.log(), server.log()


def _visit_every_worker(server, connections) -> None:
    cookie = ""

    def get(connection: http.client.HTTPConnection, path: str, **options) -> tuple[int, str]:
        nonlocal cookie
        headers = {**options.pop("headers", {}), **({"Cookie": cookie} if cookie else {})}
        connection.request(options.pop("method", "GET"), path, headers=headers, **options)
        response = connection.getresponse()
        text = response.read().decode()
        if response.getheader("set-cookie"):
            cookie = response.getheader("set-cookie").split(";")[0]
        return response.status, text

    for visit, connection in enumerate(connections * 2, start=1):
        assert get(connection, "/wsgi/visits") == (200, f"You have been here {visit} time(s).")
    status, form = get(connections[0], "/pastebin/")
    token = _csrf_token(form)
    body = f"content=shared&csrf_token={token}"
    form_type = {"Content-Type": "application/x-www-form-urlencoded"}
    status, _ = get(connections[-1], "/pastebin/new", method="POST", body=body, headers=form_type)
    assert status == 302  # the token made by one worker is accepted by the other
    for connection in connections:
        status, mine = get(connection, "/pastebin/mine")
        assert status == 200 and "/pastebin/paste/" in mine


def _chat_on_every_worker(server) -> None:
    import json

    from websockets.sync.client import connect

    from tests.support import spread_over_workers

    url = server.url.replace("http://", "ws://") + "/chat/chat"
    with contextlib.ExitStack() as stack:

        def open_chat():
            ws = stack.enter_context(connect(f"{url}?name=n{len(stack._exit_callbacks)}"))
            return ws, ws.socket.getsockname()[1]

        sockets = spread_over_workers(server, open_chat, 2)
        sockets[0].send("hello from one worker")
        for ws in sockets:
            while (event := json.loads(ws.recv(timeout=30)))["type"] != "message":
                continue
            assert event["text"] == "hello from one worker"


def test_showcase_answers_the_favicon_browsers_ask_for() -> None:
    """Without it every first visit logged a 404 in the browser console and server log."""
    with TestClient(app) as client:
        icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/svg+xml"
    assert icon.content.startswith(b"<svg")


def test_the_json_apis_index_links_stay_under_its_mount() -> None:
    """It answered ``/todos``, ``/docs`` … under ``/json`` too: each a 404 at the root."""
    with TestClient(app) as client:
        links = client.get("/json/").json()
        assert links == {
            "todos": "/json/todos",
            "openapi": "/json/openapi.json",
            "docs": "/json/docs",
        }
        assert all(client.get(link).status_code == 200 for link in links.values())
