"""The suite keeps the examples' data in a temporary directory (tests/conftest.py), so
``make test`` leaves the pastes, notes and uploads of ``make run`` alone."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

from starlette.testclient import TestClient

from examples.lifespan import app as lifespan
from examples.pastebin import app as pastebin
from examples.uploads import app as uploads
from tests.conftest import EXAMPLE_DATA
from tests.test_examples_pastebin import _create


def _column(database: str, query: str, *args: str) -> list[str]:
    with closing(sqlite3.connect(database)) as db:
        return [row[0] for row in db.execute(query, args)]


def _stamp(path: Path) -> tuple[int, int] | None:
    return (path.stat().st_mtime_ns, path.stat().st_size) if path.exists() else None


def test_data_paths_are_in_one_temporary_directory() -> None:
    paths = {Path(os.environ[name]) for name in EXAMPLE_DATA}
    (directory,) = {path.parent for path in paths}
    assert directory.name.startswith("micropie-tests-")
    assert Path(lifespan.DEFAULT_DB) not in paths
    assert Path(pastebin.DEFAULT_DB) not in paths


def test_pastebin_module_app_writes_to_the_tests_database() -> None:
    real = _stamp(pastebin.DEFAULT_DB)
    with TestClient(pastebin.app) as client:
        slug = _create(client, content="kept in the tests' database")
    query = "SELECT content FROM pastes WHERE slug = ?"
    assert _column(os.environ["PASTEBIN_DB"], query, slug) == ["kept in the tests' database"]
    assert _stamp(pastebin.DEFAULT_DB) == real


def test_lifespan_module_app_writes_to_the_tests_database() -> None:
    real = _stamp(lifespan.DEFAULT_DB)
    with TestClient(lifespan.app) as client:
        assert client.post("/add", data={"text": "a test note"}).status_code == 201
    assert "a test note" in _column(os.environ["NOTES_DB"], "SELECT text FROM notes")
    assert _stamp(lifespan.DEFAULT_DB) == real


def test_uploads_module_app_saves_in_the_tests_directory() -> None:
    with TestClient(uploads.app) as client:
        response = client.post("/upload", files={"file": ("note.txt", b"data")})
    assert response.status_code == 200
    assert (Path(os.environ["UPLOAD_DIR"]) / "note.txt").read_bytes() == b"data"
