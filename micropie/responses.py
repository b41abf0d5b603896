"""Turning handler return values into ASGI responses (SPEC §3).

:func:`split_result` reads what a handler returned into ``(status, body, headers)``;
:func:`send_result` sends that. Plain text and JSON bodies are sent straight to the
ASGI ``send`` with precomputed header bytes; streams go through Starlette's
:class:`~starlette.responses.StreamingResponse`; a Starlette ``Response`` is sent as is.
"""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .returns import JSONBody
from .streaming import dumps_json, send_stream
from .typed import model_encoder
from .types import HeaderItems

__all__ = [
    "HTML_HEADER",
    "LENGTH_HEADERS",
    "Headers",
    "drop_unsafe_headers",
    "dumps_json",
    "header_list",
    "sendable_headers",
    "sendable_value",
    "is_whole_body",
    "length_header",
    "send_result",
    "split_result",
    "whole_answer",
]

logger = logging.getLogger("micropie")

#: Response headers as micropie handles them internally: ``(name, value)`` strings.
Headers = list[tuple[str, str]]

HTML_CONTENT_TYPE = b"text/html; charset=utf-8"
JSON_CONTENT_TYPE = b"application/json"
_CONTENT_TYPE = b"content-type"
_CONTENT_LENGTH = b"content-length"
HTML_HEADER = (_CONTENT_TYPE, HTML_CONTENT_TYPE)
_JSON_HEADER = (_CONTENT_TYPE, JSON_CONTENT_TYPE)
#: ``content-length`` headers for the shorter bodies, built once (index: the length).
LENGTH_HEADERS = tuple((_CONTENT_LENGTH, str(size).encode("latin-1")) for size in range(4096))

# What HTTP/1.1 servers (h11, httptools) accept: a token as name; a value without control
# characters other than TAB, without DEL and within latin-1, with no surrounding blanks.
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_RAW_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f\u0100-\U0010ffff]")
_RAW_UNSENDABLE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
_BLANKS = " \t"
# Built once: a ``str | bytes`` union in ``isinstance`` is made anew at every call.
_BYTES_TYPES = (bytes, bytearray, memoryview)
_JSON_TYPES = (dict, list)
_WHOLE_TYPES = (str, *_BYTES_TYPES, *_JSON_TYPES)
_PLAIN_TYPES = (str, bytes, *_JSON_TYPES)
_DROPPED = (
    "dropped response header %r: CR or LF, another control character or text beyond "
    "latin-1 in its name or value"
)


def split_result(result: Any) -> tuple[int, Any, Headers]:
    """Read a handler's return value into ``(status, body, headers)``."""
    if result is None:
        return 204, None, []
    if type(result) is tuple and len(result) in (2, 3) and isinstance(result[0], int):
        headers = header_list(result[2]) if len(result) == 3 else []
        return result[0], result[1], headers
    return 200, result, []


def length_header(size: int) -> tuple[bytes, bytes]:
    """The raw ``content-length`` header for a body of ``size`` bytes."""
    if size < len(LENGTH_HEADERS):
        return LENGTH_HEADERS[size]
    return _CONTENT_LENGTH, str(size).encode("latin-1")


#: :func:`whole_answer`'s answer for a result it does not answer itself.
_NOT_WHOLE: tuple[bytes, None] = (b"", None)


def whole_answer(result: Any) -> tuple[bytes, list[tuple[bytes, bytes]] | None]:
    """Body and raw headers for a ``str`` (HTML), ``dict`` or ``list`` (JSON) result
    answered ``200`` with no headers of its own; headers ``None`` for any other result."""
    kind = type(result)
    if kind is str:
        content = result.encode()
        header = HTML_HEADER
    elif kind is dict or kind is list:
        content = dumps_json(result)
        header = _JSON_HEADER
    else:
        return _NOT_WHOLE
    size = len(content)
    if size < len(LENGTH_HEADERS):
        return content, [header, LENGTH_HEADERS[size]]
    return content, [header, length_header(size)]


def header_list(headers: HeaderItems | None) -> Headers:
    """Headers given as pairs or a mapping, as a list of ``(name, value)`` strings."""
    if not headers:
        return []
    if isinstance(headers, Mapping):
        return [(str(k), str(v)) for k, v in headers.items()]
    return [(str(k), str(v)) for k, v in headers]


def sendable_value(name: str, value: str) -> str | None:
    """``value`` without surrounding blanks, or ``None`` (logged) if no server can send it.

    A server sends a token ``name`` with a value free of CR, LF, NUL, DEL and other
    control characters (TAB aside) and within latin-1; anything else is dropped.
    """
    value = value.strip(_BLANKS)
    # A printable ASCII value (the commonest) holds nothing _UNSENDABLE finds: not searched.
    if _TOKEN.fullmatch(name) and (
        (value.isascii() and value.isprintable()) or not _UNSENDABLE.search(value)
    ):
        return value
    logger.warning(_DROPPED, name)
    return None


def sendable_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers of ``headers`` a server can send (see :func:`sendable_value`)."""
    sendable = {name: sendable_value(name, value) for name, value in headers.items()}
    return {name: value for name, value in sendable.items() if value is not None}


def _encode_headers(headers: Headers) -> list[tuple[bytes, bytes]]:
    raw: list[tuple[bytes, bytes]] = []
    for name, value in headers:
        sendable = sendable_value(name, value)
        if sendable is not None:
            raw.append((name.lower().encode("ascii"), sendable.encode("latin-1")))
    return raw


def drop_unsafe_headers(response: Response) -> None:
    """Remove headers a server cannot send (see :func:`sendable_value`) from ``response``."""
    raw = response.raw_headers
    safe = [(name, value.strip(b" \t")) for name, value in raw]
    safe = [(name, value) for name, value in safe if _is_sendable_raw(name, value)]
    if safe != raw:
        raw[:] = safe  # in place: the response's MutableHeaders share this list


def _is_sendable_raw(name: bytes, value: bytes) -> bool:
    if _RAW_TOKEN.fullmatch(name) and not _RAW_UNSENDABLE.search(value):
        return True
    logger.warning(_DROPPED, name.decode("latin-1"))
    return False


def _is_stream(body: Any) -> bool:
    if isinstance(body, _WHOLE_TYPES):
        return False
    if model_encoder(type(body)) is not None:  # a model is iterable only by accident
        return False
    return hasattr(body, "__aiter__") or isinstance(body, Iterable)


def _refuse_body_first(body: tuple[Any, ...]) -> None:
    """A ``(body, status)`` tuple (Flask's order) would be streamed as its items' text
    (``"Not found404"`` answered 200): refused, naming micropie's order."""
    if len(body) in (2, 3) and type(body[1]) is int and 100 <= body[1] <= 599:
        if isinstance(body[0], str | bytes | dict | list):
            rest = ", headers" if len(body) == 3 else ""
            raise TypeError(
                f"a handler returned (body, {body[1]}{rest}): micropie's answer tuple puts the "
                f"status first, as MicroPie's does: write `return {body[1]}, body{rest}`"
            )


def is_whole_body(body: Any) -> bool:
    """Whether ``body`` is sent in one piece (not a stream or a Starlette response)."""
    if body is None or isinstance(body, _PLAIN_TYPES):
        return True
    return model_encoder(type(body)) is not None


def _body_bytes(body: Any) -> tuple[bytes, tuple[bytes, bytes]]:
    """Encode a non-streaming body and name its default content type."""
    if isinstance(body, str):
        return body.encode("utf-8"), HTML_HEADER
    if isinstance(body, _BYTES_TYPES):
        return bytes(body), _JSON_HEADER if type(body) is JSONBody else HTML_HEADER
    if isinstance(body, _JSON_TYPES):
        return dumps_json(body), _JSON_HEADER
    if body is None:
        return b"", HTML_HEADER
    encode = model_encoder(type(body))
    if encode is not None:
        return encode(body), _JSON_HEADER
    if inspect.iscoroutine(body):
        name = str(getattr(body, "__qualname__", "")).rpartition("<locals>.")[2]
        body.close()
        raise TypeError(
            f"a handler returned a coroutine: await it (`return await ...`), in an "
            f"`async def` handler (a plain `def` cannot await); it returned {name}() unawaited"
        )
    return str(body).encode("utf-8"), HTML_HEADER


async def send_result(
    scope: Scope, receive: Receive, send: Send, status: int, body: Any, headers: Headers
) -> None:
    """Send ``body`` with ``status`` and ``headers`` as the response to ``scope``."""
    if type(body) is str and not headers and status >= 200 and status not in (204, 304):
        content = body.encode("utf-8")
        raw_headers = [HTML_HEADER, length_header(len(content))]
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        if scope["method"] == "HEAD":
            content = b""
        await send({"type": "http.response.body", "body": content})
        return
    if isinstance(body, Response):
        drop_unsafe_headers(body)
        if headers:
            body.raw_headers.extend(_encode_headers(headers))
        await body(scope, receive, send)
        return
    raw_headers = _encode_headers(headers) if headers else []
    if _is_stream(body):
        if type(body) is tuple:
            _refuse_body_first(body)
        if not _has_content_type(raw_headers):
            raw_headers.append(HTML_HEADER)
        await send_stream(scope, receive, send, status, body, raw_headers)
        return
    content, default_type = _body_bytes(body)
    if status in (204, 304) or status < 200:
        content = b""
    elif not _has_content_type(raw_headers):
        raw_headers.append(default_type)
    if status not in (204, 304):
        raw_headers.append(length_header(len(content)))
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
