"""Streaming response bodies (SPEC §8) and JSON encoding of chunks and bodies.

Handlers return generators, async generators or other iterables; :func:`send_stream`
sends them through Starlette's ``StreamingResponse`` as the client reads, running sync
iterators in the thread pool and closing the source when the client goes away.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

import anyio
import anyio.lowlevel
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from .typed import json_default

__all__ = ["dumps_json", "iterate_stream", "send_stream"]

logger = logging.getLogger("micropie")


def _dumps_stdlib(value: Any) -> bytes:
    plain = _named_tuples_as_dicts(value)
    text = json.dumps(plain, ensure_ascii=False, separators=(",", ":"), default=json_default)
    return text.encode("utf-8")


def _named_tuples_as_dicts(value: Any) -> Any:
    """``value`` with each ``NamedTuple`` in it as a dict of its fields: ``json`` writes
    any tuple as an array without asking ``default`` (orjson asks, and gets the dict)."""
    if isinstance(value, tuple):
        items = [_named_tuples_as_dicts(item) for item in value]
        fields = getattr(value, "_fields", None)
        return dict(zip(fields, items, strict=True)) if fields is not None else items
    if isinstance(value, list):
        return [_named_tuples_as_dicts(item) for item in value]
    if isinstance(value, dict):
        return {key: _named_tuples_as_dicts(item) for key, item in value.items()}
    return value


try:  # orjson is optional (extra "all"); fall back to the standard library.
    import orjson

    _orjson_dumps = orjson.dumps
    _UTC_Z = orjson.OPT_UTC_Z  # "...T12:00:00Z", as Pydantic, msgspec and json_default
    _NON_STR_KEYS = orjson.OPT_NON_STR_KEYS | _UTC_Z

    def dumps_json(value: Any) -> bytes:
        """Serialise ``value`` as compact UTF-8 JSON (orjson when installed)."""
        try:
            return _orjson_dumps(value, json_default, _UTC_Z)
        except TypeError:  # a key that is no str (OPT_NON_STR_KEYS costs every dict a check)
            return _dumps_any_keys(value)

    def _dumps_any_keys(value: Any) -> bytes:
        try:
            return _orjson_dumps(value, json_default, _NON_STR_KEYS)
        except TypeError:  # what orjson refuses (e.g. integers over 64 bits) json may take
            return _dumps_stdlib(value)

except ImportError:  # pragma: no cover - exercised only without orjson
    dumps_json = _dumps_stdlib


class _ClosingStreamingResponse(StreamingResponse):
    """A StreamingResponse that closes its iterator however streaming ends.

    A ``HEAD`` request gets the headers only: the source is closed unread.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "HEAD":
            await self._close_body()
            start = {"type": "http.response.start", "status": self.status_code}
            await send({**start, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await super().__call__(scope, receive, send)

    async def stream_response(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        try:
            await send({**start, "headers": self.raw_headers})
            async for chunk in self.body_iterator:
                if not isinstance(chunk, bytes | memoryview):
                    chunk = chunk.encode(self.charset)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                # A server may accept sends after a disconnect without suspending; let
                # the disconnect listener run so a generator that never awaits stops.
                await anyio.lowlevel.checkpoint()
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            # GeneratorExit: the coroutine is being closed from outside any running loop
            # (a2wsgi drops an abandoned response): nothing can be awaited any more.
            if not isinstance(sys.exc_info()[1], GeneratorExit):
                await self._close_body()

    async def _close_body(self) -> None:
        aclose = getattr(self.body_iterator, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):
                await aclose()


async def send_stream(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    body: Any,
    raw_headers: list[tuple[bytes, bytes]],
) -> None:
    """Stream ``body`` (any iterable or async iterable) as the response."""
    response = _ClosingStreamingResponse(iterate_stream(body), status_code=status)
    response.raw_headers = raw_headers
    await response(scope, receive, send)


_END = object()


async def iterate_stream(body: AsyncIterable[Any] | Iterable[Any]) -> AsyncIterator[bytes]:
    """Yield ``body``'s chunks as bytes; sync iterators run in the thread pool.

    The source is closed when iteration stops for any reason (end, error or the
    client going away), so a generator's ``finally`` always runs.
    """
    if isinstance(body, AsyncIterable):
        source = body.__aiter__()
        try:
            async for chunk in source:
                yield _chunk_bytes(chunk)
        finally:
            aclose = getattr(source, "aclose", None)
            if aclose is not None:
                await aclose()
        return
    iterator = iter(body)
    try:
        while True:
            chunk = await run_in_threadpool(next, iterator, _END)
            if chunk is _END:
                break
            yield _chunk_bytes(chunk)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:  # a generator's ``finally`` may block: run it in a thread
            with anyio.CancelScope(shield=True):
                await run_in_threadpool(close)


def _chunk_bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    if isinstance(chunk, bytearray | memoryview):
        return bytes(chunk)
    if isinstance(chunk, dict | list):
        return dumps_json(chunk)
    return str(chunk).encode("utf-8")
