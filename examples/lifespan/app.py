"""Lifespan: open a SQLite database at startup, close it at shutdown.

Run with ``uvicorn examples.lifespan.app:app`` or ``python examples/lifespan/app.py``.
The database file is ``$NOTES_DB`` (default: ``micropie-notes.sqlite3`` in the
temporary directory).

``app.startup_handlers`` and ``app.shutdown_handlers`` take sync or async callables
that the server runs once per worker process. The standard library's ``sqlite3``
blocks, so every database call runs in a worker thread: plain ``def`` handlers already
run in the thread pool, and the async start-up hook uses ``run_in_threadpool``.

Try::

    curl -X POST localhost:8000/add -d text='buy flour'
    curl localhost:8000/
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from micropie import App, methods

DEFAULT_DB = Path(tempfile.gettempdir()) / "micropie-notes.sqlite3"
#: Every visitor is sent the notes: each is short, and only the latest are listed.
MAX_NOTE_CHARS = 1000
SHOWN_NOTES = 100


class NotesDB:
    """One SQLite connection shared by the worker threads (serialised by a lock)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        self._conn = sqlite3.connect(self.path, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        with self._conn:
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS notes ("
                " id INTEGER PRIMARY KEY, text TEXT NOT NULL,"
                " created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"
            )

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("database not open: was the app started with lifespan events?")
        return self._conn

    def add(self, text: str) -> int:
        with self._lock, self.conn:
            cursor = self.conn.execute("INSERT INTO notes (text) VALUES (?)", (text,))
            return int(cursor.lastrowid or 0)

    def latest(self, limit: int) -> list[dict[str, Any]]:
        """The ``limit`` newest notes, oldest first."""
        query = "SELECT id, text, created FROM notes ORDER BY id DESC LIMIT ?"
        with self._lock:
            rows = self.conn.execute(query, (limit,)).fetchall()
        return [dict(row) for row in reversed(rows)]


class Notes(App):
    def __init__(self, db_path: str | os.PathLike[str] = DEFAULT_DB, **options: Any) -> None:
        super().__init__(**options)
        self._db = NotesDB(db_path)
        self.startup_handlers.append(self._open_db)
        self.shutdown_handlers.append(self._db.close)

    async def _open_db(self) -> None:
        await run_in_threadpool(self._db.open)

    def index(self):
        """A sync handler: it runs in the thread pool, so blocking SQLite calls are fine."""
        return self._db.latest(SHOWN_NOTES)

    @methods("POST")
    def add(self, text: str):
        if not text.strip():
            return 400, "400 Bad Request: empty note"
        if len(text.strip()) > MAX_NOTE_CHARS:
            return 400, f"400 Bad Request: a note has at most {MAX_NOTE_CHARS} characters"
        return 201, {"id": self._db.add(text.strip())}


app = Notes(os.environ.get("NOTES_DB", DEFAULT_DB))

if __name__ == "__main__":
    app.run()
