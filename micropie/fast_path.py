"""The direct path: the common HTTP request answered in one coroutine (issue 17).

An app with no Starlette middleware of its own and no explicit routes (mounts,
``add_route``) has no use for the router: :meth:`App.__call__` hands its HTTP requests
to :meth:`DirectPath.serve`. There a plain request, one with no body, no cookie and no
``before_request``/``after_request`` hooks to run, for an ``async`` handler named by
its first path segment, is answered without the layers the general path crosses: no
``send`` wrapper (the response start is tracked here), the context variable set once,
and a ``str``, ``dict`` or ``list`` result sent with prebuilt headers. A path no
handler takes gets the 404 answer built once, when no exception handler can see it.

Everything else goes to ``App._handle_http`` under :class:`~micropie.errors.ServerErrors`,
as the router would have sent it; the answers are the same byte for byte
(``tests/test_fast_path.py`` checks both paths over the same requests).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .errors import ServerErrors, StartWatch
from .request import Request, current_request, route_path
from .responses import split_result, whole_answer
from .routing import HandlerPlan, not_found, resolve_path
from .subapps import PARENT_REQUEST_KEY

if TYPE_CHECKING:
    from .app import App

__all__ = ["DirectPath", "is_plain"]

#: Request headers that make a request take the general path (a body or a session).
_BODY_OR_COOKIE = frozenset({b"content-length", b"transfer-encoding", b"cookie"})
_BODILESS_METHODS = ("GET", "HEAD", "OPTIONS")


def is_plain(scope: Scope) -> bool:
    """Whether a request has no body, no cookie and no parent app that handed it over."""
    for name, _ in scope["headers"]:
        if name in _BODY_OR_COOKIE:
            return False
    if PARENT_REQUEST_KEY in scope:
        return False
    # HTTP/2 may frame a body without announcing its length.
    return scope.get("http_version") != "2" or scope["method"] in _BODILESS_METHODS


class DirectPath:
    """An app's HTTP entry when nothing stands between the server and its handlers.

    Built with the middleware stack; ``fallback`` is ``App._handle_http`` under the
    server-error layer, which serves every request this path does not answer itself.
    """

    def __init__(self, app: App, fallback: ServerErrors) -> None:
        self.app = app
        self.fallback = fallback
        self._handlers = app._handlers
        self._instance_attributes = app.__dict__
        self._router = app._router
        self._not_found = app._errors.fixed_answer(not_found())

    def _resolve(self, scope: Scope) -> tuple[HandlerPlan | None, list[str]]:
        """The handler and its path segments, as ``resolve_path``; ``None`` for a 404."""
        path = route_path(scope) if scope.get("root_path") else scope["path"]
        segments = path.strip("/").split("/")
        name = segments[0]
        plan = None if name in self._instance_attributes else self._handlers.get(name)
        if plan is None:
            plan, segments = resolve_path(path, self.app._find_handler)
        else:
            del segments[0]
        if plan is None or plan.rejects_extra(segments):
            return None, segments
        return plan, segments

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one HTTP request (the ASGI call of the app on this path)."""
        app = self.app
        if app.middlewares:  # hooks see every answer: the general path runs them
            await self.fallback(scope, receive, send)
            return
        if "router" not in scope:  # as the router would have set it
            scope["router"] = self._router
        plan, segments = self._resolve(scope)
        if plan is None:
            if self._not_found is None:
                await self.fallback(scope, receive, send)
            else:
                await _send_copy(self._not_found, send)
            return
        if not plan.is_async or not is_plain(scope):
            await self.fallback(scope, receive, send)
            return
        if plan.methods is not None and scope["method"] not in plan.methods:
            await self.fallback(scope, receive, send)
            return
        await self._answer(scope, receive, send, plan, segments)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send, plan: HandlerPlan, segments: list[str]
    ) -> None:
        """Call the handler and send its answer; errors end as on the general path."""
        app = self.app
        scope["route"] = plan.route
        scope["endpoint"] = plan.func
        request = Request(scope, receive, send)
        request._limits = app._limits
        request.path_params = segments
        started = False
        try:
            try:
                token = request._context_token = current_request.set(request)
                result = await app._call_handler(request, plan, segments)
                answer = None if request.session or app.middlewares else whole_answer(result)
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
                await app._clean_up(request)
        except Exception as exc:
            await self.fallback.answer(scope, receive, send, exc, _watch(request, started).started)
            raise


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
