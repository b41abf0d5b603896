"""Reading and parsing request bodies within limits (SPEC §2, §4, §8).

The body is read only when the request has one and only as far as the limits allow:
an announced ``Content-Length`` over ``max_body_size`` is refused before reading,
a streamed body is cut off as soon as it passes the limit, and one ``body_timeout``
budget of waiting covers the whole body (:func:`receive_budgeted`).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import re
import threading
import time
import types
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.types import Message, Receive, Scope

from .exceptions import bad_request
from .large_bodies import dumps_in_chunks, parse_frozen, release
from .request import Request, announced, raw_headers
from .streaming import dumps_json
from .urlencoded import TooManyFields, parse_urlencoded

_asyncio_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+

__all__ = [
    "DEFAULT_LIMITS",
    "MIN_BODY_RATE",
    "Limits",
    "check_content_length",
    "loads_checked",
    "loads_json",
    "parse_body",
    "read_body",
    "receive_budgeted",
]

MiB = 1024 * 1024

#: A receive() being awaited step by step (:func:`_delivered`).
Steps = Generator[Any, Any, None]


@dataclass(frozen=True)
class Limits:
    """Body limits; ``None`` means unlimited.

    ``max_buffer_size`` bounds what one request holds in memory at once: a JSON or
    urlencoded body, multipart text fields, and file data not yet read by the handler
    (past it, file parts wait for the handler; anything else answers 413).
    """

    max_body_size: int | None = 16 * MiB
    max_form_field_size: int | None = 1 * MiB
    max_form_parts: int | None = 1000
    body_timeout: float | None = 5.0
    max_buffer_size: int | None = 16 * MiB
    #: The largest body that may be read whole into memory before the handler.
    max_buffered_body: int | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        sizes = [size for size in (self.max_body_size, self.max_buffer_size) if size is not None]
        object.__setattr__(self, "max_buffered_body", min(sizes) if sizes else None)

    def with_overrides(self, overrides: dict[str, Any]) -> Limits:
        """These limits with a handler's ``@limits(...)`` applied."""
        return replace(self, **overrides) if overrides else self


DEFAULT_LIMITS = Limits()


def too_large() -> HTTPException:
    return HTTPException(413, "413 Payload Too Large")


def timed_out() -> HTTPException:
    return HTTPException(408, "408 Request Timeout: Failed to receive body")


def busy() -> HTTPException:
    return HTTPException(
        503,
        "503 Service Unavailable: too many large bodies at once, try again",
        headers={"Retry-After": "1"},
    )


try:
    from .json_pieces import PIECE_BYTES, PiecesFailed, has_long_digits, loads_in_pieces
except ImportError:  # pragma: no cover - without orjson
    loads_in_pieces = None  # type: ignore[assignment]
    PIECE_BYTES = 0

try:
    import orjson

    def loads_json(data: bytes) -> Any:
        """Parse JSON bytes; raises ``ValueError`` when malformed.

        orjson parses; a body with integers orjson cannot hold exactly (over 64 bits:
        it makes them floats, or refuses them past the float range) is parsed by the
        json module instead, so every integer keeps its value (up to Python's
        4,300-digit conversion limit).
        """
        if has_long_digits(data):
            return _loads_exact(data)
        return orjson.loads(data)

    def _nests_too_deep(data: Any) -> bool:
        # orjson encodes at most MAX_JSON_DEPTH levels: let it do the walk, in C.
        try:
            orjson.dumps(data)
        except orjson.JSONEncodeError as exc:
            return "ecursion" in str(exc) or _walk_too_deep(data)
        return False

except ImportError:  # pragma: no cover - exercised only without orjson

    def loads_json(data: bytes) -> Any:
        """Parse JSON bytes (orjson when installed); raises ``ValueError`` when malformed."""
        return _loads_exact(data)

    def _nests_too_deep(data: Any) -> bool:
        return _walk_too_deep(data)


#: An escaped UTF-16 surrogate: the json module lets a lone one through, orjson does not.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _loads_exact(data: bytes) -> Any:
    """The json module's parse (exact integers), refusing what orjson refuses.

    The Python-level object hook lets other threads (the event loop) run while a large
    body is parsed in a worker thread.
    """
    value = _loads_stdlib_text(data.decode("utf-8"))
    if _SURROGATE_ESCAPE.search(data) is not None:
        json.dumps(value, ensure_ascii=False).encode("utf-8")  # lone surrogate: ValueError
    return value


def _loads_stdlib_text(text: str) -> Any:
    try:
        return json.loads(
            text,
            object_pairs_hook=_object,
            parse_float=_finite,
            parse_int=_integer,
            parse_constant=_no_constant,
        )
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc


def _finite(text: str) -> float:
    """A JSON number as a float, refusing one beyond the float range (``1e400``), as
    orjson does."""
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"number out of range: {text[:20]}")
    return number


def _integer(text: str) -> int:
    """A JSON integer; a Python-level call, like the object hook, so a long array of
    numbers parsed in a worker thread lets the event loop run too."""
    return int(text)


def _no_constant(name: str) -> Any:
    """``NaN``, ``Infinity`` and ``-Infinity`` are no JSON: refused, as orjson does."""
    raise ValueError(f"not JSON: {name}")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    return dict(pairs)


def body_headers(scope: Scope) -> tuple[str, int | None]:
    """The body's media type (lower case, no parameters) and its announced length.

    Read as :attr:`Request.headers` shows them, without building that dict; 400 when the
    length is not a plain number. One pass matches the lower-case names ASGI servers
    send (:func:`~micropie.request.announced`); a header sent twice, or a missing type
    that may be there in another case, takes the general reading.
    """
    _, _, content_type, length = announced(scope)
    return announced_body(scope, content_type, length)


def announced_body(
    scope: Scope, content_type: bytes | None, length: bytes | None
) -> tuple[str, int | None]:
    """:func:`body_headers` from the raw values :func:`~micropie.request.announced` read."""
    if content_type is None:
        return _body_headers_joined(scope)
    if length is not None and length.isdigit() and len(length) <= _LENGTH_DIGITS:
        return _media_type(content_type), int(length)
    return _media_type(content_type), _announced_length(length)


def _body_headers_joined(scope: Scope) -> tuple[str, int | None]:
    """:func:`body_headers` for names in any case, repeats joined."""
    content_type, length = raw_headers(scope, b"content-type", b"content-length")
    return _media_type(content_type), _announced_length(length)


#: Content-Type values that are their own media type (no parameters, lower case).
_PLAIN_TYPES = {
    kind.encode(): kind
    for kind in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
}


def _media_type(raw: bytes | None) -> str:
    if raw is None:
        return ""
    kind = _PLAIN_TYPES.get(raw)
    if kind is None:
        kind = raw.decode("latin-1").partition(";")[0].strip().lower()
    return kind


def _announced_length(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    if raw.isdigit():  # ASCII digits only
        return _digits_value(raw)
    value = raw.decode("latin-1").strip()
    if not value:
        return None
    if not value.isdigit() or not value.isascii():
        raise bad_request("Invalid Content-Length header")
    return _digits_value(value.encode("ascii"))


#: A length of more digits than this (leading zeros aside) is past any server's limit.
_LENGTH_DIGITS = 20


def _digits_value(digits: bytes) -> int:
    """The value of ASCII ``digits``, or ``2**64`` when it has more than 20 digits:
    uvicorn's httptools lets ``0000…2`` through, and Python refuses to convert more
    than 4,300 digits (a 500 before)."""
    if len(digits) <= _LENGTH_DIGITS:
        return int(digits)
    significant = digits.lstrip(b"0")
    return int(significant or b"0") if len(significant) <= _LENGTH_DIGITS else 2**64


#: The slowest a body may arrive, in bytes per second, once ``body_timeout`` is spent.
MIN_BODY_RATE = 1024


async def receive_budgeted(
    receive: Receive, left: float, timeout: float | None
) -> tuple[Message, float]:
    """The next message from ``receive`` and the seconds of ``body_timeout`` then left.

    ``left`` is what the body has left of its one budget of waiting (``timeout``
    seconds; ``None``: no limit): every wait for a chunk is taken from it, and each
    byte that arrives gives back ``1 / MIN_BODY_RATE`` s, never more than ``timeout``
    in all. A body that stops gets ``TimeoutError`` (the 408) after ``timeout``
    seconds, as does one trickled slower than :data:`MIN_BODY_RATE` (a byte a second
    holds no request open for ever), while a slow honest upload goes on as long as it
    keeps that pace; a timer per chunk would wait for a trickle for ever. Time the app
    spends not reading (an upload's handler catching up) is not counted, and a message
    that is already there (a body the server has buffered) is taken without arming a
    timer or reading the clock.
    """
    if timeout is None:
        return await receive(), left
    box: list[Message] = []
    steps = _delivered(_stepped(receive()), box)
    step = next(steps, None)
    if not box:  # it waits
        left = await _wait_budgeted(steps, step, left)
    message = box[0]
    return message, _credited(message, left, timeout)


def _stepped(awaitable: Awaitable[Message]) -> Generator[Any, Any, Message]:
    """What to step by hand to await ``awaitable`` (a coroutine is stepped itself)."""
    if type(awaitable) is types.CoroutineType:
        return awaitable  # type: ignore[return-value]
    return awaitable.__await__()


def _delivered(waiting: Generator[Any, Any, Message], box: list[Message]) -> Steps:
    """Await ``waiting`` (as :func:`_stepped` gives it) into ``box``, stepped by hand.

    The first step, ``next(steps, None)``, takes a message that is already there without
    an exception: a generator that returns ``None`` ends without ``StopIteration``,
    where stepping ``waiting`` itself raises one to hand the message over (some 2,500
    instructions per body on CPython 3.11).
    """
    box.append((yield from waiting))


types.coroutine(_delivered)  # in place: it may await a coroutine


async def _wait_budgeted(steps: Steps, step: Any, left: float) -> float:
    """Go on with ``steps`` (its first step yielded ``step``), ``left`` s at most; what
    is then left."""
    started = time.monotonic()
    try:
        await _wait_for(steps, step, max(left, 0.0))
    finally:
        left -= time.monotonic() - started
    return left


def _credited(message: Message, left: float, timeout: float) -> float:
    """``left`` with the credit of ``message``'s bytes (when more are to come)."""
    if message.get("more_body"):  # credit matters only for the waits to come
        left = min(left + len(message.get("body", b"")) / MIN_BODY_RATE, timeout)
    return left


async def _wait_for(steps: Steps, step: Any, timeout: float) -> None:
    """Go on with ``steps`` (its first step yielded ``step``) for ``timeout`` s."""
    if _asyncio_timeout is not None and _running_asyncio():
        async with _asyncio_timeout(timeout):  # cheaper than anyio's cancel scopes
            await _resume(steps, step)
            return
    with anyio.fail_after(timeout):
        await _resume(steps, step)


@types.coroutine
def _resume(waiting: Steps, step: Any) -> Steps:
    """Go on awaiting ``waiting``, whose first step yielded ``step`` (as ``await`` would)."""
    while True:
        try:
            sent = yield step
        except GeneratorExit:
            waiting.close()
            raise
        except BaseException as exc:
            try:
                step = waiting.throw(exc)
            except StopIteration:
                return
        else:
            try:
                step = waiting.send(sent)
            except StopIteration:
                return


def _running_asyncio() -> bool:
    try:
        return asyncio.current_task() is not None
    except RuntimeError:  # another event loop library (e.g. trio through anyio)
        return False


def check_content_length(request: Request, limits: Limits, maximum: int | None = None) -> None:
    """Refuse a body announced over ``maximum`` (``max_body_size``) before reading it."""
    _refuse_announced(body_headers(request.scope)[1], limits, maximum)


def _refuse_announced(length: int | None, limits: Limits, maximum: int | None = None) -> None:
    if maximum is None:
        maximum = limits.max_body_size
    if maximum is not None and length is not None and length > maximum:
        raise too_large()


async def read_body(request: Request, limits: Limits | None) -> bytes:
    """Read the whole body, enforcing ``max_body_size`` and ``body_timeout``."""
    limits = limits or request._limits or DEFAULT_LIMITS
    check_content_length(request, limits)
    return await _read_checked_body(request, limits)


async def _read_checked_body(request: Request, limits: Limits, maximum: int | None = None) -> bytes:
    """Read the whole body (at most ``maximum``, default ``max_body_size``) whose
    announced length was already checked.

    A body the server has buffered whole (one message) is taken as it is, at once.
    """
    if maximum is None:
        maximum = limits.max_body_size
    timeout = limits.body_timeout
    receive = request._receive
    request._body_complete = False
    if timeout is None:
        message = await receive()
        left = 0.0
    else:  # receive_budgeted's first step, inline: the commonest body is there already
        waiting: Any = receive()  # stepped as _stepped would (the call costs)
        if type(waiting) is not types.CoroutineType:
            waiting = waiting.__await__()
        box: list[Message] = []
        steps = _delivered(waiting, box)
        step = next(steps, None)
        if box:
            left = timeout  # a message that is there took nothing from the budget
        else:
            try:
                left = await _wait_budgeted(steps, step, timeout)
            except TimeoutError:
                raise timed_out() from None
        message = box[0]
    if message["type"] == "http.request" and not message.get("more_body", False):
        request._body_complete = True
        body: bytes = message.get("body", b"")
        if maximum is not None and len(body) > maximum:
            raise too_large()
        request._body = body
        return body
    if timeout is not None:
        left = _credited(message, left, timeout)
    return await _read_rest(request, message, left, timeout, maximum)


async def _read_rest(
    request: Request, message: Message, left: float, timeout: float | None, maximum: int | None
) -> bytes:
    """Read a body from its first ``message`` on (``left``: of its ``body_timeout``)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if not message.get("more_body", False):
            request._body_complete = True
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if maximum is not None and size > maximum:
                raise too_large()
            chunks.append(chunk)
        if request._body_complete:
            break
        try:
            message, left = await receive_budgeted(request._receive, left, timeout)
        except TimeoutError:
            raise timed_out() from None
    body = b"".join(chunks)
    request._body = body
    return body


#: Bodies longer than this are parsed in a worker thread, so the event loop keeps serving
#: other requests meanwhile (parsing 16 MiB of small JSON containers takes seconds).
THREAD_PARSE_BYTES = 64 * 1024

#: Bytes of large bodies (over ``THREAD_PARSE_BYTES``) parsed and kept at once in this
#: process. Parsed, a JSON body of small containers takes about 25 times its size
#: (16 MiB of ``{},`` is 430 MiB of dicts) until its request ends, and a client choosing
#: a long-running handler (a stream) decides when that is: past this budget a large body
#: is answered 503 (``Retry-After: 1``) instead, so a few such clients cannot exhaust the
#: memory of the process. One body is always admitted, whatever its size.
LARGE_BODY_BUDGET = 32 * 1024 * 1024


class _LargeBodies:
    """The bytes of large bodies parsed and kept at once (any thread, any event loop)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held = 0

    def take(self, size: int) -> bool:
        """Count ``size`` bytes in, unless that goes over :data:`LARGE_BODY_BUDGET`."""
        with self.lock:
            if self.held and self.held + size > LARGE_BODY_BUDGET:
                return False
            self.held += size
            return True

    def give_back(self, size: int) -> None:
        with self.lock:
            self.held -= size


large_bodies = _LargeBodies()

#: Deepest JSON nesting accepted (levels of arrays and objects): orjson encodes no deeper.
MAX_JSON_DEPTH = 254

#: ``(get_json, JSON object, body_params)``; ``body_params`` ``None`` until mirrored.
BodyFields = tuple[Any, dict[str, Any] | None, dict[str, list[str]] | None]


def urlencoded_fields(body: bytes, limits: Limits) -> BodyFields:
    """A form body as ``(get_json, json object, body_params)``; 413 past the form limits."""
    try:
        fields = parse_urlencoded(body.decode("utf-8", "replace"), limits.max_form_parts)
    except TooManyFields:
        raise too_large() from None
    field_limit = limits.max_form_field_size
    if field_limit is not None and len(body) > field_limit:  # no value is longer than the body
        for values in fields.values():
            if any(len(value) > field_limit for value in values):
                raise too_large()
    return {}, None, fields


def json_fields(body: bytes, limits: Limits) -> BodyFields:
    """A JSON body as ``(get_json, json object, body_params)``; 400 when malformed.

    An object's ``body_params`` are left to :func:`mirror_json`, when first asked for.
    """
    if not body or body.isspace():  # as body.strip() without its copy
        return {}, None, {}
    try:
        data = loads_checked(body)
    except (ValueError, RecursionError):
        raise bad_request("Bad JSON") from None
    if not isinstance(data, dict):
        return data, None, {}
    return data, data, None


def mirror_json(data: dict[str, Any] | None) -> dict[str, list[str]]:
    """A JSON object as ``body_params`` shows it: ``{key: [value as a string]}``."""
    if data is None:
        return {}
    return {str(key): [_mirror(value)] for key, value in data.items()}


def _parse_whole(
    parse: Callable[[bytes, Limits], BodyFields], body: bytes, limits: Limits
) -> BodyFields:
    """``parse(body, limits)`` with ``body_params`` mirrored now (a large body, in a thread)."""
    data, json_object, params = parse(body, limits)
    return data, json_object, mirror_json(json_object) if params is None else params


def loads_checked(body: bytes) -> Any:
    """The parsed JSON ``body``; ``ValueError`` when malformed or nested too deep.

    A body too large for one piece is parsed in pieces where it can be, so a worker
    thread parsing it lets the event loop run in between.
    """
    if loads_in_pieces is not None and len(body) > PIECE_BYTES:
        try:
            return loads_in_pieces(body)
        except PiecesFailed:
            # Parsed whole by the json module: its Python-level hooks let the event loop
            # run meanwhile, where orjson would hold it for the whole body.
            data = _loads_exact(body)
    else:
        data = loads_json(body)
    if len(body) > MAX_JSON_DEPTH and _too_deep(body, data):
        raise ValueError("JSON nested too deeply")
    return data


def _too_deep(body: bytes, data: Any) -> bool:
    """Whether parsed JSON nests deeper than :data:`MAX_JSON_DEPTH`."""
    if len(body) <= MAX_JSON_DEPTH or body.count(b"[") + body.count(b"{") <= MAX_JSON_DEPTH:
        return False  # cheap common case: not enough brackets to be that deep
    return _nests_too_deep(data)


def _walk_too_deep(data: Any) -> bool:
    """The same check in Python, one level of containers at a time."""
    level = [data] if isinstance(data, dict | list) else []
    depth = 0
    while level:
        depth += 1
        if depth > MAX_JSON_DEPTH:
            return True
        below: list[Any] = []
        for value in level:
            items = value.values() if isinstance(value, dict) else value
            below.extend(item for item in items if isinstance(item, dict | list))
        level = below
    return False


def _mirror(value: Any) -> str:
    """A JSON value as ``body_params`` shows it: strings as they are, others as JSON."""
    if isinstance(value, str):
        return value
    return dumps_in_chunks(value, dumps_json).decode("utf-8")


async def release_body(request: Request) -> None:
    """Free a large parsed body at the end of its request, off the event loop."""
    size = request._frozen_body
    if size:
        request._frozen_body = 0
        large_bodies.give_back(size)
        values = [request.get_json, request._body_params]
        request.get_json, request._json_object, request.body_params = {}, None, {}
        request._body = None
        await release(values)


async def parse_body(
    request: Request,
    limits: Limits,
    content_type: bytes | None = None,
    length: bytes | None = None,
) -> None:
    """Parse a form, JSON or multipart body into the request's body attributes.

    ``content_type`` and ``length`` are the raw headers
    :func:`~micropie.request.announced` read (a type ``None``: read both here). An
    announced length over ``max_body_size`` is refused whatever the content type;
    form and JSON bodies, read whole, also over ``max_buffer_size``.
    """
    kind, size = announced_body(request.scope, content_type, length)
    if kind == "application/x-www-form-urlencoded":
        parse = urlencoded_fields
    elif kind == "application/json" or kind.endswith("+json"):
        parse = json_fields
    else:
        if size is not None:
            _refuse_announced(size, limits)
        if kind == "multipart/form-data":
            from .uploads import start_multipart

            await start_multipart(request, limits)
        return
    maximum = limits.max_buffered_body  # never over max_body_size: one check covers both
    if size is not None:
        _refuse_announced(size, limits, maximum)
    body = await _read_checked_body(request, limits, maximum)
    if len(body) > THREAD_PARSE_BYTES:
        if not large_bodies.take(len(body)):
            raise busy()
        try:
            fields = await anyio.to_thread.run_sync(
                parse_frozen, functools.partial(_parse_whole, parse, body, limits)
            )
        except BaseException:
            large_bodies.give_back(len(body))
            raise
        request._frozen_body = len(body)  # given back by release_body
    else:
        fields = parse(body, limits)
    request._get_json, request._json_object, request._body_params = fields
