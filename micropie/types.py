"""Type aliases shared across micropie: ASGI callables and handler return values."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "ASGIApp",
    "Body",
    "HeaderItems",
    "Message",
    "Receive",
    "ResponseReturnValue",
    "Scope",
    "Send",
]

#: Headers as handlers give them: a list of ``(name, value)`` pairs or a mapping.
HeaderItems = Sequence[tuple[str, str]] | Mapping[str, str]

#: A response body a handler may return.
Body = str | bytes | dict[str, Any] | list[Any] | Iterator[Any] | AsyncIterator[Any] | None

#: Everything a handler may return (SPEC §3).
ResponseReturnValue = Body | Response | tuple[int, Any] | tuple[int, Any, HeaderItems]
