"""Server-side sessions behind a ``session_id`` cookie (SPEC §6).

A :class:`SessionBackend` stores session dicts by id; :class:`SessionManager` ties a
backend to requests: it loads the session named by the cookie (only when there is one),
and after the ``after_request`` hooks saves what changed and sets or expires the cookie.
"""

from __future__ import annotations

import copy
import time
import uuid
from abc import ABC, abstractmethod
from typing import Any

from .request import Request

__all__ = [
    "SESSION_COOKIE",
    "SESSION_TIMEOUT",
    "InMemorySessionBackend",
    "SessionBackend",
    "SessionManager",
]

#: Default idle lifetime of a session, in seconds (8 hours).
SESSION_TIMEOUT = 8 * 60 * 60
#: Name of the cookie that carries the session id.
SESSION_COOKIE = "session_id"


class SessionBackend(ABC):
    """Where session data lives. Implement ``load`` and ``save``.

    ``load`` returns ``{}`` for an unknown or expired id. ``save`` with empty data
    deletes the session.
    """

    @abstractmethod
    async def load(self, session_id: str) -> dict[str, Any]:
        """The data stored under ``session_id`` (``{}`` when there is none)."""

    @abstractmethod
    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        """Store ``data`` under ``session_id`` for ``timeout`` seconds; empty data deletes."""


class InMemorySessionBackend(SessionBackend):
    """Sessions in this process's memory; each worker process has its own."""

    def __init__(self) -> None:
        self._sessions: dict[str, tuple[float, int, dict[str, Any]]] = {}

    async def load(self, session_id: str) -> dict[str, Any]:
        entry = self._sessions.get(session_id)
        if entry is None:
            return {}
        last_access, timeout, data = entry
        now = time.monotonic()
        if now - last_access > timeout:
            del self._sessions[session_id]
            return {}
        self._sessions[session_id] = (now, timeout, data)
        return copy.deepcopy(data)

    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        if data:
            self._sessions[session_id] = (time.monotonic(), timeout, copy.deepcopy(data))
        else:
            self._sessions.pop(session_id, None)


def _valid_session_id(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 4 and len(value) == 36
    except ValueError:
        return False


class SessionManager:
    """Loads and saves the session of each request through a backend."""

    def __init__(
        self, backend: SessionBackend, timeout: int = SESSION_TIMEOUT, secure: bool | None = None
    ) -> None:
        self.backend = backend
        self.timeout = timeout
        self.secure = secure

    async def open(self, request: Request) -> None:
        """Load the session named by the request's cookie, if it names a live one."""
        session_id = request.cookies.get(SESSION_COOKIE)
        if session_id is None or not _valid_session_id(session_id):
            return
        data = await self.backend.load(session_id)
        if data:
            request._session_id = session_id
            request._session_snapshot = copy.deepcopy(data)
            request.session = data

    async def commit(self, request: Request, headers: list[tuple[str, str]]) -> None:
        """Save a changed session and add the ``Set-Cookie`` header it needs."""
        session = request.session
        session_id = request._session_id
        if session_id is None:
            if session:
                await self._store_new(request, session, headers)
            return
        if not session:
            await self.backend.save(session_id, {}, self.timeout)
            headers.append(("set-cookie", self._cookie(request, "", expire=True)))
        elif request._session_regenerate:
            await self.backend.save(session_id, {}, self.timeout)
            await self._store_new(request, session, headers)
        elif session != request._session_snapshot:
            await self.backend.save(session_id, session, self.timeout)

    async def _store_new(
        self, request: Request, session: dict[str, Any], headers: list[tuple[str, str]]
    ) -> None:
        session_id = str(uuid.uuid4())
        await self.backend.save(session_id, session, self.timeout)
        request._session_id = session_id
        request._session_snapshot = copy.deepcopy(session)
        request._session_regenerate = False
        headers.append(("set-cookie", self._cookie(request, session_id)))

    def _cookie(self, request: Request, value: str, expire: bool = False) -> str:
        secure = self.secure
        if secure is None:
            secure = request.scope.get("scheme") in ("https", "wss")
        parts = [f"{SESSION_COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if expire:
            parts.append("Max-Age=0")
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        else:
            parts.append(f"Max-Age={self.timeout}")
        if secure:
            parts.append("Secure")
        return "; ".join(parts)
