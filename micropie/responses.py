"""Turning handler return values into ASGI responses (SPEC §3).

:func:`split_result` reads what a handler returned into ``(status, body, headers)``;
:func:`send_result` sends that. Plain text and JSON bodies are sent straight to the
ASGI ``send`` with precomputed header bytes; streams go through Starlette's
:class:`~starlette.responses.StreamingResponse`; a Starlette ``Response`` is sent as is.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .streaming import dumps_json, send_stream
from .types import HeaderItems

__all__ = [
    "Headers",
    "drop_unsafe_headers",
    "dumps_json",
    "header_list",
    "send_result",
    "split_result",
]

logger = logging.getLogger("micropie")

#: Response headers as micropie handles them internally: ``(name, value)`` strings.
Headers = list[tuple[str, str]]

HTML_CONTENT_TYPE = b"text/html; charset=utf-8"
JSON_CONTENT_TYPE = b"application/json"
_CONTENT_TYPE = b"content-type"
_CONTENT_LENGTH = b"content-length"
_HTML_HEADER = (_CONTENT_TYPE, HTML_CONTENT_TYPE)
_JSON_HEADER = (_CONTENT_TYPE, JSON_CONTENT_TYPE)


def split_result(result: Any) -> tuple[int, Any, Headers]:
    """Read a handler's return value into ``(status, body, headers)``."""
    if result is None:
        return 204, None, []
    if type(result) is tuple and len(result) in (2, 3) and isinstance(result[0], int):
        headers = header_list(result[2]) if len(result) == 3 else []
        return result[0], result[1], headers
    return 200, result, []


def header_list(headers: HeaderItems | None) -> Headers:
    """Headers given as pairs or a mapping, as a list of ``(name, value)`` strings."""
    if not headers:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def _encode_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    raw: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        if "\r" in name or "\n" in name or "\r" in value or "\n" in value:
            logger.warning("dropped response header %r: CR or LF in name or value", name)
            continue
        raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return raw


def drop_unsafe_headers(response: Response) -> None:
    """Remove headers whose name or value holds CR or LF from a Starlette response."""
    raw = response.raw_headers
    safe = [(name, value) for name, value in raw if not _has_line_break(name + value)]
    if len(safe) != len(raw):
        logger.warning(
            "dropped %d response header(s): CR or LF in name or value", len(raw) - len(safe)
        )
        response.raw_headers = safe


def _has_line_break(data: bytes) -> bool:
    return b"\r" in data or b"\n" in data


def _is_stream(body: Any) -> bool:
    if isinstance(body, str | bytes | bytearray | memoryview | dict | list):
        return False
    return hasattr(body, "__aiter__") or isinstance(body, Iterable)


def _body_bytes(body: Any) -> tuple[bytes, tuple[bytes, bytes]]:
    """Encode a non-streaming body and name its default content type."""
    if isinstance(body, str):
        return body.encode("utf-8"), _HTML_HEADER
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body), _HTML_HEADER
    if isinstance(body, dict | list):
        return dumps_json(body), _JSON_HEADER
    if body is None:
        return b"", _HTML_HEADER
    return str(body).encode("utf-8"), _HTML_HEADER


async def send_result(
    scope: Scope, receive: Receive, send: Send, status: int, body: Any, headers: Headers
) -> None:
    """Send ``body`` with ``status`` and ``headers`` as the response to ``scope``."""
    if type(body) is str and not headers and status >= 200 and status not in (204, 304):
        content = body.encode("utf-8")
        raw_headers = [_HTML_HEADER, (_CONTENT_LENGTH, str(len(content)).encode("latin-1"))]
        await _send_whole(scope, send, status, raw_headers, content)
        return
    if isinstance(body, Response):
        drop_unsafe_headers(body)
        if headers:
            body.raw_headers.extend(_encode_headers(headers))
        await body(scope, receive, send)
        return
    raw_headers = _encode_headers(headers) if headers else []
    if _is_stream(body):
        if not _has_content_type(raw_headers):
            raw_headers.append(_HTML_HEADER)
        await send_stream(scope, receive, send, status, body, raw_headers)
        return
    content, default_type = _body_bytes(body)
    if status in (204, 304) or status < 200:
        content = b""
    elif not _has_content_type(raw_headers):
        raw_headers.append(default_type)
    if status not in (204, 304):
        raw_headers.append((_CONTENT_LENGTH, str(len(content)).encode("latin-1")))
    await _send_whole(scope, send, status, raw_headers, content)


def _has_content_type(raw_headers: list[tuple[bytes, bytes]]) -> bool:
    return any(name == _CONTENT_TYPE for name, _ in raw_headers)


async def _send_whole(
    scope: Scope, send: Send, status: int, raw_headers: list[tuple[bytes, bytes]], content: bytes
) -> None:
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    if scope["method"] == "HEAD":
        content = b""
    await send({"type": "http.response.body", "body": content})


def is_generator_function(func: Any) -> bool:
    """True for (async) generator functions: calling them only creates the stream."""
    target = getattr(func, "__func__", func)
    return inspect.isgeneratorfunction(target) or inspect.isasyncgenfunction(target)
