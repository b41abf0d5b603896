"""Turning exceptions into responses, in one place (SPEC §4).

:class:`ErrorResponder` answers what dispatch raises: an ``HTTPException`` becomes its
status and detail, any exception may go to a handler registered Starlette-style with
``App(exception_handlers={404: fn, ValueError: fn})``, and anything else is logged to
the ``micropie`` logger and answered ``500 Internal Server Error``. A model parameter's
invalid body (:class:`~micropie.exceptions.RequestValidationError`) answers 422 with the
JSON list of its errors. With ``json_errors`` every one of these answers is JSON,
``{"detail": ...}``, as API clients expect.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware.errors import ServerErrorMiddleware
from starlette.middleware.exceptions import ExceptionMiddleware
from starlette.requests import ClientDisconnect
from starlette.requests import Request as StarletteRequest
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .exceptions import RequestValidationError
from .request import Request
from .responses import Headers, drop_unsafe_headers, dumps_json, sendable_headers
from .routing import is_async_callable

__all__ = [
    "INTERNAL_ERROR_BODY",
    "ErrorResponder",
    "InvalidStatus",
    "ServerErrors",
    "StartWatch",
    "below_dispatch",
]

logger = logging.getLogger("micropie")

#: Where micropie's own modules are: their frames lead a logged traceback down to the app's.
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
INTERNAL_ERROR_BODY = "500 Internal Server Error"
_PLAIN_ANSWERS = 64  # distinct (status, detail) answers kept ready
_JSON = "application/json"
ExceptionHandler = Callable[..., Any]


def below_dispatch(
    exc: BaseException,
) -> tuple[type[BaseException], BaseException, TracebackType | None]:
    """``exc`` as a logging ``exc_info`` whose traceback starts below micropie's frames.

    The dispatcher's frames that caught ``exc`` hold the raw request (its ``Cookie`` and
    ``Authorization`` headers) in their variables, which error trackers recording frame
    variables (Sentry) would send along; the app's own frames are what the log is for.
    An error raised in micropie itself keeps its innermost frame.
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        if not tb.tb_frame.f_code.co_filename.startswith(_PACKAGE):
            break
        tb = tb.tb_next
    return type(exc), exc, tb


class ErrorResponder:
    """Answers exceptions raised while handling a request."""

    def __init__(
        self, handlers: Mapping[Any, ExceptionHandler], debug: bool, json_errors: bool = False
    ) -> None:
        self.debug = debug
        self.json_errors = json_errors
        self.status_handlers: dict[int, ExceptionHandler] = {
            k: v for k, v in handlers.items() if isinstance(k, int)
        }
        self.class_handlers: dict[type, ExceptionHandler] = {
            k: v for k, v in handlers.items() if isinstance(k, type)
        }
        #: 500 / Exception handlers run in Starlette's ServerErrorMiddleware.
        self.server_error_handler = handlers.get(500, handlers.get(Exception))
        self._plain_answers: dict[tuple[int, str], Response] = {}
        #: What Starlette's ServerErrorMiddleware answers with (None: its plain 500).
        self.last_resort_handler = self.server_error_handler or (
            _json_server_error if json_errors else None
        )

    def wrap_mounted(self, app: ASGIApp) -> ASGIApp:
        """Give a mounted app the same handling of ``HTTPException`` and handlers."""
        handlers: dict[Any, ExceptionHandler] = {**self.status_handlers, **self.class_handlers}
        handlers.pop(Exception, None)
        handlers.pop(500, None)
        return ExceptionMiddleware(app, handlers=handlers, debug=self.debug)

    def _handler_for(self, exc: Exception) -> ExceptionHandler | None:
        if isinstance(exc, HTTPException):
            handler = self.status_handlers.get(exc.status_code)
            if handler is not None:
                return handler
        for cls in type(exc).__mro__:
            if cls is Exception:
                break
            handler = self.class_handlers.get(cls)
            if handler is not None:
                return handler
        return None

    def answers_as_500(self, exc: Exception) -> bool:
        """Whether micropie itself answers ``exc`` with its plain 500 response."""
        if self.debug or self.server_error_handler is not None:
            return False
        return self._handler_for(exc) is None

    async def respond(self, request: Request, exc: Exception) -> None:
        """Send the response for ``exc``, or re-raise it for the server error layer."""
        response = await self.response_for(request, exc)
        if response is not None:
            drop_unsafe_headers(response)
            await response(request.scope, request._receive, request._send)

    async def response_for(self, request: Request, exc: Exception) -> Response | None:
        """The response for ``exc``; ``None`` when there is none to send.

        Re-raises what only the server error layer answers: an error after the response
        started, and unhandled errors in debug mode. Other unhandled errors are logged
        with their traceback and answered by the 500 (or ``Exception``) handler if one
        is registered, else with micropie's plain 500. So is an ``HTTPException``
        whose status no response can carry (``HTTPException(999)``): a server bug.
        """
        if isinstance(exc, ClientDisconnect):
            return None
        if request._response_started and not isinstance(exc, InvalidStatus):
            raise exc  # InvalidStatus: the server never saw the start
        handler = self._handler_for(exc)
        if handler is not None:
            response: Response | None = await _call_handler(handler, request, exc)
        elif isinstance(exc, HTTPException) and is_final_status(exc.status_code):
            response = self._plain_answer(exc)
        elif self.debug:
            raise exc
        else:
            logger.error(
                "Unhandled error in %s %s",
                request.method,
                request.scope.get("path"),
                exc_info=below_dispatch(exc),
            )
            if self.server_error_handler is not None:
                response = await _call_handler(self.server_error_handler, request, exc)
            else:
                status, body, headers = self.internal_error()
                response = Response(body, 500, dict(headers))
        return response

    def fixed_answer(self, exc: HTTPException) -> Response | None:
        """The answer to ``exc`` when no exception handler sees it, else ``None``.

        Such an answer is the same for every request, so it can be built once (not in
        debug mode, whose 404 names the app's handlers).
        """
        if self.debug or self._handler_for(exc) is not None:
            return None
        return self.http_response(exc)

    def _plain_answer(self, exc: HTTPException) -> Response:
        """:meth:`http_response`, built once per status and detail for the plain answers.

        An answer without headers of its own (404 for an unknown path ...) is the same
        every time: each request gets a copy with a list of headers of its own, which a
        middleware may change in place.
        """
        if (
            exc.headers
            or self.json_errors
            or type(exc) is not HTTPException
            or type(exc.detail) is not str
        ):
            return self.http_response(exc)
        key = (exc.status_code, exc.detail)
        model = self._plain_answers.get(key)
        if model is None:
            model = self.http_response(exc)
            if len(self._plain_answers) >= _PLAIN_ANSWERS:
                return model
            self._plain_answers[key] = model
        response = Response.__new__(type(model))
        response.__dict__.update(model.__dict__)
        response.raw_headers = list(model.raw_headers)
        response.__dict__.pop("_headers", None)  # a MutableHeaders view of the model's list
        return response

    def http_response(self, exc: HTTPException) -> Response:
        """The answer for an ``HTTPException`` micropie raised or let through."""
        headers = sendable_headers(exc.headers) if exc.headers else None
        if isinstance(exc, RequestValidationError):
            body: Any = {"detail": exc.errors} if self.json_errors else exc.errors
            return Response(dumps_json(body), 422, headers, media_type=_JSON)
        if self.json_errors and exc.status_code not in (204, 304):
            content = dumps_json({"detail": plain_detail(exc)})
            return Response(content, exc.status_code, headers, media_type=_JSON)
        return default_http_response(exc)

    def internal_error(self) -> tuple[int, str | bytes, Headers]:
        """The 500 answer micropie gives for a handler that raised."""
        if self.json_errors:
            return 500, _JSON_SERVER_ERROR, [("content-type", _JSON)]
        return 500, INTERNAL_ERROR_BODY, [("content-type", "text/plain; charset=utf-8")]


_JSON_SERVER_ERROR = dumps_json({"detail": "Internal Server Error"})


async def _json_server_error(request: StarletteRequest, exc: Exception) -> Response:
    return Response(_JSON_SERVER_ERROR, 500, media_type=_JSON)


def plain_detail(exc: HTTPException) -> Any:
    """An error's detail without micropie's ``"400 Bad Request: "`` prefix.

    A detail that is not text (``HTTPException(400, detail={"field": "..."})``, as
    FastAPI code raises) is returned as it is.
    """
    detail: Any = exc.detail
    prefix = f"{exc.status_code} "
    if not isinstance(detail, str) or not detail.startswith(prefix):
        return detail
    rest = detail[len(prefix) :]
    _, colon, reason = rest.partition(": ")
    return reason if colon else rest


def default_http_response(exc: HTTPException) -> Response:
    """``HTTPException(code, detail)`` as ``code`` with ``detail`` as plain text (a
    detail that is not text, such as a dict or list, as JSON)."""
    headers = sendable_headers(exc.headers) if exc.headers else None
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=headers)
    detail: Any = exc.detail
    if not isinstance(detail, str):
        return Response(dumps_json(detail), exc.status_code, headers, media_type=_JSON)
    return PlainTextResponse(detail, status_code=exc.status_code, headers=headers)


async def _call_handler(handler: ExceptionHandler, request: Request, exc: Exception) -> Any:
    if is_async_callable(handler):
        return await handler(request.starlette, exc)
    return await run_in_threadpool(handler, request.starlette, exc)


def is_final_status(status: Any) -> bool:
    """Whether ``status`` can end an HTTP/1.1 response: an ``int`` (``HTTPStatus``
    included) from 200 to 599."""
    return isinstance(status, int) and 200 <= status <= 599


class InvalidStatus(ValueError):
    """A response whose status no HTTP/1.1 server can send (outside 200–599)."""


class StartWatch:
    """An ASGI ``send`` that remembers whether the response has started.

    A start whose status is not a final HTTP status (200–599) raises
    :class:`InvalidStatus` before it reaches the server, so the request is still
    unanswered and gets the 500 of a server bug: uvicorn's httptools protocol marks the
    response started and then fails on such a status, dropping the connection, and a
    1xx status would leave the client waiting for the final answer.
    """

    __slots__ = ("send", "started")

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            status = message["status"]
            if not is_final_status(status):
                raise InvalidStatus(f"a response status must be an int in 200-599, not {status!r}")
            self.started = True
        await self.send(message)


class ServerErrors(ServerErrorMiddleware):
    """Starlette's last-resort 500 layer, whose answer can also be given on its own.

    Around an ASGI app it works as Starlette's ``ServerErrorMiddleware``; the direct
    path (:mod:`micropie.fast_path`) tracks the response start itself and calls
    :meth:`answer` when an exception escapes, sparing a ``send`` wrapper per message.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        watch = StartWatch(send)
        try:
            await self.app(scope, receive, watch)
        except Exception as exc:
            await self.answer(scope, receive, send, exc, watch.started)
            raise

    async def answer(
        self, scope: Scope, receive: Receive, send: Send, exc: Exception, started: bool
    ) -> None:
        """Send the 500 answer (or the debug page) for ``exc`` unless ``started``.

        The caller re-raises ``exc`` afterwards, for the server to log it (or a test
        client to raise it).
        """
        request = StarletteRequest(scope)
        handler: ExceptionHandler | None = self.handler  # an HTTP one: (request, exc)
        response: Response
        if self.debug:
            response = await run_in_threadpool(self.debug_response, request, exc)
        elif handler is None:
            response = self.error_response(request, exc)
        elif is_async_callable(handler):
            response = await handler(request, exc)
        else:
            response = await run_in_threadpool(handler, request, exc)
        if not started:
            await response(scope, receive, send)
