"""Sessions behind a ``session_id`` cookie (SPEC §6).

A :class:`SessionBackend` stores session dicts by id. :class:`SessionManager` ties a
backend to requests: it loads the session named by the cookie (only when there is one),
and after the ``after_request`` hooks saves what changed and sets, refreshes or expires
the cookie. :class:`CookieSessionBackend` is the exception to "stored by id": its signed
data is the cookie value and nothing is kept server-side.
"""

from __future__ import annotations

import copy
import json
import logging
import re
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ._optional import require
from .request import Request

__all__ = [
    "COOKIE_SIZE_LIMIT",
    "SESSION_COOKIE",
    "SESSION_TIMEOUT",
    "CookieSessionBackend",
    "InMemorySessionBackend",
    "RedisSessionBackend",
    "SessionBackend",
    "SessionCookieTooLarge",
    "SessionManager",
]

logger = logging.getLogger("micropie")

#: Default idle lifetime of a session, in seconds (8 hours).
SESSION_TIMEOUT = 8 * 60 * 60
#: Name of the cookie that carries the session id (or, for cookie sessions, the data).
SESSION_COOKIE = "session_id"
#: Largest ``name=value`` a session cookie may have: browsers keep 4096 bytes per cookie.
COOKIE_SIZE_LIMIT = 4096

_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
_EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


_IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None)})
_FAST_COPY_DEPTH = 32


class _TooDeep(Exception):
    pass


def _clone(value: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of session data: fast for JSON-like data, :func:`copy.deepcopy` otherwise.

    Nesting deeper than 32 (e.g. a list holding itself) is handed to ``deepcopy`` whole.
    """
    try:
        copied: dict[str, Any] = _fast_copy(value, 0)
    except _TooDeep:
        copied = copy.deepcopy(value)
    return copied


def _fast_copy(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind in _IMMUTABLE:
        return value
    if kind is dict or kind is list:
        if depth >= _FAST_COPY_DEPTH:
            raise _TooDeep
        if kind is dict:
            return {key: _fast_copy(item, depth + 1) for key, item in value.items()}
        return [_fast_copy(item, depth + 1) for item in value]
    return copy.deepcopy(value)


class SessionBackend(ABC):
    """Where session data lives. Implement ``load`` and ``save``.

    ``load`` returns ``{}`` for an unknown or expired id. ``save`` stores ``data`` for
    ``timeout`` idle seconds; empty data deletes the session. The manager calls
    :meth:`resume` for each request that names a session; override it when restarting
    the idle clock can ride along with the read.
    """

    @abstractmethod
    async def load(self, session_id: str) -> dict[str, Any]:
        """The data stored under ``session_id`` (``{}`` when there is none)."""

    @abstractmethod
    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        """Store ``data`` under ``session_id`` for ``timeout`` seconds; empty data deletes."""

    async def resume(self, session_id: str, timeout: int) -> dict[str, Any]:
        """Load a session for a request and restart its idle clock (default: :meth:`load`)."""
        return await self.load(session_id)


@dataclass
class _Entry:
    deadline: float
    timeout: int
    data: dict[str, Any]


class InMemorySessionBackend(SessionBackend):
    """Sessions in this process's memory: each worker process has its own.

    Sessions expire after ``timeout`` idle seconds. Entries are kept in the order their
    idle clocks were last restarted, so every call removes at most ``sweep`` expired
    entries from the front instead of scanning them all.
    """

    def __init__(self, *, sweep: int = 8) -> None:
        self._sessions: OrderedDict[str, _Entry] = OrderedDict()
        self._sweep_size = sweep

    async def load(self, session_id: str) -> dict[str, Any]:
        now = time.monotonic()
        self._sweep(now)
        entry = self._sessions.get(session_id)
        if entry is None:
            return {}
        if entry.deadline <= now:
            del self._sessions[session_id]
            return {}
        entry.deadline = now + entry.timeout
        self._sessions.move_to_end(session_id)
        return _clone(entry.data)

    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        now = time.monotonic()
        self._sweep(now)
        if not data:
            self._sessions.pop(session_id, None)
            return
        self._sessions[session_id] = _Entry(now + timeout, timeout, _clone(data))
        self._sessions.move_to_end(session_id)

    def _sweep(self, now: float) -> None:
        """Drop up to ``sweep`` expired sessions from the least recently used end."""
        sessions = self._sessions
        for _ in range(self._sweep_size):
            if not sessions:
                return
            session_id, entry = next(iter(sessions.items()))
            if entry.deadline > now:
                return
            del sessions[session_id]


class RedisSessionBackend(SessionBackend):
    """Sessions in Redis (``redis.asyncio``), shared by every worker process and machine.

    Pass a URL (``"redis://localhost:6379/0"``) or a ready ``redis.asyncio.Redis``
    client. Data is stored as JSON under ``prefix + session_id`` with a TTL of the
    session timeout, restarted by each request that uses the session (``GETEX``).
    """

    def __init__(self, url_or_client: Any, *, prefix: str = "micropie:session:") -> None:
        if isinstance(url_or_client, str):
            redis = require(
                "redis.asyncio", feature="RedisSessionBackend", package="redis", extra="redis"
            )
            url_or_client = redis.from_url(url_or_client)
        #: The ``redis.asyncio`` client in use.
        self.client: Any = url_or_client
        self.prefix = prefix

    async def load(self, session_id: str) -> dict[str, Any]:
        return _json_session(await self.client.get(self.prefix + session_id))

    async def resume(self, session_id: str, timeout: int) -> dict[str, Any]:
        return _json_session(await self.client.getex(self.prefix + session_id, ex=timeout))

    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        key = self.prefix + session_id
        if data:
            await self.client.set(key, _json_dumps(data, "RedisSessionBackend"), ex=timeout)
        else:
            await self.client.delete(key)

    async def aclose(self) -> None:
        """Close the client's connections (e.g. from a shutdown handler)."""
        await self.client.aclose()


def _json_dumps(data: dict[str, Any], backend: str) -> str:
    try:
        return json.dumps(data, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{backend} stores sessions as JSON: {exc}") from exc


def _json_session(raw: bytes | str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        logger.warning("Ignoring a stored session that is not valid JSON")
        return {}
    return data if isinstance(data, dict) else {}


class SessionCookieTooLarge(ValueError):
    """The signed session data would not fit in one cookie (4 KB)."""


class CookieSessionBackend(SessionBackend):
    """Sessions kept in the cookie itself, signed with ``itsdangerous``.

    Nothing is stored server-side, so any worker or machine sharing ``secret_key`` can
    read them. Tampered cookies and cookies idle for longer than the timeout are
    ignored. ``secret_key`` may be a list of keys, newest last, to rotate keys.
    Data must be JSON-serialisable and fit, signed, in 4096 bytes.
    """

    def __init__(
        self, secret_key: str | bytes | Iterable[str | bytes], *, salt: str = "micropie.session"
    ) -> None:
        itsdangerous = require(
            "itsdangerous", feature="CookieSessionBackend", package="itsdangerous"
        )
        self._bad_signature: type[Exception] = itsdangerous.BadSignature
        self._serializer: Any = itsdangerous.URLSafeTimedSerializer(secret_key, salt=salt)

    def encode(self, data: dict[str, Any]) -> str:
        """Sign ``data`` into a cookie value; raise :class:`SessionCookieTooLarge` if too big."""
        try:
            value: str = self._serializer.dumps(data)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"CookieSessionBackend stores sessions as JSON: {exc}") from exc
        size = len(SESSION_COOKIE) + 1 + len(value)
        if size > COOKIE_SIZE_LIMIT:
            raise SessionCookieTooLarge(
                f"The session cookie would be {size} bytes, over the {COOKIE_SIZE_LIMIT}-byte "
                "(4 KB) limit browsers keep per cookie: store less in the session or use a "
                "server-side backend (InMemorySessionBackend, RedisSessionBackend)."
            )
        return value

    def decode(self, value: str, timeout: int) -> tuple[dict[str, Any], float]:
        """The data in a cookie value and its age in seconds; ``{}`` if tampered or expired."""
        try:
            data, signed_at = self._serializer.loads(value, max_age=timeout, return_timestamp=True)
        except self._bad_signature:
            return {}, 0.0
        if not isinstance(data, dict):
            return {}, 0.0
        return data, time.time() - signed_at.timestamp()

    async def load(self, session_id: str) -> dict[str, Any]:
        """Nothing is stored server-side: the manager reads the cookie with :meth:`decode`."""
        return {}

    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        """Nothing is stored server-side: the manager writes the cookie with :meth:`encode`."""


@dataclass
class _Opened:
    """What a request's cookie held when the session was opened."""

    data: dict[str, Any]
    refresh: bool  # the cookie must be sent again even if the data does not change


class SessionManager:
    """Loads and saves the session of each request through a backend."""

    def __init__(
        self, backend: SessionBackend, timeout: int = SESSION_TIMEOUT, secure: bool | None = None
    ) -> None:
        self.timeout = timeout
        self.secure = secure
        self.use_backend(backend)
        # Cookie sessions are re-signed (to restart their idle clock) at most this often.
        self._resign_after = min(60.0, timeout / 10)

    def use_backend(self, backend: SessionBackend) -> None:
        """Store sessions in ``backend`` from now on."""
        self.backend = backend
        self._in_cookie = backend if isinstance(backend, CookieSessionBackend) else None

    async def open(self, request: Request) -> None:
        """Load the session named by the request's cookie, if it names a live one."""
        value = request.cookies.get(SESSION_COOKIE)
        if value is None:
            return
        data, refresh = await self._read(value)
        if data:
            request._session_id = value
            request.session = data
        request._session_snapshot = _Opened(_clone(data), refresh)

    async def _read(self, value: str) -> tuple[dict[str, Any], bool]:
        if self._in_cookie is not None:
            data, age = self._in_cookie.decode(value, self.timeout)
            return data, age >= self._resign_after
        if not _UUID4.match(value):
            return {}, False
        return await self.backend.resume(value, self.timeout), True

    async def commit(self, request: Request, headers: list[tuple[str, str]]) -> None:
        """Save a changed session and add the ``Set-Cookie`` header it needs."""
        session = request.session
        session_id = request._session_id
        opened: _Opened | None = request._session_snapshot
        if session_id is None:
            if session:
                await self._store_new(request, session, headers)
            elif opened is not None:  # a cookie naming no live session: drop it
                headers.append(("set-cookie", self._cookie(request, "", expire=True)))
            return
        if not session:
            await self._delete(session_id)
            headers.append(("set-cookie", self._cookie(request, "", expire=True)))
        elif request._session_regenerate:
            await self._delete(session_id)
            await self._store_new(request, session, headers)
        elif opened is None or session != opened.data:
            await self._store(request, session_id, session, headers)
        elif opened.refresh:
            self._refresh(request, session_id, session, headers)

    async def _store_new(
        self, request: Request, session: dict[str, Any], headers: list[tuple[str, str]]
    ) -> None:
        await self._store(request, str(uuid.uuid4()), session, headers)

    async def _store(
        self,
        request: Request,
        session_id: str,
        session: dict[str, Any],
        headers: list[tuple[str, str]],
    ) -> None:
        if self._in_cookie is None:
            await self.backend.save(session_id, session, self.timeout)
        self._refresh(request, session_id, session, headers)
        request._session_snapshot = _Opened(_clone(session), False)
        request._session_regenerate = False

    def _refresh(
        self,
        request: Request,
        session_id: str,
        session: dict[str, Any],
        headers: list[tuple[str, str]],
    ) -> None:
        value = session_id if self._in_cookie is None else self._in_cookie.encode(session)
        request._session_id = value
        headers.append(("set-cookie", self._cookie(request, value)))

    async def _delete(self, session_id: str) -> None:
        if self._in_cookie is None:
            await self.backend.save(session_id, {}, self.timeout)

    def _cookie(self, request: Request, value: str, expire: bool = False) -> str:
        secure = self.secure
        if secure is None:
            secure = request.scope.get("scheme") in ("https", "wss")
        max_age = _EXPIRED if expire else f"Max-Age={self.timeout}"
        cookie = f"{SESSION_COOKIE}={value}; Path=/; {max_age}; HttpOnly; SameSite=Lax"
        return cookie + "; Secure" if secure else cookie
