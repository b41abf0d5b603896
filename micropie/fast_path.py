"""The direct path: the common HTTP request answered in one coroutine (issue 17).

An app with no Starlette middleware of its own and no explicit routes (mounts,
``add_route``) has no use for the router: :meth:`App.__call__` hands its HTTP requests
to :meth:`DirectPath.serve`. A request for an ``async`` handler named by its first path
segment, with no ``before_request``/``after_request`` hooks to run, is answered there
without the layers the general path crosses: no ``send`` wrapper (the response start
is tracked here), the body and session read only when the request announces them, and
a ``str``, ``dict`` or ``list`` result sent with prebuilt headers. A path no handler
takes gets the 404 answer built once, when no exception handler can see it.

Everything else goes to ``App._handle_http`` under :class:`~micropie.errors.ServerErrors`,
as the router would have sent it; the answers are the same byte for byte
(``tests/test_fast_path.py`` checks both paths over the same requests).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import ServerErrors, StartWatch
from .request import Request, body_and_cookie, current_request, route_path
from .responses import split_result, whole_answer
from .routing import HandlerPlan, bind_arguments, not_found, resolve_path
from .subapps import PARENT_REQUEST_KEY

if TYPE_CHECKING:
    from .app import App

__all__ = ["DirectPath"]


class DirectPath:
    """An app's HTTP entry when nothing stands between the server and its handlers.

    Built with the middleware stack; ``fallback`` is ``App._handle_http`` under the
    server-error layer, which serves every request this path does not answer itself.
    """

    def __init__(self, app: App, fallback: ServerErrors) -> None:
        self.app = app
        self.fallback = fallback
        self._plans = _direct_plans(app._handlers)
        self._instance_attributes = app.__dict__
        self._router = app._router
        self._not_found = app._errors.fixed_answer(not_found())

    def serve(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The coroutine that answers one HTTP request (the app's ASGI call on this path).

        Choosing it is a plain call: no coroutine of its own per request.
        """
        if self.app.middlewares:  # hooks see every answer: the general path runs them
            return self.fallback(scope, receive, send)
        if "router" not in scope:  # as the router would have set it
            scope["router"] = self._router
        path = route_path(scope) if scope.get("root_path") else scope["path"]
        segments = path.strip("/").split("/")  # the handler's name, then its segments
        entry = self._plans.get(segments[0])
        if entry is None or len(segments) > entry[1]:
            return self._serve_other(scope, receive, send, path)
        plan = entry[0]
        methods = plan.methods  # as plan.refuses(method): CONNECT only where @methods lists it
        method = scope["method"]
        if (
            plan.name in self._instance_attributes  # an instance attribute replaced it
            or (method == "CONNECT" if methods is None else method not in methods)
            or PARENT_REQUEST_KEY in scope  # handed over by a parent app
        ):
            return self.fallback(scope, receive, send)
        del segments[0]
        return self._answer(scope, receive, send, plan, segments)

    async def _serve_other(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        """Answer a path no handler takes with the prebuilt 404, else take the general path."""
        if self._not_found is not None:
            plan, segments = resolve_path(path, self.app._find_handler)
            if plan is None or plan.rejects_extra(segments):
                await _send_copy(self._not_found, send)
                return
        await self.fallback(scope, receive, send)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, plan: HandlerPlan, segments: list[str]
    ) -> None:
        """Call the handler and send its answer; errors end as on the general path."""
        app = self.app
        scope["route"] = plan.route
        scope["endpoint"] = plan.func
        request = Request(scope, receive, send)
        started = False
        try:
            try:
                has_body, has_cookie = body_and_cookie(scope)
                if has_body or has_cookie:
                    await app._read_request_state(request, plan, has_body, has_cookie)
                else:
                    request._limits = app._limits
                request.path_params = segments
                token = request._context_token = current_request.set(request)
                if plan.takes_nothing:
                    args: Sequence[Any] = ()
                    kwargs: dict[str, Any] = {}
                else:
                    args, kwargs = bind_arguments(plan, segments, request)
                try:
                    result = await plan.func(*args, **kwargs)
                except HTTPException:
                    raise
                except Exception as exc:  # as App._call_handler
                    if not app._errors.answers_as_500(exc):
                        raise
                    result = app._handler_raised(plan)
                answer = None
                if not (request._session_cookie_sent or request.session or app.middlewares):
                    answer = whole_answer(result)
                if answer is None:
                    _watch(request, started)
                    await app._finish(request, *split_result(result))
                    return
                request._context_token = None  # left before sending, as App._finish does
                current_request.reset(token)
                content, headers = answer
                started = True
                await send({"type": "http.response.start", "status": 200, "headers": headers})
                if scope["method"] == "HEAD":
                    content = b""
                await send({"type": "http.response.body", "body": content})
            except Exception as exc:
                _watch(request, started)
                await app._answer_exception(request, exc)
            finally:
                if request._context_token is not None or request.files or request._frozen_body:
                    await app._clean_up(request)
        except Exception as exc:
            await self.fallback.answer(scope, receive, send, exc, _watch(request, started).started)
            raise


def _direct_plans(handlers: dict[str, HandlerPlan]) -> dict[str, tuple[HandlerPlan, int]]:
    """``{first segment: (plan, most segments)}`` for the async handlers of the class.

    The most segments count the handler's name; ``""`` (the path ``/``) is ``index``.
    """
    plans: dict[str, tuple[HandlerPlan, int]] = {}
    for name, plan in handlers.items():
        if plan.is_async:
            most = sys.maxsize if plan.var_positional is not None else 1 + len(plan.segment_params)
            plans[name] = (plan, most)
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
