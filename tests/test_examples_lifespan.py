"""examples/lifespan through its ``app`` and a ``Notes`` app on a temporary database."""

from __future__ import annotations

from pathlib import Path

from examples.lifespan.app import MAX_NOTE_CHARS, SHOWN_NOTES, Notes, app
from tests.conftest import ClientFactory


def test_lifespan_module_app_starts_and_stops(client_factory: ClientFactory) -> None:
    with client_factory(app) as client:
        assert client.get("/").status_code == 200


def test_lifespan_notes_persist_across_restarts(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    db = tmp_path / "notes.sqlite3"
    with client_factory(Notes(db)) as client:
        response = client.post("/add", data={"text": "  buy flour "})
        assert response.status_code == 201
        assert response.json() == {"id": 1}
    with client_factory(Notes(db)) as client:
        notes = client.get("/").json()
    assert [(n["id"], n["text"]) for n in notes] == [(1, "buy flour")]


def test_lifespan_rejects_bad_input(client_factory: ClientFactory, tmp_path: Path) -> None:
    with client_factory(Notes(tmp_path / "n.sqlite3")) as client:
        assert client.post("/add", data={"text": "  "}).status_code == 400
        assert client.post("/add").status_code == 400
        assert client.get("/add").status_code == 405


def test_lifespan_without_startup_is_500(client_factory: ClientFactory, tmp_path: Path) -> None:
    client = client_factory(Notes(tmp_path / "n.sqlite3"), raise_server_exceptions=False)
    assert client.get("/").status_code == 500


def test_lifespan_notes_are_short_and_only_the_latest_listed(
    client_factory: ClientFactory, tmp_path: Path
) -> None:
    """Every visitor got every note whole: a client posting 1 MiB notes made each
    ``GET /`` send (and hold in memory) all of them."""
    with client_factory(Notes(tmp_path / "n.sqlite3")) as client:
        too_long = client.post("/add", data={"text": "x" * (MAX_NOTE_CHARS + 1)})
        assert too_long.status_code == 400
        for number in range(SHOWN_NOTES + 5):
            assert client.post("/add", data={"text": f"note {number}"}).status_code == 201
        listed = [note["text"] for note in client.get("/").json()]
    assert listed == [f"note {number}" for number in range(5, SHOWN_NOTES + 5)]
