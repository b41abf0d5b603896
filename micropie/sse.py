"""Server-sent events (SPEC §8): format events and stream them as ``text/event-stream``.

A handler may return ``(200, gen(), [("Content-Type", "text/event-stream")])`` with an
async generator yielding :func:`sse_event` strings, or the shorter
``EventSourceResponse(gen())``, which formats what it yields, sets the headers and can
send keep-alive comments while the source is quiet::

    async def clock(self):
        async def ticks():
            while True:
                yield {"data": time.strftime("%H:%M:%S"), "event": "tick"}
                await asyncio.sleep(1)
        return EventSourceResponse(ticks(), ping=15)
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

import anyio
from starlette.background import BackgroundTask

from .streaming import _ClosingStreamingResponse, dumps_json

__all__ = ["SSE_HEADERS", "EventSourceResponse", "sse_comment", "sse_event"]

#: Headers for an event stream: no caching, no buffering by proxies such as nginx.
SSE_HEADERS = {
    "Content-Type": "text/event-stream; charset=utf-8",
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",
}


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _field(name: str, value: object) -> str:
    text = str(value)
    if "\n" in text or "\r" in text or "\0" in text:
        raise ValueError(f"SSE {name} must be one line without NUL: {text!r}")
    return f"{name}: {text}\n"


def sse_event(
    data: Any = "",
    *,
    event: str | None = None,
    id: str | int | None = None,
    retry: int | None = None,
) -> str:
    """Format one server-sent event, ending with its blank line.

    ``data`` is text (each line becomes a ``data:`` line) or a dict/list sent as JSON;
    ``event``, ``id`` and ``retry`` (milliseconds) must each be a single line.
    """
    if isinstance(data, dict | list):
        data = dumps_json(data).decode("utf-8")
    elif isinstance(data, bytes):
        data = data.decode("utf-8")
    lines = []
    if event is not None:
        lines.append(_field("event", event))
    if id is not None:
        lines.append(_field("id", id))
    if retry is not None:
        lines.append(_field("retry", int(retry)))
    lines.extend(f"data: {line}\n" for line in _LINE_BREAK.split(str(data)))
    return "".join(lines) + "\n"


def sse_comment(text: str = "") -> str:
    """A comment line (ignored by browsers; keeps idle connections open)."""
    return "".join(f": {line}\n" for line in _LINE_BREAK.split(text)) + "\n"


def _encode(item: Any) -> str:
    if isinstance(item, Mapping):
        return sse_event(**item)
    return sse_event(item)


class EventSourceResponse(_ClosingStreamingResponse):
    """Stream an (async) iterable as server-sent events.

    Each item is a mapping of :func:`sse_event` arguments (``{"data": ..., "event":
    ...}``) or the data itself. With ``ping`` (seconds), a comment is sent whenever
    the source has been quiet that long. The source is closed when the client leaves.
    """

    def __init__(
        self,
        source: AsyncIterable[Any],
        *,
        ping: float | None = None,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        background: BackgroundTask | None = None,
    ) -> None:
        super().__init__(
            _events(source, ping),
            status_code=status_code,
            headers={**SSE_HEADERS, **(headers or {})},
            background=background,
        )


async def _events(source: AsyncIterable[Any], ping: float | None) -> AsyncIterator[str]:
    iterator = source.__aiter__()
    try:
        if ping is None:
            async for item in iterator:
                yield _encode(item)
        else:
            async for text in _with_pings(iterator, ping):
                yield text
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            with anyio.CancelScope(shield=True):  # its cleanup runs whole, client gone or not
                await aclose()


async def _with_pings(iterator: AsyncIterator[Any], ping: float) -> AsyncIterator[str]:
    """Events from ``iterator``, with a comment after each ``ping`` seconds of quiet."""
    pending: asyncio.Future[Any] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(iterator.__anext__())
            done, _ = await asyncio.wait({pending}, timeout=ping)
            if not done:
                yield sse_comment("ping")
                continue
            try:
                item = pending.result()
            except StopAsyncIteration:
                return
            pending = None
            yield _encode(item)
    finally:
        if pending is not None and not pending.done():
            pending.cancel()
            # Shielded: when the client left, this scope is cancelled too, and the source
            # must have stopped before it is closed (its cleanup may take a few turns).
            with anyio.CancelScope(shield=True):
                await asyncio.wait({pending})
