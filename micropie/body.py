"""Reading and parsing request bodies within limits (SPEC §2, §4, §8).

The body is read only when the request has one and only as far as the limits allow:
an announced ``Content-Length`` over ``max_body_size`` is refused before reading,
a streamed body is cut off as soon as it passes the limit, and each chunk must arrive
within ``body_timeout`` seconds.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive

from .exceptions import bad_request
from .request import Request
from .streaming import dumps_json

_asyncio_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+

__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "check_content_length",
    "loads_json",
    "parse_body",
    "read_body",
]

MiB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Body limits; ``None`` means unlimited."""

    max_body_size: int | None = 16 * MiB
    max_form_field_size: int | None = 1 * MiB
    max_form_parts: int | None = 1000
    body_timeout: float | None = 5.0

    def with_overrides(self, overrides: dict[str, Any]) -> Limits:
        """These limits with a handler's ``@limits(...)`` applied."""
        return replace(self, **overrides) if overrides else self


DEFAULT_LIMITS = Limits()


def too_large() -> HTTPException:
    return HTTPException(413, "413 Payload Too Large")


def timed_out() -> HTTPException:
    return HTTPException(408, "408 Request Timeout: Failed to receive body")


try:
    import orjson

    def loads_json(data: bytes) -> Any:
        """Parse JSON bytes (orjson when installed); raises ``ValueError`` when malformed."""
        return orjson.loads(data)

except ImportError:  # pragma: no cover - exercised only without orjson

    def loads_json(data: bytes) -> Any:
        """Parse JSON bytes (orjson when installed); raises ``ValueError`` when malformed."""
        try:
            return json.loads(data)
        except RecursionError as exc:
            raise ValueError("JSON nested too deeply") from exc


def content_length(request: Request) -> int | None:
    """The announced body length; 400 when the header is not a plain number."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if not value.isdigit() or not value.isascii():
        raise bad_request("Invalid Content-Length header")
    return int(value)


async def receive_within(receive: Receive, timeout: float | None) -> Message:
    """``await receive()``, raising ``TimeoutError`` after ``timeout`` seconds."""
    if timeout is None:
        return await receive()
    if _asyncio_timeout is not None and _running_asyncio():
        async with _asyncio_timeout(timeout):  # cheaper than anyio's cancel scopes
            return await receive()
    with anyio.fail_after(timeout):
        return await receive()


def _running_asyncio() -> bool:
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # another event loop library (e.g. trio through anyio)
        return False


def check_content_length(request: Request, limits: Limits) -> None:
    """Refuse a body whose announced length is over ``max_body_size`` before reading it."""
    length = content_length(request)
    maximum = limits.max_body_size
    if maximum is not None and length is not None and length > maximum:
        raise too_large()


async def receive_chunk(request: Request, timeout: float | None) -> bytes | None:
    """The next body chunk, ``None`` at the end; 408 when it does not arrive in time."""
    try:
        message = await receive_within(request._receive, timeout)
    except TimeoutError:
        raise timed_out() from None
    if message["type"] == "http.disconnect":
        raise ClientDisconnect()
    chunk: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        request._body_complete = True
    return chunk


async def read_body(request: Request, limits: Limits | None) -> bytes:
    """Read the whole body, enforcing ``max_body_size`` and ``body_timeout``."""
    limits = limits or request._limits or DEFAULT_LIMITS
    check_content_length(request, limits)
    return await _read_checked_body(request, limits)


async def _read_checked_body(request: Request, limits: Limits) -> bytes:
    """Read the whole body whose announced length was already checked."""
    maximum = limits.max_body_size
    chunks: list[bytes] = []
    size = 0
    request._body_complete = False
    while not request._body_complete:
        chunk = await receive_chunk(request, limits.body_timeout)
        if chunk:
            size += len(chunk)
            if maximum is not None and size > maximum:
                raise too_large()
            chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body
    return body


def _parse_urlencoded(request: Request, body: bytes, limits: Limits) -> None:
    try:
        fields = parse_qs(
            body.decode("utf-8", "replace"),
            keep_blank_values=True,
            errors="replace",
            max_num_fields=limits.max_form_parts,
        )
    except ValueError:
        raise too_large() from None
    field_limit = limits.max_form_field_size
    if field_limit is not None:
        for values in fields.values():
            if any(len(value) > field_limit for value in values):
                raise too_large()
    request.body_params = fields


def _parse_json(request: Request, body: bytes) -> None:
    if not body.strip():
        return
    try:
        data = loads_json(body)
    except (ValueError, RecursionError):
        raise bad_request("Bad JSON") from None
    if _too_deep(body, data):
        raise bad_request("Bad JSON")
    request.get_json = data
    if isinstance(data, dict):
        request._json_object = data
        request.body_params = {str(key): [_mirror(value)] for key, value in data.items()}


#: Deepest JSON nesting accepted; deeper values could not be encoded again (orjson's limit).
MAX_JSON_DEPTH = 255


def _too_deep(body: bytes, data: Any) -> bool:
    """Whether parsed JSON nests deeper than :data:`MAX_JSON_DEPTH`."""
    if body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False  # cheap common case: not enough brackets to be that deep
    level: list[tuple[Any, int]] = [(data, 0)]
    while level:
        value, depth = level.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        if isinstance(value, dict):
            level.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            level.extend((item, depth + 1) for item in value)
    return False


def _mirror(value: Any) -> str:
    """A JSON value as ``body_params`` shows it: strings as they are, others as JSON."""
    if isinstance(value, str):
        return value
    return dumps_json(value).decode("utf-8")


def media_type(request: Request) -> str:
    """The request's Content-Type without parameters, lower case."""
    return request.headers.get("content-type", "").partition(";")[0].strip().lower()


async def parse_body(request: Request, limits: Limits) -> None:
    """Parse a form, JSON or multipart body into the request's body attributes.

    An announced length over ``max_body_size`` is refused whatever the content type.
    """
    check_content_length(request, limits)
    kind = media_type(request)
    if kind == "multipart/form-data":
        from .uploads import start_multipart

        await start_multipart(request, limits)
    elif kind == "application/x-www-form-urlencoded":
        _parse_urlencoded(request, await _read_checked_body(request, limits), limits)
    elif kind == "application/json" or kind.endswith("+json"):
        _parse_json(request, await _read_checked_body(request, limits))
