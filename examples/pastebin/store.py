"""SQLite storage for the pastebin: blocking ``sqlite3`` calls, run in worker threads."""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS pastes (
    slug TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)
"""


class PasteStore:
    """One connection shared by the thread pool; a lock serialises its use."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        conn = sqlite3.connect(self.path, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        with conn:
            conn.execute(SCHEMA)
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("PasteStore is not open: start the app with lifespan events")
        return self._conn

    def create(self, title: str, content: str, private: bool) -> str:
        slug = secrets.token_urlsafe(6)
        with self._lock, self._db() as db:
            db.execute(
                "INSERT INTO pastes (slug, title, content, private) VALUES (?, ?, ?, ?)",
                (slug, title, content, int(private)),
            )
        return slug

    def get(self, slug: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db().execute("SELECT * FROM pastes WHERE slug = ?", (slug,)).fetchone()
        return None if row is None else dict(row)

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        query = (
            "SELECT slug, title, created FROM pastes WHERE private = 0 ORDER BY rowid DESC LIMIT ?"
        )
        with self._lock:
            rows = self._db().execute(query, (limit,)).fetchall()
        return [dict(row) for row in rows]

    def many(self, slugs: list[str]) -> list[dict[str, Any]]:
        marks = ",".join("?" * len(slugs))
        query = f"SELECT slug, title, created, private FROM pastes WHERE slug IN ({marks})"
        with self._lock:
            rows = self._db().execute(query, slugs).fetchall()
        found = {row["slug"]: dict(row) for row in rows}
        return [found[slug] for slug in reversed(slugs) if slug in found]

    def delete(self, slug: str) -> bool:
        with self._lock, self._db() as db:
            return db.execute("DELETE FROM pastes WHERE slug = ?", (slug,)).rowcount > 0
