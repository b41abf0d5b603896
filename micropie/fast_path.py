"""The direct path: the common HTTP request answered in one coroutine (issue 17).

An app with no Starlette middleware of its own and no explicit routes (mounts,
``add_route``; adding one later drops the direct path) has no use for the router:
:func:`app_call`, which is ``App.__call__``, answers its HTTP requests itself. A request
for an ``async`` handler named by its first path segment, with no
``before_request``/``after_request`` hooks to run, is answered there, in the app's own
coroutine, without the layers the general path crosses: no ``send`` wrapper (the
response start is tracked here), no ``Request.__init__`` call, the body and session read
only when the request announces them, the handler called with its path segments when
they are all it takes, and a ``str``, ``dict`` or ``list`` result sent with prebuilt
headers. A path no handler takes gets the 404 answer built once, when no exception
handler can see it.

Everything else goes to ``App._handle_http`` under :class:`~micropie.errors.ServerErrors`,
as the router would have sent it; the answers are the same byte for byte
(``tests/test_fast_path.py`` checks both paths over the same requests).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import ServerErrors, StartWatch
from .request import STATE_HEADERS, Request, announced, current_request, route_path
from .responses import HTML_HEADER, LENGTH_HEADERS, length_header, split_result, whole_answer
from .routing import (
    HandlerPlan,
    bind_arguments,
    bind_in_thread,
    not_found,
    resolve_parts,
)
from .subapps import PARENT_REQUEST_KEY

if TYPE_CHECKING:
    from .app import App

__all__ = ["DirectPath", "app_call"]

_new = object.__new__
# Bound once: looking ``set``/``reset`` up on the context variable per request is not
# specialized on 3.11 (a bound method made and freed each time).
_set_request = current_request.set
_reset_request = current_request.reset
_SHORT = len(LENGTH_HEADERS)  # the body lengths whose header is prebuilt


class DirectPath:
    """What :func:`app_call` needs when nothing stands between server and handlers.

    Built with the middleware stack; ``fallback`` is ``App._handle_http`` under the
    server-error layer, which serves every request this path does not answer itself.
    """

    def __init__(self, app: App, fallback: ServerErrors) -> None:
        self.app = app
        self.fallback = fallback
        self._plans = _direct_plans(app._handlers)
        self._bare = {"/" + name: entry for name, entry in self._plans.items()}
        # "/name" of the handlers taking a segment: "/name/segment" is found without a split
        # ("" is left out: "//name" names the handler "name", not index).
        self._one = {
            "/" + name: entry for name, entry in self._plans.items() if name and entry[5] > 1
        }
        self._instance_attributes = app.__dict__
        self._router = app._router
        # Bound once: 3.11 specializes no method lookup on an instance whose __dict__ was
        # read (the app's), so app._read_request_state(...) was a generic lookup per body.
        self._read_state = app._read_request_state
        self._not_found = app._errors.fixed_answer(not_found())
        self._handlers = app._handlers  # every handler of the class, sync ones too
        index = self._handlers.get("index")
        self._index_takes_path = index is not None and index.takes_path

    def _takes_none(self, parts: list[str]) -> bool:
        """Whether no handler takes the path split into ``parts`` (the general path would
        answer 404)."""
        name = parts[0]
        attributes = self._instance_attributes
        if (
            name
            and name not in self._handlers
            and name not in attributes
            and "index" not in attributes
            and not self._index_takes_path
        ):
            return True  # the commonest 404: no handler of that name, no index to take it
        plan, segments = resolve_parts(parts, self.app._find_handler)
        return plan is None or plan.rejects_extra(segments)


#: A handler of the direct path, as a plain tuple: a request unpacks it in one step
#: (``UNPACK_SEQUENCE`` specializes for exact tuples only, and reading ``plan.route`` or
#: ``plan.methods`` through a dataclass default goes the slow attribute route on 3.11):
#: ``(plan, plan.func, plan.route, plan.methods, plan.name, most, arity)`` where
#: ``most`` is the most path segments, the handler's name counted, and ``arity`` how
#: many segments bind as they are to the whole signature (-1: never).
_Entry = tuple[HandlerPlan, Callable[..., Any], Any, "frozenset[str] | None", str, int, int]


def _direct_plans(handlers: dict[str, HandlerPlan]) -> dict[str, _Entry]:
    """``{first segment: entry}`` for the async handlers of the class.

    ``""`` (the path ``/``) is ``index``.
    """
    plans: dict[str, _Entry] = {}
    for name, plan in handlers.items():
        if plan.is_async:
            most = sys.maxsize if plan.var_positional is not None else 1 + len(plan.segment_params)
            arity = len(plan.positional) if plan.binds_segments_only else -1
            plans[name] = (plan, plan.func, plan.route, plan.methods, plan.name, most, arity)
    if "index" in plans:
        plans[""] = plans["index"]
    return plans


def _watch(request: Request, started: bool) -> StartWatch:
    """Send the rest of ``request``'s answer through a :class:`StartWatch` (installed once)."""
    send = request._send
    if isinstance(send, StartWatch):
        return send
    watch = request._send = StartWatch(send)
    watch.started = started
    return watch


async def _send_copy(response: Response, send: Send) -> None:
    """Send a prebuilt whole response, with a header list of this request's own."""
    headers = list(response.raw_headers)
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


async def app_call(app: App, scope: Scope, receive: Receive, send: Send) -> None:
    """``App.__call__``: the direct path answers here, in the app's own coroutine (one
    per request besides the handler's); anything else crosses the middleware stack."""
    # Its coroutine holds every local: at most 512 bytes, CPython's small-object
    # allocator makes it; one local more than that (8 bytes) and each request costs a
    # malloc and a free (tests/test_fast_path.py checks the size).
    scope["app"] = app
    direct = app._direct  # built with the middleware stack, when no user middleware runs
    if direct is None or scope["type"] != "http":
        await app._call_stack(scope, receive, send)
        return
    if app.middlewares:  # hooks see every answer: the general path runs them
        await direct.fallback(scope, receive, send)
        return
    scope.setdefault("router", direct._router)  # as the router would have set it
    path = route_path(scope) if scope.get("root_path") else scope["path"]
    entry = direct._bare.get(path)  # "/name": the handler, no segments
    if entry is None:
        parts = path.rpartition("/")  # ("/name", "/", segment)
        entry = direct._one.get(parts[0]) if parts[2] else None
        if entry is not None:
            segments = [parts[2]]
        else:
            segments = path.strip("/").split("/")  # the handler's name, then its segments
            entry = direct._plans.get(segments[0])
            if entry is None or len(segments) > entry[5]:  # most
                if direct._not_found is not None and direct._takes_none(segments):
                    await _send_copy(direct._not_found, send)
                else:
                    await direct.fallback(scope, receive, send)
                return
            del segments[0]
    else:
        segments = []
    plan, func, route, methods, handler_name, _, arity = entry
    method = scope["method"]
    if (
        handler_name in direct._instance_attributes  # an instance attribute replaced it
        # as plan.refuses(method): CONNECT only where @methods lists it
        or (method == "CONNECT" if methods is None else method not in methods)
        or PARENT_REQUEST_KEY in scope  # handed over by a parent app
    ):
        await direct.fallback(scope, receive, send)
        return
    scope["route"] = route
    scope["endpoint"] = func
    request = _new(Request)  # as Request(scope, receive, send), without the call
    request.scope = scope
    request._receive = receive
    request._send = send
    request.path_params = segments
    request._limits = app._limits  # replaced when a body is read
    request._session = None
    request._files = None
    started = handed = False  # handed: whether App code took the request on (and cleans up)
    token = None  # current_request's, until left (on request._context_token once handed on)
    quiet = True  # no header announcing a body or a cookie: nothing to read
    try:
        try:
            for name, _ in scope["headers"]:
                if name in STATE_HEADERS:
                    quiet = False
                    break
            if not quiet or (method != "GET" and scope.get("http_version") == "2"):
                # (HTTP/2 may frame a body no header announces, though not a GET's)
                quiet = False  # read the body and session announced, as the general path does
                state = announced(scope)
                if state[0] or state[1] is not None:
                    await direct._read_state(request, plan, state)
            token = _set_request(request)
            try:
                if not segments and not arity:
                    result = await func()
                elif len(segments) == arity:  # segments as they are, nothing else
                    result = await (func(segments[0]) if arity == 1 else func(*segments))
                else:
                    if plan.models and request._frozen_body:
                        args, kwargs = await bind_in_thread(plan, segments, request)
                    else:
                        args, kwargs = bind_arguments(plan, segments, request)
                    result = await (func(*args, **kwargs) if kwargs else func(*args))
            except HTTPException:
                raise
            except Exception as exc:  # as App._call_handler
                if not app._errors.answers_as_500(exc):
                    raise
                result = app._handler_raised(plan, request)
            headers: list[tuple[bytes, bytes]] | None = None  # None: App._finish answers
            if not quiet and state[1] is not None:  # as request._session_cookie_sent
                pass  # a session to refresh or end (and one maybe unread: test it last)
            elif request._session or app.middlewares:
                pass  # a session to save, hooks to run
            elif type(result) is str:  # the commonest answer, as whole_answer gives it
                content = result.encode()
                size = len(content)
                headers = [
                    HTML_HEADER,
                    LENGTH_HEADERS[size] if size < _SHORT else length_header(size),
                ]
            else:
                content, headers = whole_answer(result)
            if headers is None:
                request._context_token, token, handed = token, None, True
                _watch(request, started)
                await app._finish(request, *split_result(result))
                return
            _reset_request(token)  # left before sending, as App._finish does
            token = None
            started = True
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            if method == "HEAD":
                content = b""
            await send({"type": "http.response.body", "body": content})
        except Exception as exc:
            if token is not None:
                request._context_token, token = token, None
            handed = True
            _watch(request, started)
            await app._answer_exception(request, exc)
        finally:
            # what _clean_up cleans (a body is frozen only when read above: not quiet)
            if handed or request._files or not quiet and request._frozen_body:
                await app._clean_up(request)
    except Exception as exc:
        await direct.fallback.answer(scope, receive, send, exc, _watch(request, started).started)
        raise
