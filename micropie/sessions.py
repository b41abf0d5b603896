"""Sessions behind a ``session_id`` cookie (SPEC §6).

A :class:`SessionBackend` stores session dicts by id. :class:`SessionManager` ties a
backend to requests: it loads the session named by the cookie (only when there is one),
and after the ``after_request`` hooks saves what changed and sets, refreshes or expires
the cookie. :class:`CookieSessionBackend` is the exception to "stored by id": its signed
data is the cookie value and nothing is kept server-side.
"""

from __future__ import annotations

import binascii
import contextlib
import copy
import hashlib
import hmac
import importlib
import json
import logging
import os
import re
import time
import uuid
import weakref
import zlib
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from typing import Any, TypeVar

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import cookie_parser

from ._optional import require
from .exceptions import check_secret_key
from .request import Request, raw_headers

__all__ = [
    "COOKIE_REFRESH_AFTER",
    "COOKIE_SIZE_LIMIT",
    "SESSION_COOKIE",
    "SESSION_TIMEOUT",
    "CookieSessionBackend",
    "InMemorySessionBackend",
    "RedisSessionBackend",
    "SessionBackend",
    "SessionCookieTooLarge",
    "SessionManager",
    "SessionStoreUnavailable",
]

logger = logging.getLogger("micropie")

#: Default idle lifetime of a session, in seconds (8 hours).
SESSION_TIMEOUT = 8 * 60 * 60
#: Name of the cookie that carries the session id (or, for cookie sessions, the data).
SESSION_COOKIE = "session_id"
#: Largest ``name=value`` a session cookie may have: browsers keep 4096 bytes per cookie.
COOKIE_SIZE_LIMIT = 4096

#: Seconds a session store may take to answer before the request is answered 503.
STORE_TIMEOUT = 5.0
#: Once the store failed, requests needing it are answered 503 at once for this long.
STORE_RETRY_AFTER = 1
UNAVAILABLE_BODY = "503 Service Unavailable: the session store is not answering, try again"

#: A ``Cookie`` header longer than this is searched in a worker thread: a hostile one may
#: name the session cookie a million times.
THREAD_SEARCH_COOKIES = 64 * 1024

T = TypeVar("T")
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\Z")
_EXPIRED = "Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"


_IMMUTABLE = frozenset({str, int, float, bool, bytes, type(None)})
_FAST_COPY_DEPTH = 32


class _TooDeep(Exception):
    pass


def _clone(value: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of session data: fast for JSON-like data, :func:`copy.deepcopy` otherwise.

    The copy is a plain ``dict`` even when ``value`` is a subclass (a session loaded from
    Redis). Nesting deeper than 32 (e.g. a list holding itself) is handed to ``deepcopy``
    whole.
    """
    copied: dict[str, Any] = dict(value)
    for item in copied.values():
        if type(item) not in _IMMUTABLE:
            break
    else:  # a flat session (the commonest): nothing below to copy
        return copied
    try:
        copied = {key: _fast_copy(item, 1) for key, item in value.items()}
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


#: The share of ``InMemorySessionBackend(max_sessions=...)`` kept for sessions whose
#: client came back since they were stored; the rest holds the sessions not used since.
RETURNING_SHARE = 0.8


@dataclass
class _Entry:
    deadline: float
    timeout: int
    data: dict[str, Any]


class InMemorySessionBackend(SessionBackend):
    """Sessions in this process's memory: each worker process has its own.

    Sessions expire after ``timeout`` idle seconds. Entries are kept in the order their
    idle clocks were last restarted, so every call removes at most ``sweep`` expired
    entries from the front instead of scanning them all. At most ``max_sessions`` are
    kept (``None``: no bound), so clients that never send their cookie back cannot fill
    the memory. Past the bound, saving a new session drops the least recently used of
    those *never used again* since they were stored; sessions whose client came back
    (up to :data:`RETURNING_SHARE` of the bound) are dropped only when there is none:
    a flood of clients that keep no cookies cannot push every visitor's session out.
    """

    def __init__(self, *, sweep: int = 8, max_sessions: int | None = 100_000) -> None:
        self._sessions: OrderedDict[str, _Entry] = OrderedDict()  # their clients came back
        self._fresh: OrderedDict[str, _Entry] = OrderedDict()  # not used since stored
        self._sweep_size = sweep
        self._max_sessions = max_sessions
        self._max_returning = None if max_sessions is None else int(max_sessions * RETURNING_SHARE)
        self._stored_any = False  # the first session stored checks for sibling workers

    def _held(self) -> int:
        """The number of sessions held (expired ones not swept yet included)."""
        return len(self._sessions) + len(self._fresh)

    async def load(self, session_id: str) -> dict[str, Any]:
        now = time.monotonic()
        self._sweep(now)
        sessions = self._sessions
        entry = sessions.get(session_id)
        fresh = entry is None
        if entry is None:
            entry = self._fresh.get(session_id)
            if entry is None:
                return {}
        if entry.deadline <= now:
            del (self._fresh if fresh else sessions)[session_id]
            return {}
        entry.deadline = now + entry.timeout
        if fresh:  # its client came back: kept before the sessions not used since
            del self._fresh[session_id]
            sessions[session_id] = entry
            self._demote_returning()
        else:
            sessions.move_to_end(session_id)
        session = _MemorySession(_clone(entry.data))
        session._id, session._base = session_id, entry.data
        return session

    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        """Store ``data``; when another request saved this session since ``data`` was
        loaded, only the keys this one changed or removed are written over it."""
        now = time.monotonic()
        self._sweep(now)
        sessions = self._sessions if session_id in self._sessions else self._fresh
        if not data:
            sessions.pop(session_id, None)
            return
        if not self._stored_any:
            self._stored_any = True
            warn_if_process_local(self)
        stored = base = _clone(data)
        if isinstance(data, _MemorySession) and data._id == session_id:
            entry = sessions.get(session_id)
            current = {} if entry is None else entry.data
            if current is not data._base:  # saved or deleted by another request since
                stored = _merged(current, data._base, data)  # only what this one changed
        sessions[session_id] = _Entry(now + timeout, timeout, stored)
        sessions.move_to_end(session_id)
        if isinstance(data, _MemorySession):
            data._id, data._base = session_id, base
        if self._max_sessions is not None and self._held() > self._max_sessions:
            # the least recently used of the fresh ones, else of those that came back
            (self._fresh or self._sessions).popitem(last=False)

    def _demote_returning(self) -> None:
        """Past its share, the least recently used returning session joins the fresh."""
        if self._max_returning is not None and len(self._sessions) > self._max_returning:
            session_id, entry = self._sessions.popitem(last=False)
            self._fresh[session_id] = entry

    def _sweep(self, now: float) -> None:
        """Drop up to ``sweep`` expired sessions from the least recently used ends."""
        left = self._sweep_size
        for sessions in (self._fresh, self._sessions):
            while left and sessions:
                session_id, entry = next(iter(sessions.items()))
                if entry.deadline > now:
                    break
                del sessions[session_id]
                left -= 1


class _MemorySession(dict[str, Any]):
    """Session data as loaded from memory, with ``_base``: what it held when loaded or
    last saved. While ``_base`` is the stored dict itself (stored dicts are never changed
    in place: each save stores a new one), no other request has saved since."""

    __slots__ = ("_base", "_id")

    _id: str
    _base: dict[str, Any]


def _merged(current: dict[str, Any], base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """``current`` with the keys ``data`` changed or removed since it was ``base``."""
    merged = {key: value for key, value in current.items() if key in data or key not in base}
    changed = {key: value for key, value in data.items() if key not in base or base[key] != value}
    merged.update(_clone(changed))
    return merged


class _StoredSession(dict[str, Any]):
    """Session data as loaded from Redis, with the stored field values to diff against."""

    __slots__ = ("_key", "_stored")

    _key: str
    _stored: dict[str, str]


_warned_process_local = False


def warn_if_process_local(backend: SessionBackend) -> None:
    """Log once per process when ``backend`` keeps sessions in one of several workers.

    :class:`InMemorySessionBackend` sessions live in one process: behind
    ``uvicorn --workers N`` or gunicorn, each request may reach a worker that never saw
    the session. Called when the backend stores its first session, so that apps that
    never store one (a chat, an upload form) are not warned about sessions.
    """
    global _warned_process_local
    if _warned_process_local or not isinstance(backend, InMemorySessionBackend):
        return
    siblings = _sibling_workers()
    if siblings:
        _warned_process_local = True
        logger.warning(
            "Sessions are in InMemorySessionBackend, but this process is one of %d workers: "
            "each worker has its own sessions, so most requests will not see the session "
            "another worker stored. Use RedisSessionBackend or CookieSessionBackend "
            "(see the Scaling out guide).",
            siblings + 1,
        )


def _sibling_workers() -> int:
    """Other processes with this one's parent and command line (Linux ``/proc``; else 0).

    Workers of ``uvicorn --workers`` or gunicorn are such siblings; numbers in the
    command line (uvicorn passes each worker its own pipe handle) are ignored.
    """
    try:
        me, parent = os.getpid(), os.getppid()
        command = _command_shape(me)
        entries = [entry.name for entry in os.scandir("/proc") if entry.name.isdigit()]
    except OSError:
        return 0
    siblings = 0
    for name in entries:
        try:
            if int(name) != me and _parent_of(name) == parent and _command_shape(name) == command:
                siblings += 1
        except (OSError, ValueError, IndexError):
            continue  # the process ended meanwhile, or is not ours to read
    return siblings


def _parent_of(pid: str) -> int:
    with open(f"/proc/{pid}/stat", "rb") as stat:
        return int(stat.read().rsplit(b")", 1)[1].split()[1])


def _command_shape(pid: int | str) -> bytes:
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return re.sub(rb"[0-9]+", b"", cmdline.read())


#: ``HGETALL`` and, when the session exists, ``EXPIRE``: Redis runs a script atomically,
#: and one ``EVALSHA`` costs the client less than a ``MULTI``/``EXEC`` transaction.
_RESUME_SCRIPT = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields > 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return fields
"""


class RedisSessionBackend(SessionBackend):
    """Sessions in Redis (``redis.asyncio``), shared by every worker process and machine.

    Pass a URL (``"redis://localhost:6379/0"``) or a ready ``redis.asyncio.Redis``
    client. A session is a Redis hash under ``prefix + session_id``: one field per
    session key, holding that value as JSON, with a TTL of the session timeout that each
    request using the session restarts. A request writes only the keys it changed
    (``HSET``) or removed (``HDEL``), so concurrent requests changing *different* keys
    of one session all keep their changes; for the *same* key the last write wins.
    """

    def __init__(self, url_or_client: Any, *, prefix: str = "micropie:session:") -> None:
        if isinstance(url_or_client, str):
            url_or_client = _redis_client(url_or_client)
        #: The ``redis.asyncio`` client in use.
        self.client: Any = url_or_client
        self.prefix = prefix
        self._resume_script: Any = self.client.register_script(_RESUME_SCRIPT)

    async def load(self, session_id: str) -> dict[str, Any]:
        key = self.prefix + session_id
        try:
            stored = await self.client.hgetall(key)
        except Exception as exc:
            stored = exc
        return _hash_session(key, stored)

    async def resume(self, session_id: str, timeout: int) -> dict[str, Any]:
        """Read the hash and restart its TTL in one atomic script call (one command).

        A Redis that refuses scripts (an ACL user without ``+@scripting``, a managed
        Redis with ``EVAL`` disabled) is read with ``HGETALL`` and ``EXPIRE`` in a
        ``MULTI`` transaction instead, from the first refusal on.
        """
        key = self.prefix + session_id
        if self._resume_script is not None:
            try:
                flat = await self._resume_script(keys=[key], args=[timeout])
            except Exception as exc:
                refusal = _script_refusal(exc)
                if refusal is None:
                    return _hash_session(key, exc)
                self._resume_script = None
                logger.warning(
                    "Redis refuses the session read script (%s): sessions are read with "
                    "HGETALL and EXPIRE in a MULTI transaction instead",
                    refusal,
                )
            else:
                return _hash_session(key, dict(zip(flat[::2], flat[1::2], strict=True)))
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                with _commands_left_out():
                    stored, _ = await pipe.hgetall(key).expire(key, timeout).execute()
        except Exception as exc:
            stored = exc
        return _hash_session(key, stored)

    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        key = self.prefix + session_id
        if not data:
            await self.client.delete(key)
            return
        fields = _hash_fields(data)
        async with self.client.pipeline(transaction=True) as pipe:
            if isinstance(data, _StoredSession) and data._key == key:
                stored = data._stored
                removed = [name for name in stored if name not in fields]
                changed = {
                    name: value for name, value in fields.items() if stored.get(name) != value
                }
                if removed:
                    pipe.hdel(key, *removed)
            else:  # a new session, or one moved to this id: it replaces what was there
                pipe.delete(key)
                changed = fields
            if changed:
                pipe.hset(key, mapping=changed)
            pipe.expire(key, timeout)
            with _commands_left_out():
                await pipe.execute()
        if isinstance(data, _StoredSession):
            data._key, data._stored = key, fields

    async def aclose(self) -> None:
        """Close the client's connections (e.g. from a shutdown handler)."""
        await self.client.aclose()


def _redis_client(url: str) -> Any:
    """A client for ``url`` that retries a command once, at once, on a connection error:
    a pooled connection dies when Redis restarts, and every session command is idempotent."""
    redis, retry, backoff = (
        require(module, feature="RedisSessionBackend", package="redis", extra="redis")
        for module in ("redis.asyncio", "redis.asyncio.retry", "redis.backoff")
    )
    return redis.from_url(url, retry=retry.Retry(backoff.NoBackoff(), 1))


@contextlib.contextmanager
def _commands_left_out() -> Iterator[None]:
    """Take the command out of a failed pipeline's error text, keeping Redis's reason.

    redis-py writes the failing command into the message (``Command # 2 (HSET
    micropie:session:<id> user ann ...) of pipeline caused error: OOM ...``): logged
    as the reason of an outage, it put a session id (a credential) and session values
    in the logs.
    """
    try:
        yield
    except Exception as exc:
        text = exc.args[0] if exc.args else None
        if isinstance(text, str) and text.startswith("Command # "):
            head, found, reason = text.rpartition(" of pipeline caused error: ")
            if found:
                number = head.split(" (", 1)[0]
                exc.args = (f"{number} of pipeline caused error: {reason}", *exc.args[1:])
        raise


def _script_refusal(exc: Exception) -> str | None:
    """Why Redis will never run a script, if ``exc`` says so: the user may not, or the
    command is renamed or disabled. (The error's text is not logged: it names the key.)"""
    from redis.exceptions import NoPermissionError, ResponseError

    if isinstance(exc, NoPermissionError):
        return "the Redis user has no permission for EVALSHA"
    if isinstance(exc, ResponseError) and "unknown command" in str(exc).lower():
        return "EVALSHA is an unknown command here"
    return None


def _hash_fields(data: dict[str, Any]) -> dict[str, str]:
    """Each session value as JSON, by key: the hash fields that store ``data``."""
    fields = {}
    for name, value in data.items():
        if not isinstance(name, str):
            raise TypeError(f"RedisSessionBackend needs string session keys, not {name!r}")
        fields[name] = _json_dumps(value, "RedisSessionBackend")
    return fields


def _hash_session(key: str, stored: dict[Any, Any] | Exception) -> dict[str, Any]:
    """The session held by a Redis hash (``{}`` when empty), remembering what was stored.

    A key holding something other than a hash (``WRONGTYPE``) reads as no session.
    """
    if isinstance(stored, Exception):
        if "WRONGTYPE" not in str(stored):
            raise stored
        logger.warning("Ignoring a stored session that is not a Redis hash")
        return {}
    if not stored:
        return {}
    session = _StoredSession()
    session._key, session._stored = key, {}
    for raw_name, raw_value in stored.items():
        name = _text(raw_name)
        value = session._stored[name] = _text(raw_value)
        try:
            session[name] = json.loads(value)
        except ValueError:
            logger.warning("Ignoring a stored session value that is not valid JSON")
    return session


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _json_dumps(data: Any, backend: str) -> str:
    try:
        return json.dumps(data, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{backend} stores sessions as JSON: {exc}") from exc


class SessionCookieTooLarge(ValueError):
    """The signed session data would not fit in one cookie (4 KB)."""


#: A cookie session is re-signed (restarting its idle clock) once this share of the
#: timeout has passed since it was signed, not before.
COOKIE_REFRESH_AFTER = 0.25
_COMPRESS_OVER = 256  # bytes of JSON below which zlib never pays off
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))  # what json.dumps(...) would build
_DECODED_CACHE_SIZE = 256


try:  # CPython's own SHA-1: copying its state costs a third of OpenSSL's
    _sha1: Any = importlib.import_module("_sha1").sha1
except ImportError:  # pragma: no cover - a Python built without it
    _sha1 = hashlib.sha1

_INNER_PAD = bytes(byte ^ 0x36 for byte in range(256))
_OUTER_PAD = bytes(byte ^ 0x5C for byte in range(256))
_SHA1_BLOCK = 64


class _KeyedSHA1:
    """HMAC-SHA1 (RFC 2104) under one key: the padded key's two hash states are computed
    once and copied per message, instead of deriving them (and looking the hash up by
    name) on every call as :func:`hmac.digest` does. Gives what ``hmac.digest`` gives."""

    def __init__(self, key: bytes) -> None:
        if len(key) > _SHA1_BLOCK:
            key = _sha1(key).digest()
        key = key.ljust(_SHA1_BLOCK, b"\0")
        self._inner = _sha1(key.translate(_INNER_PAD))
        self._outer = _sha1(key.translate(_OUTER_PAD))

    def digest(self, message: bytes) -> bytes:
        """The HMAC-SHA1 of ``message``."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        digest: bytes = outer.digest()
        return digest


class _OneShotHMAC:
    """itsdangerous' HMAC-SHA1 with each key's states prepared once (:class:`_KeyedSHA1`)."""

    def __init__(self) -> None:
        self._keyed: dict[bytes, _KeyedSHA1] = {}  # the few keys the signer derived

    def keyed(self, key: bytes) -> _KeyedSHA1:
        """The HMAC-SHA1 of ``key``, prepared once."""
        keyed = self._keyed.get(key)
        if keyed is None:
            keyed = self._keyed[key] = _KeyedSHA1(key)
        return keyed

    def get_signature(self, key: bytes, value: bytes) -> bytes:
        return self.keyed(key).digest(value)

    def verify_signature(self, key: bytes, value: bytes, sig: bytes) -> bool:
        return hmac.compare_digest(sig, self.keyed(key).digest(value))


_c_make_encoder = getattr(json.encoder, "c_make_encoder", None)
#: URL-safe base64 as itsdangerous writes it: ``+/`` as ``-_``, padding stripped.
_URL_SAFE = bytes.maketrans(b"+/", b"-_")


def _compact_json(data: dict[str, Any]) -> str:
    """``json.dumps(data, separators=(",", ":"))`` (what itsdangerous writes), with the
    json module's C encoder built directly: ``dumps`` rebuilds it in Python per call."""
    if _c_make_encoder is None:  # pragma: no cover - a json module without its C part
        return _COMPACT_JSON.encode(data)
    encoder = _c_make_encoder(
        {}, _COMPACT_JSON.default, encode_basestring_ascii, None, ":", ",", False, False, True
    )
    return "".join(encoder(data, 0))


def _url_safe_b64(data: bytes) -> bytes:
    """itsdangerous' ``base64_encode`` of bytes, in three C calls."""
    return binascii.b2a_base64(data, newline=False).translate(_URL_SAFE).rstrip(b"=")


class CookieSessionBackend(SessionBackend):
    """Sessions kept in the cookie itself, signed with ``itsdangerous``.

    Nothing is stored server-side, so any worker or machine sharing ``secret_key`` can
    read them. Tampered cookies and cookies idle for longer than the timeout are
    ignored. ``secret_key`` may be a list of keys, newest last, to rotate keys.
    Data must be JSON-serialisable and fit, signed, in 4096 bytes.

    The cookie is what ``itsdangerous.URLSafeTimedSerializer(secret_key, salt=salt)``
    reads and writes. Keys are derived once, and the last cookie values verified are
    remembered (with their data and signing time), so a cookie sent again is not
    verified again.
    """

    def __init__(
        self, secret_key: str | bytes | Iterable[str | bytes], *, salt: str = "micropie.session"
    ) -> None:
        check_secret_key(secret_key, "CookieSessionBackend")
        itsdangerous = require(
            "itsdangerous", feature="CookieSessionBackend", package="itsdangerous"
        )
        self._bad_data: type[Exception] = itsdangerous.BadData
        self._b64decode: Any = itsdangerous.encoding.base64_decode
        deriving = itsdangerous.Signer(secret_key, salt=salt)
        keys = [deriving.derive_key(key) for key in deriving.secret_keys]
        algorithm = _OneShotHMAC()
        self._signer: Any = itsdangerous.TimestampSigner(
            keys, salt=salt, key_derivation="none", algorithm=algorithm
        )
        self._signing = algorithm.keyed(keys[-1])  # itsdangerous signs with the newest key
        self._stamp: tuple[int, bytes] = (-1, b"")  # the last second signed in, encoded
        self._decoded: dict[str, tuple[dict[str, Any], int]] = {}

    def encode(self, data: dict[str, Any]) -> str:
        """Sign ``data`` into a cookie value; raise :class:`SessionCookieTooLarge` if too big."""
        try:
            payload = _compact_json(data).encode()
        except (TypeError, ValueError) as exc:
            raise TypeError(f"CookieSessionBackend stores sessions as JSON: {exc}") from exc
        prefix = b""
        if len(payload) > _COMPRESS_OVER:
            compressed = zlib.compress(payload)
            if len(compressed) < len(payload) - 1:
                payload, prefix = compressed, b"."
        value = self._sign(prefix + _url_safe_b64(payload)).decode("ascii")
        size = len(SESSION_COOKIE) + 1 + len(value)
        if size > COOKIE_SIZE_LIMIT:
            raise SessionCookieTooLarge(
                f"The session cookie would be {size} bytes, over the {COOKIE_SIZE_LIMIT}-byte "
                "(4 KB) limit browsers keep per cookie: store less in the session or use a "
                "server-side backend (InMemorySessionBackend, RedisSessionBackend)."
            )
        return value

    def _sign(self, value: bytes) -> bytes:
        """``value.timestamp.signature``, as ``TimestampSigner.sign`` makes it: the time in
        whole seconds and the HMAC-SHA1 of what precedes it, both URL-safe base64."""
        now = int(time.time())
        second, stamp = self._stamp
        if second != now:
            stamp = _url_safe_b64(now.to_bytes(8, "big").lstrip(b"\0"))
            self._stamp = (now, stamp)
        signed = value + b"." + stamp
        return signed + b"." + _url_safe_b64(self._signing.digest(signed))

    def decode(self, value: str, timeout: int) -> tuple[dict[str, Any], float]:
        """The data in a cookie value and its age in seconds; ``{}`` if tampered or expired."""
        data, age = self.verified(value, timeout)
        return _clone(data), age

    def verified(self, value: str, timeout: int) -> tuple[dict[str, Any], float]:
        """:meth:`decode` without the copy: the data must not be changed (it is kept)."""
        known = self._decoded.get(value)
        if known is None:
            known = self._verify(value)
            if known is None:
                return {}, 0.0
        data, signed_at = known
        age = int(time.time()) - signed_at  # whole seconds, as itsdangerous counts
        if not 0 <= age <= timeout:
            return {}, 0.0
        return data, float(age)

    def _verify(self, value: str) -> tuple[dict[str, Any], int] | None:
        """Check the signature and read the payload; remember the result when good."""
        try:
            payload, signed_at = self._signer.unsign(value, return_timestamp=True)
            compressed = payload.startswith(b".")
            raw = self._b64decode(payload[1:] if compressed else payload)
            data = json.loads(zlib.decompress(raw) if compressed else raw)
        except (self._bad_data, ValueError, zlib.error):
            return None
        if not isinstance(data, dict):
            return None
        known = (data, int(signed_at.timestamp()))
        decoded = self._decoded
        if len(decoded) >= _DECODED_CACHE_SIZE:
            del decoded[next(iter(decoded))]
        decoded[value] = known
        return known

    async def load(self, session_id: str) -> dict[str, Any]:
        """Nothing is stored server-side: the manager reads the cookie with :meth:`decode`."""
        return {}

    async def save(self, session_id: str, data: dict[str, Any], timeout: int) -> None:
        """Nothing is stored server-side: the manager writes the cookie with :meth:`encode`."""


async def _session_cookie(request: Request, raw: bytes | None = None) -> str | None:
    """The session cookie's value, as ``request.cookies`` has it, without parsing the
    other cookies: a hostile header of millions of them held the event loop for seconds.

    ``raw``: the ``Cookie`` header, when already read (``None``: read it here).
    """
    if raw is None:
        raw = raw_headers(request.scope, b"cookie")[0]
    if raw is None:
        return None
    header = raw.decode("latin-1")
    if len(header) > THREAD_SEARCH_COOKIES:
        return await anyio.to_thread.run_sync(_cookie_value, header, SESSION_COOKIE)
    return _cookie_value(header, SESSION_COOKIE)


def _cookie_value(header: str, name: str) -> str | None:
    """``cookie_parser(header).get(name)``, parsing only the cookies that mention ``name``."""
    value = None
    found = header.find(name)
    while found >= 0:
        start = header.rfind(";", 0, found) + 1
        end = header.find(";", found)
        if end < 0:
            end = len(header)
        key, equals, text = header[start:end].partition("=")
        if equals and key.strip() == name:  # (the last one wins)
            text = text.strip()
            # cookie_parser unquotes a quoted value as Python's cookies module does
            value = cookie_parser(header[start:end])[name] if text[:1] == '"' else text
        found = header.find(name, end)
    return value


@dataclass
class _Opened:
    """What a request's cookie held when the session was opened."""

    data: dict[str, Any]
    refresh: bool  # the cookie must be sent again even if the data does not change


class SessionStoreUnavailable(HTTPException):
    """The session store failed or did not answer in time: the request is answered 503."""

    def __init__(self) -> None:
        super().__init__(503, UNAVAILABLE_BODY, headers={"Retry-After": str(STORE_RETRY_AFTER)})


@dataclass
class _StoreHealth:
    """Whether a backend is down, shared by every app using it (mounted ones too)."""

    down: bool = False
    retry_at: float = 0.0  # until then, requests needing the store get the 503 at once


_HEALTH: weakref.WeakKeyDictionary[SessionBackend, _StoreHealth] = weakref.WeakKeyDictionary()


def _health_of(backend: SessionBackend) -> _StoreHealth:
    """The health record of ``backend``: one per backend object, however many apps use it."""
    try:
        return _HEALTH.setdefault(backend, _StoreHealth())
    except TypeError:  # a backend that cannot be weakly referenced (or hashed)
        return _StoreHealth()


class _UnreadSession(dict[str, Any]):
    """The session of an HTTP request whose store failed when the session was read.

    Handlers that never use the session are served; reading or changing it raises
    :class:`SessionStoreUnavailable` (503), and nothing is saved.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "<session not read: the session store is unavailable>"


def _store_unavailable(*args: Any, **kwargs: Any) -> Any:
    raise SessionStoreUnavailable


for _name in (
    "__getitem__", "__setitem__", "__delitem__", "__contains__", "__iter__", "__len__",
    "__eq__", "__ne__", "__or__", "__ror__", "__ior__", "__reversed__", "get", "setdefault",
    "pop", "popitem", "update", "clear", "keys", "values", "items", "copy",
):  # fmt: skip
    setattr(_UnreadSession, _name, _store_unavailable)


def session_unread(session: dict[str, Any]) -> bool:
    """Whether ``session`` stands for one its store could not read (see ``open``)."""
    return type(session) is _UnreadSession


class SessionManager:
    """Loads and saves the session of each request through a backend.

    A store that fails or takes longer than ``store_timeout`` seconds raises
    :class:`SessionStoreUnavailable` (503); one line is logged when it goes down and
    one when it answers again, per backend: apps sharing one (a showcase and the apps
    mounted in it) log an outage once.
    """

    def __init__(
        self,
        backend: SessionBackend,
        timeout: int = SESSION_TIMEOUT,
        secure: bool | None = None,
        *,
        store_timeout: float | None = STORE_TIMEOUT,
    ) -> None:
        self.timeout = timeout
        self.secure = secure
        self.store_timeout = store_timeout
        self.use_backend(backend)
        # Cookie sessions are re-signed (to restart their idle clock) at most this often.
        self._resign_after = timeout * COOKIE_REFRESH_AFTER

    def use_backend(self, backend: SessionBackend) -> None:
        """Store sessions in ``backend`` from now on."""
        self.backend = backend
        self._in_cookie = backend if isinstance(backend, CookieSessionBackend) else None
        # Stores in this process's memory can neither fail nor stall: no guard needed.
        self._guarded = not isinstance(backend, InMemorySessionBackend | CookieSessionBackend)
        self._health = _health_of(backend)

    async def load(self, session_id: str) -> dict[str, Any]:
        """The data stored under ``session_id``, read through the guard."""
        return await self._ask(self.backend.load, session_id)

    async def _ask(self, call: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run one store call; a failure or a stall raises :class:`SessionStoreUnavailable`."""
        if not self._guarded:
            return await call(*args)
        health = self._health
        if health.down and time.monotonic() < health.retry_at:
            raise SessionStoreUnavailable
        try:
            with anyio.fail_after(self.store_timeout):
                result = await call(*args)
        except (TypeError, ValueError):
            raise  # data the store cannot hold is the app's error, not the store's
        except Exception as exc:
            self._store_failed(exc)
            raise SessionStoreUnavailable from exc
        if health.down:
            health.down = False
            logger.warning("The session store answers again")
        return result

    def _store_failed(self, exc: Exception) -> None:
        health = self._health
        health.retry_at = time.monotonic() + STORE_RETRY_AFTER
        if not health.down:
            health.down = True
            if isinstance(exc, TimeoutError):
                reason = f"no answer within {self.store_timeout} s"
            else:
                reason = f"{type(exc).__name__}: {exc}"
            logger.error(
                "The session store is unavailable (%s); answering 503 until it is back", reason
            )

    async def open(
        self, request: Request, *, defer_failure: bool = False, header: bytes | None = None
    ) -> None:
        """Load the session named by the request's cookie, if it names a live one.

        With ``defer_failure``, a store that fails leaves a session that raises
        :class:`SessionStoreUnavailable` when used, so requests not using it are served.
        ``header`` is the request's ``Cookie`` header when already read.
        """
        value = await _session_cookie(request, header)
        if value is None:
            return
        try:
            data, snapshot, refresh = await self._read(value)
        except SessionStoreUnavailable:
            if not defer_failure:
                raise
            request.session = _UnreadSession()
            return
        if data:
            request._session_id = value
            request.session = data
        request._session_snapshot = _Opened(snapshot, refresh)

    async def _read(self, value: str) -> tuple[dict[str, Any], dict[str, Any], bool]:
        """The session ``value`` names, a copy of it as read (kept unchanged: what the
        answer compares with), and whether its cookie must be sent again."""
        if self._in_cookie is not None:
            kept, age = self._in_cookie.verified(value, self.timeout)
            return _clone(kept), kept, age >= self._resign_after
        if not _UUID4.match(value):
            return {}, {}, False
        data = await self._ask(self.backend.resume, value, self.timeout)
        return data, _clone(data), True

    async def commit(self, request: Request, headers: list[tuple[str, str]]) -> None:
        """Save a changed session and add the ``Set-Cookie`` header it needs."""
        session = request.session
        if type(session) is _UnreadSession:  # never read, so never changed: keep the cookie
            return
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
            await self._ask(self.backend.save, session_id, session, self.timeout)
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
            await self._ask(self.backend.save, session_id, {}, self.timeout)

    def _cookie(self, request: Request, value: str, expire: bool = False) -> str:
        secure = self.secure
        if secure is None:
            secure = request.scope.get("scheme") in ("https", "wss")
        max_age = _EXPIRED if expire else f"Max-Age={self.timeout}"
        cookie = f"{SESSION_COOKIE}={value}; Path=/; {max_age}; HttpOnly; SameSite=Lax"
        return cookie + "; Secure" if secure else cookie
