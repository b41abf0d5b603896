"""WebSocket handlers: ``ws_<name>`` methods (SPEC §9).

A websocket connection to ``/chat/room1?name=ann`` goes to ``ws_chat(self, ws, room,
name)``: the first parameter after ``self`` is the :class:`WebSocket`, the rest bind
from path segments and query exactly as for HTTP (:func:`~micropie.routing.bind_arguments`).

Connection handling reads as steps (:class:`OriginGuard`, around the whole app, has
checked the ``Origin``): load the session → ``before_websocket`` hooks → resolve the
handler → bind → call → ``after_websocket`` hooks → save the session → close. A
connection that cannot be routed or bound is refused before it is accepted, with close
code 1008 and a reason saying why.
"""

from __future__ import annotations

import functools
import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from .body import THREAD_PARSE_BYTES, large_bodies, loads_checked
from .errors import below_dispatch
from .exceptions import ConnectionClosed
from .large_bodies import parse_collector_off
from .middleware import WebSocketMiddleware
from .request import WebSocketRequest, current_request
from .routing import (
    HandlerPlan,
    bind_arguments,
    plan_handler,
    resolve_path,
    without_socket_param,
)
from .sessions import CookieSessionBackend, SessionManager, SessionStoreUnavailable
from .streaming import dumps_json

if TYPE_CHECKING:
    from .app import App

__all__ = [
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_NORMAL",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_TRY_AGAIN_LATER",
    "NO_ROUTE_REASON",
    "InvalidMessage",
    "UnexpectedMessageType",
    "OriginGuard",
    "WebSocket",
    "handle_websocket",
]

logger = logging.getLogger("micropie")

#: Close codes micropie uses (RFC 6455 §7.4.1).
CLOSE_NORMAL = 1000
CLOSE_UNSUPPORTED_DATA = 1003
CLOSE_ABNORMAL = 1006
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011
CLOSE_TRY_AGAIN_LATER = 1013
NO_ROUTE_REASON = "No matching WebSocket route"
ORIGIN_REFUSED_BODY = "403 Forbidden: websocket origin not allowed"
_INTERNAL_ERROR_REASON = "Internal Server Error"
_STORE_UNAVAILABLE_REASON = "Session store unavailable, try again"
_MAX_REASON_BYTES = 123  # a close frame's payload is at most 125 bytes, 2 for the code
_BAD_REQUEST_PREFIX = "400 Bad Request: "


class InvalidMessage(ValueError):
    """A client's message the handler cannot take: not JSON, or nested too deeply.

    A ``ValueError``, for handlers that catch it; one that escapes the handler is the
    client's fault, not the server's: the connection is closed with :attr:`code` (1007,
    invalid payload data) and the reason, logged at INFO, never as an error.
    """

    code = CLOSE_INVALID_PAYLOAD

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TooManyLargeMessages(InvalidMessage):
    """A large JSON message while this process already parses its share of large bodies
    (``micropie.body.LARGE_BODY_BUDGET``): not read; uncaught, it closes with 1013, try
    again later. Parsed, 16 MiB of small JSON containers takes about 430 MiB."""

    code = CLOSE_TRY_AGAIN_LATER


class UnexpectedMessageType(InvalidMessage, TypeError):
    """A binary message where text was expected, or text where binary was (close 1003).

    Also a ``TypeError``, as ``receive_text()`` and ``receive_bytes()`` raised before.
    """

    code = CLOSE_UNSUPPORTED_DATA


class WebSocket:
    """One websocket connection, as handed to ``ws_`` handlers.

    Wraps :class:`starlette.websockets.WebSocket` (reachable as :attr:`starlette`).
    Receiving or sending once the peer has gone raises :class:`~micropie.ConnectionClosed`;
    ``async for message in ws`` yields ``str`` or ``bytes`` messages and simply ends then.
    """

    def __init__(
        self, websocket: StarletteWebSocket, request: WebSocketRequest, sessions: SessionManager
    ) -> None:
        #: The underlying Starlette websocket.
        self.starlette = websocket
        #: The handshake request (also ``self.request`` inside the handler).
        self.request = request
        self._sessions = sessions
        self._closed: ConnectionClosed | None = None

    @property
    def subprotocols(self) -> list[str]:
        """Subprotocols the client offered, in its order of preference."""
        offered: list[str] = self.request.scope.get("subprotocols", [])
        return offered

    @property
    def closed(self) -> bool:
        """True once either side has closed the connection."""
        return self._closed is not None

    async def accept(self, subprotocol: str | None = None, session_id: str | None = None) -> None:
        """Accept the handshake, optionally choosing a subprotocol.

        Session changes made before accepting are sent with the handshake response.
        ``session_id`` (a UUID4 string, e.g. ``str(uuid.uuid4())``) makes this connection
        use that session and sets its cookie: pass it when the handler will start a
        session after accepting, since no cookie can be sent once accepted.
        """
        headers: list[tuple[str, str]] = []
        if session_id is None:
            await self._sessions.commit(self.request, headers)
        else:
            await self._use_session(session_id)
            headers.append(("set-cookie", self._sessions._cookie(self.request, session_id)))
        raw = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers]
        await self.starlette.accept(subprotocol=subprotocol, headers=raw)

    async def receive_text(self) -> str:
        """The next text message."""
        message = await self._receive()
        text: str | None = message.get("text")
        if text is None:
            raise UnexpectedMessageType("Expected a text message, got binary data")
        return text

    async def receive_bytes(self) -> bytes:
        """The next binary message."""
        message = await self._receive()
        data: bytes | None = message.get("bytes")
        if data is None:
            raise UnexpectedMessageType("Expected a binary message, got text")
        return data

    async def receive_json(self) -> Any:
        """The next message (text or binary) parsed as JSON.

        Parsed as JSON request bodies are (integers exact, at most 254 levels deep, no
        ``NaN``); a large message in a worker thread and in pieces, so the event loop
        keeps serving everyone else meanwhile. Raises :class:`InvalidMessage` (a
        ``ValueError``) when it is not JSON, also when it nests too deeply; uncaught,
        it closes the connection with 1007. A large message while the process parses
        too many large bodies at once raises :class:`TooManyLargeMessages` (1013).
        """
        payload = _payload(await self._receive())
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        if len(data) <= THREAD_PARSE_BYTES:
            return _loads_message(data)
        if not large_bodies.take(len(data)):
            raise TooManyLargeMessages("Too many large messages at once, try again")
        try:
            parse = functools.partial(_loads_message, data)
            return await anyio.to_thread.run_sync(parse_collector_off, parse)
        finally:
            large_bodies.give_back(len(data))

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        await self._send({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self._send({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any) -> None:
        """Send ``data`` as a JSON text message."""
        await self.send_text(dumps_json(data).decode("utf-8"))

    async def close(self, code: int = CLOSE_NORMAL, reason: str | None = None) -> None:
        """Close the connection (before accepting, this refuses the handshake).

        Closing an already closed connection does nothing.
        """
        state = self.starlette.application_state
        if state is WebSocketState.DISCONNECTED or state is WebSocketState.RESPONSE:
            return
        reason = _truncate_reason(reason or "")
        if self._closed is None:
            self._closed = ConnectionClosed(code, reason or None)
        try:
            await self.starlette.close(code, reason)
        except WebSocketDisconnect:
            pass  # the peer left first; nothing to tell it

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._messages()

    def __repr__(self) -> str:
        return f"<WebSocket {self.request.scope.get('path', '')!r}>"

    # -- internals ---------------------------------------------------------------------

    async def _messages(self) -> AsyncIterator[str | bytes]:
        while True:
            try:
                message = await self._receive()
            except ConnectionClosed:
                return
            yield _payload(message)

    async def _receive(self) -> Message:
        self._raise_if_closed()
        if self.starlette.application_state is WebSocketState.CONNECTING:
            raise RuntimeError("call `await ws.accept()` before receiving messages")
        message = await self.starlette.receive()
        if message["type"] == "websocket.disconnect":
            self._closed = ConnectionClosed(
                message.get("code", CLOSE_NORMAL), message.get("reason")
            )
            self._raise_if_closed()
        return message

    async def _send(self, message: Message) -> None:
        self._raise_if_closed()
        try:
            await self.starlette.send(message)
        except WebSocketDisconnect as exc:
            self._closed = ConnectionClosed(exc.code, exc.reason or None)
            self._raise_if_closed()
        except RuntimeError:
            if self.starlette.application_state is not WebSocketState.CONNECTED:
                raise  # the handler's own misuse (sending after it closed, ...)
            # The server closed the connection itself (the client sent a message over its
            # size limit, or missed a ping) and refuses the send: uvicorn's wsproto says so
            # with a RuntimeError. The handler learns it as from a peer that left.
            self.starlette.application_state = WebSocketState.DISCONNECTED
            self._closed = ConnectionClosed(CLOSE_ABNORMAL)
            self._raise_if_closed()

    def _raise_if_closed(self) -> None:
        closed = self._closed
        if closed is not None:
            raise ConnectionClosed(closed.code, closed.reason)

    async def _use_session(self, session_id: str) -> None:
        """Make ``session_id`` this connection's session, loading what it holds."""
        if not _is_uuid4(session_id):
            raise ValueError("session_id must be a UUID4 string, e.g. str(uuid.uuid4())")
        if isinstance(self._sessions.backend, CookieSessionBackend):
            raise TypeError(
                "CookieSessionBackend keeps the session in the cookie, not under an id: "
                "call accept() without session_id; changes made before it are sent with it"
            )
        request = self.request
        if session_id == request._session_id:
            return
        stored = await self._sessions.load(session_id)
        if stored:
            request.session = stored
        request._session_id = session_id
        request._session_snapshot = None  # saved when the handler ends unless emptied

    async def _finish(self, code: int, reason: str | None = None) -> None:
        """Close at the end of the handler unless the peer or handler already did."""
        if self.starlette.client_state is not WebSocketState.DISCONNECTED:
            await self.close(code, reason)


class OriginGuard:
    """ASGI wrapper refusing websocket handshakes whose ``Origin`` is not listed.

    It wraps the whole app, so mounted apps are covered too. A missing ``Origin`` is
    refused; entries match exactly (scheme, host and port), case-insensitively. The
    refusal is an HTTP 403 where the server supports it, else a close with 1008.
    """

    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origin.lower().rstrip("/") for origin in origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            origin = Headers(scope=scope).get("origin")
            if origin is None or origin.lower() not in self.origins:
                await _refuse_origin(scope, receive, send, origin)
                return
        await self.app(scope, receive, send)


async def _refuse_origin(scope: Scope, receive: Receive, send: Send, origin: str | None) -> None:
    logger.info("Refused websocket handshake from origin %r", origin)
    websocket = StarletteWebSocket(scope, receive, send)
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await websocket.send_denial_response(PlainTextResponse(ORIGIN_REFUSED_BODY, 403))
    else:
        await websocket.close(CLOSE_POLICY_VIOLATION, "Origin not allowed")


async def handle_websocket(app: App, scope: Scope, receive: Receive, send: Send) -> None:
    """Serve one websocket connection with ``app``'s ``ws_`` handlers."""
    from .request import route_path

    request = WebSocketRequest(scope, receive, send)
    ws = WebSocket(StarletteWebSocket(scope, receive, send), request, app._sessions)
    token = current_request.set(request)
    try:
        await _serve(app, ws, route_path(scope))
    except (ConnectionClosed, WebSocketDisconnect) as exc:
        logger.debug("Websocket %s closed by the peer (%s)", scope.get("path"), exc)
    except SessionStoreUnavailable:
        await ws._finish(CLOSE_TRY_AGAIN_LATER, _STORE_UNAVAILABLE_REASON)
    except InvalidMessage as exc:  # the client's message, not a server error
        logger.info("Websocket %s closed: %s", scope.get("path"), exc.reason)
        await ws._finish(exc.code, exc.reason)
    except Exception as exc:
        logger.error(
            "Unhandled error in websocket %s", scope.get("path"), exc_info=below_dispatch(exc)
        )
        await ws._finish(CLOSE_INTERNAL_ERROR, _INTERNAL_ERROR_REASON)
    else:
        await ws._finish(CLOSE_NORMAL)
    finally:
        current_request.reset(token)


async def _serve(app: App, ws: WebSocket, path: str) -> None:
    request = ws.request
    if request.headers.get("cookie"):
        await app._sessions.open(request)
    plan, segments = resolve_path(path, app._ws_handlers.get)
    if plan is not None and not plan.rejects_extra(segments):
        _set_route(request.scope, plan)
    middlewares = app.ws_middlewares
    if middlewares:
        refusal = await _before_websocket(middlewares, request)
        if refusal is not None:
            await ws.close(*refusal)
            return
        if request._ws_route_handler is not None:
            plan = _explicit_plan(app, request._ws_route_handler)
            segments = list(request.path_params)
            request.scope.pop("route", None)
            if plan is not None:
                _set_route(request.scope, plan)
    if plan is None:
        await ws.close(CLOSE_POLICY_VIOLATION, NO_ROUTE_REASON)
        return
    try:
        args, kwargs = bind_arguments(plan, segments, request)
    except HTTPException as exc:
        await ws.close(CLOSE_POLICY_VIOLATION, _binding_reason(exc))
        return
    request.path_params = segments
    try:
        await _call(plan, ws, args, kwargs)
    finally:
        for middleware in middlewares:
            await middleware.after_websocket(request)
        await _save_session(app._sessions, request)


# -- steps ---------------------------------------------------------------------------------


def _set_route(scope: Scope, plan: HandlerPlan) -> None:
    """Record the chosen handler where Starlette tools look for it."""
    if plan.route is not None:
        scope["route"] = plan.route
    scope["endpoint"] = plan.func


def _explicit_plan(app: App, name: str) -> HandlerPlan | None:
    """The handler a middleware chose: ``"chat"`` (or ``"ws_chat"``) or a ``_private`` one."""
    plan = app._ws_handlers.get(name.removeprefix("ws_"))
    if plan is not None:
        return plan
    from .app import App

    if not name.startswith("_") or name.startswith("__") or hasattr(App, name):
        return None
    func = getattr(app, name, None)
    if func is None or not callable(func) or isinstance(func, type):
        return None
    return without_socket_param(plan_handler(name, func))


async def _before_websocket(
    middlewares: Sequence[WebSocketMiddleware], request: WebSocketRequest
) -> tuple[int, str | None] | None:
    for middleware in middlewares:
        result = await middleware.before_websocket(request)
        if result:
            return result.get("code", CLOSE_POLICY_VIOLATION), result.get("reason")
    return None


def _binding_reason(exc: HTTPException) -> str:
    if exc.status_code == 404:
        return NO_ROUTE_REASON
    return exc.detail.removeprefix(_BAD_REQUEST_PREFIX)


async def _call(plan: HandlerPlan, ws: WebSocket, args: list[Any], kwargs: dict[str, Any]) -> None:
    if plan.is_async:
        await plan.func(ws, *args, **kwargs)
        return
    result = await run_in_threadpool(plan.func, ws, *args, **kwargs)
    if inspect.isawaitable(result):
        await result


async def _save_session(sessions: SessionManager, request: WebSocketRequest) -> None:
    """Save session changes; cookies can no longer reach the client, so none are made."""
    if request._session_id is None:
        if request.session:
            logger.warning(
                "The websocket handler for %s started a session after accepting, so the "
                "client never gets its cookie; it is not saved. Start it before accept() "
                "or call accept(session_id=str(uuid.uuid4()))",
                request.scope.get("path"),
            )
        return
    if request._session_regenerate:
        logger.warning("regenerate_session() needs an HTTP response; ignored for websockets")
        request._session_regenerate = False
    await sessions.commit(request, [])


def _is_uuid4(value: str) -> bool:
    try:
        return uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value
    except ValueError:
        return False


def _loads_message(data: bytes) -> Any:
    """A message parsed as JSON; :class:`InvalidMessage` saying why it is not."""
    try:
        return loads_checked(data)
    except (ValueError, RecursionError) as exc:
        text = str(exc).lower()
        too_deep = isinstance(exc, RecursionError) or "deep" in text or "depth" in text
        reason = "JSON nested too deeply" if too_deep else "Invalid JSON"
        raise InvalidMessage(reason) from None


def _payload(message: Message) -> str | bytes:
    text: str | None = message.get("text")
    if text is not None:
        return text
    data: bytes = message.get("bytes") or b""
    return data


def _truncate_reason(reason: str) -> str:
    encoded = reason.encode("utf-8")
    if len(encoded) <= _MAX_REASON_BYTES:
        return reason
    return encoded[:_MAX_REASON_BYTES].decode("utf-8", "ignore")
