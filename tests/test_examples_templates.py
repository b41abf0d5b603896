"""examples/templates through its ``app``."""

from __future__ import annotations

import pytest

from examples.templates.app import app
from tests.conftest import ClientFactory


def test_templates_index_lists_books(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert "<title>Books · micropie</title>" in response.text
    assert response.text.count("<li>") == 3


def test_templates_filter(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/?tag=meat")
    assert response.text.count("<li>") == 1
    assert "Savoury Pies" in response.text


def test_templates_autoescape(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/hello", params={"name": "<script>alert(1)</script>"})
    assert "Hello, &lt;script&gt;alert(1)&lt;/script&gt;!" in response.text


def test_templates_dir_is_independent_of_cwd(
    client_factory: ClientFactory, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert client_factory(app).get("/hello").status_code == 200
