"""examples/static_files through its ``app``."""

from __future__ import annotations

from examples.static_files.app import app
from tests.conftest import ClientFactory


def test_static_files_page_links_assets(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/")
    assert response.status_code == 200
    assert 'href="/static/style.css"' in response.text


def test_static_files_served(client_factory: ClientFactory) -> None:
    client = client_factory(app)
    css = client.get("/static/style.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert "etag" in css.headers
    cached = client.get("/static/style.css", headers={"if-none-match": css.headers["etag"]})
    assert cached.status_code == 304


def test_static_files_download(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/download")
    assert response.headers["content-disposition"] == 'attachment; filename="hello.txt"'
    assert response.text.startswith("Hello from a static file")


def test_static_files_missing_and_traversal(client_factory: ClientFactory) -> None:
    client = client_factory(app)
    assert client.get("/static/missing.css").status_code == 404
    assert client.get("/static/../app.py").status_code == 404
