"""examples/pastebin through its ``app`` and ``create_app`` on a temporary database."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from examples.pastebin.app import app, create_app

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(tmp_path / "pastes.sqlite3", "test-secret")) as client:
        yield client


def _token(client: TestClient) -> str:
    match = _TOKEN.search(client.get("/").text)
    assert match is not None
    return match.group(1)


def _create(client: TestClient, content: str = "print('hi') <b>", **fields: str) -> str:
    data = {"content": content, "csrf_token": _token(client), **fields}
    response = client.post("/new", data=data, follow_redirects=False)
    assert response.status_code == 302
    location: str = response.headers["location"]
    return location.rsplit("/", 1)[1]


def test_pastebin_module_app_serves_index() -> None:
    with TestClient(app) as client:
        assert "New paste" in client.get("/").text


def test_pastebin_post_without_csrf_token_is_403(client: TestClient) -> None:
    response = client.post("/new", data={"content": "x"})
    assert response.status_code == 403


def test_pastebin_create_view_raw(client: TestClient) -> None:
    slug = _create(client, title="Greeting")
    page = client.get(f"/paste/{slug}")
    assert "Paste created." in page.text
    assert "print(&#39;hi&#39;) &lt;b&gt;" in page.text
    raw = client.get(f"/raw/{slug}")
    assert raw.text == "print('hi') <b>"
    assert raw.headers["content-type"] == "text/plain; charset=utf-8"
    assert "Greeting" in client.get("/").text


def test_pastebin_unlisted_not_in_recent(client: TestClient) -> None:
    slug = _create(client, title="Secret plan", private="yes")
    assert "Secret plan" not in client.get("/").text
    assert "Secret plan" in client.get("/mine").text
    assert client.get(f"/paste/{slug}").status_code == 200


def test_pastebin_only_owner_deletes(client: TestClient) -> None:
    slug = _create(client)
    stranger = TestClient(client.app)
    response = stranger.post(f"/delete/{slug}", data={"csrf_token": _token(stranger)})
    assert response.status_code == 403
    response = client.post(f"/delete/{slug}", data={"csrf_token": _token(client)})
    assert response.status_code == 200
    assert "Paste deleted." in response.text
    assert client.get(f"/paste/{slug}").status_code == 404


def test_pastebin_validation(client: TestClient) -> None:
    token = _token(client)
    assert client.post("/new", data={"content": "  ", "csrf_token": token}).status_code == 400
    too_long = {"content": "x" * 100_001, "csrf_token": token}
    assert client.post("/new", data=too_long).status_code == 413
    assert client.get("/new").status_code == 405
    assert client.get("/paste/nope").status_code == 404


def test_pastebin_persists_across_restarts(tmp_path: Path) -> None:
    db = tmp_path / "p.sqlite3"
    with TestClient(create_app(db, "k")) as client:
        slug = _create(client, content="kept")
    with TestClient(create_app(db, "k")) as client:
        assert client.get(f"/raw/{slug}").text == "kept"
