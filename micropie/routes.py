"""The route table: every handler as a Starlette route, and the router that owns them (SPEC §12).

One table serves dispatch, URL building, schema generators and monitoring tools:

* each handler plan carries its :class:`HandlerRoute` (or :class:`HandlerWebSocketRoute`),
  built once from its signature: ``greet(name)`` → ``/greet/{name}``, ``files(*parts)`` →
  ``/files/{parts:path}``, ``ws_chat(ws, room)`` → ``/chat/{room}``;
* :class:`AppRouter` lists explicit routes (mounts, ``add_route``) and then the handler
  routes as :attr:`AppRouter.routes`, and dispatches without walking them: explicit routes
  are tried in order, then the app's handler dictionary answers in one lookup.

A route's :meth:`~HandlerRoute.matches` asks the app's own resolver, so it answers exactly
as dispatch does; dispatch in turn puts the chosen route and handler in
``scope["route"]`` and ``scope["endpoint"]``, where Starlette tools look for them.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

from starlette.datastructures import URL, URLPath
from starlette.responses import RedirectResponse
from starlette.routing import (
    BaseRoute,
    Match,
    Mount,
    NoMatchFound,
    Route,
    Router,
    WebSocketRoute,
)
from starlette.types import ASGIApp, Lifespan, Receive, Scope, Send

from .request import route_path
from .routing import HandlerPlan, resolve_path
from .typed import iso_text

if TYPE_CHECKING:
    from .app import App

__all__ = [
    "AppRouter",
    "find_route",
    "HandlerRoute",
    "HandlerWebSocketRoute",
    "attach_route",
    "path_template",
    "path_outline",
]

#: Scope key under which a route keeps dispatch's answer for the other routes' matches().
_RESOLVED_KEY = "micropie.resolved"
#: Characters left as they are in a path segment built by ``url_path_for``.
_SEGMENT_SAFE = "!$&'()*+,;=:@~"


def path_template(key: str, plan: HandlerPlan) -> str:
    """The path template ``plan``'s signature implies under URL name ``key``.

    Positional parameters become ``{name}`` segments (uploaded files, which never bind
    from the path, do not) and ``*args`` a final ``{args:path}``; ``index`` has no name
    segment of its own.
    """
    parts = [] if key == "index" else [key]
    parts += ["{" + param.name + "}" for param in plan.segment_params]
    if plan.var_positional is not None:
        parts.append("{" + plan.var_positional.name + ":path}")
    return "/" + "/".join(parts)


def path_outline(key: str, plan: HandlerPlan) -> str:
    """``plan``'s path template with the segments a URL may leave out in brackets.

    A positional parameter with a default and ``*args`` may be missing from the path
    (``/page[/{number}]``, ``/files[/{parts:path}]``): the route table shows them so.
    """
    outline = "" if key == "index" else "/" + key
    segments = [("{" + param.name + "}", not param.required) for param in plan.segment_params]
    if plan.var_positional is not None:
        segments.append(("{" + plan.var_positional.name + ":path}", True))
    for segment, optional in segments:
        outline += f"[/{segment}]" if optional else f"/{segment}"
    if outline.startswith("[/"):  # index(*args): the slash is always there
        return "/[" + outline[2:]
    return outline or "/"


def attach_route(app: App, key: str, plan: HandlerPlan, ws: bool = False) -> HandlerPlan:
    """Build ``plan``'s route under URL name ``key`` and keep it on the plan."""
    route: BaseRoute = HandlerWebSocketRoute(app, key, plan) if ws else HandlerRoute(app, key, plan)
    object.__setattr__(plan, "route", route)  # the plan is frozen; its route is made once
    return plan


class _AppEndpoint:
    """An ASGI callable handing a connection to one of the app's entry points."""

    __slots__ = ("handle",)

    def __init__(self, handle: Callable[[Scope, Receive, Send], Any]) -> None:
        self.handle = handle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handle(scope, receive, send)


class _HandlerRouteMixin:
    """What HTTP and websocket handler routes share: the plan, matching and URL building."""

    app_ref: App
    key: str
    plan: HandlerPlan
    name: str
    path: str
    protocol: Literal["http", "websocket"]

    def _setup(self, app: App, key: str, plan: HandlerPlan) -> None:
        self.app_ref = app
        self.key = key
        #: The handler's call plan: its parameters (name, default, converter), methods, limits.
        self.plan = plan
        self.endpoint = plan.func

    def _find(self, name: str) -> HandlerPlan | None:
        raise NotImplementedError

    def _resolve(self, scope: Scope) -> tuple[HandlerPlan | None, list[str]]:
        """Dispatch's answer for ``scope``, kept in it for the other routes of the table.

        Tools ask every route of the table in turn with the same scope; the first route
        resolves the path (one lookup) and the others read the answer.
        """
        key = (self.app_ref, self.protocol, scope["path"], scope.get("root_path", ""))
        cached = scope.get(_RESOLVED_KEY)
        if cached is not None and cached[0] == key:
            return cached[1], cached[2]
        plan, segments = resolve_path(route_path(scope), self._find)
        scope[_RESOLVED_KEY] = (key, plan, segments)
        return plan, segments

    def _match(self, scope: Scope, kind: str) -> tuple[Match, Scope]:
        if scope["type"] != kind:
            return Match.NONE, {}
        plan, segments = self._resolve(scope)
        if plan is not self.plan or plan.rejects_extra(segments):
            return Match.NONE, {}
        child_scope = {"endpoint": plan.func, "path_params": self._named(segments)}
        if kind == "http" and plan.refuses(scope["method"]):
            return Match.PARTIAL, child_scope
        return Match.FULL, child_scope

    def _named(self, segments: list[str]) -> dict[str, str]:
        """Path segments by parameter name (``*args`` joined with ``/``)."""
        plan = self.plan
        params = plan.segment_params
        named = {param.name: value for param, value in zip(params, segments, strict=False)}
        if plan.var_positional is not None:
            named[plan.var_positional.name] = "/".join(segments[len(params) :])
        return named

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """This handler's URL path: path parameters fill the template, the rest the query."""
        if name != self.name:
            raise NoMatchFound(name, path_params)
        segments, query = _split_params(self.plan, name, path_params)
        if self.key != "index":
            segments.insert(0, self.key)
        elif segments and self.app_ref._names_a_handler(segments[0], self.protocol):
            segments.insert(0, "index")  # "/greet" would reach greet, "/index/greet" reaches index
        path = "/" + "/".join(quote(segment, safe=_SEGMENT_SAFE) for segment in segments)
        if query:
            path += "?" + urlencode(query)
        return URLPath(path, protocol=self.protocol)


class HandlerRoute(_HandlerRouteMixin, Route):
    """The route of one HTTP handler.

    ``path`` is its template, ``name`` the handler's name, ``endpoint`` the handler,
    ``methods`` those of ``@methods`` (``None``: every method) and :attr:`plan` its
    parameters. Trailing positional parameters with defaults may be left out of a URL,
    and the route still matches then, as dispatch does.
    """

    protocol: Literal["http", "websocket"] = "http"

    def __init__(self, app: App, key: str, plan: HandlerPlan) -> None:
        Route.__init__(
            self,
            path_template(key, plan),
            endpoint=_AppEndpoint(app._handle_http),
            methods=plan.methods,
            name=plan.name,
        )
        self._setup(app, key, plan)

    def _find(self, name: str) -> HandlerPlan | None:
        return self.app_ref._find_handler(name)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return self._match(scope, "http")

    def __repr__(self) -> str:
        methods = sorted(self.methods or ["*"])
        return f"HandlerRoute(path={self.path!r}, name={self.name!r}, methods={methods!r})"


class HandlerWebSocketRoute(_HandlerRouteMixin, WebSocketRoute):
    """The route of one ``ws_`` handler: ``ws_chat(ws, room)`` → ``/chat/{room}``."""

    protocol: Literal["http", "websocket"] = "websocket"

    def __init__(self, app: App, key: str, plan: HandlerPlan) -> None:
        WebSocketRoute.__init__(
            self,
            path_template(key, plan),
            endpoint=_AppEndpoint(app._handle_websocket),
            name=plan.name,
        )
        self._setup(app, key, plan)

    def _find(self, name: str) -> HandlerPlan | None:
        return self.app_ref._ws_handlers.get(name)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        return self._match(scope, "websocket")

    def __repr__(self) -> str:
        return f"HandlerWebSocketRoute(path={self.path!r}, name={self.name!r})"


def _split_params(
    plan: HandlerPlan, name: str, params: dict[str, Any]
) -> tuple[list[str], list[tuple[str, str]]]:
    """Path segments and query pairs for ``params``; ``NoMatchFound`` names what is wrong."""
    params = dict(params)
    segments: list[str] = []
    query: list[tuple[str, str]] = []
    in_path = True  # once an optional parameter is left out, later ones go to the query
    for param in (*plan.positional, *plan.keyword_only):
        if param.file and param.name in params:
            reason = f"'{param.name}' is an uploaded file, sent in the body, never in the URL"
            raise _no_match(name, params, reason)
        if param.injected and param.name in params:
            reason = f"'{param.name}' receives the request, never a value from the URL"
            raise _no_match(name, params, reason)
    for param in plan.segment_params:
        if param.name not in params:
            if param.required:
                raise _no_match(name, params, f"missing path parameter '{param.name}'")
            in_path = False
            continue
        value = params.pop(param.name)
        if isinstance(value, _SEVERAL):  # one segment holds one value: these and later
            in_path = False  # ones go to the query string (?ids=1&ids=2)
        if in_path:
            segments.append(_segment(name, param.name, value))
        else:
            query.extend(_query_pairs(param.name, value))
    rest = plan.var_positional
    if rest is not None and rest.name in params:
        value = params.pop(rest.name)
        if not in_path:
            raise _no_match(name, params, f"'{rest.name}' needs every positional parameter")
        segments.extend(_path_segments(name, rest.name, value))
    for param in plan.keyword_only:
        if param.name in params:
            query.extend(_query_pairs(param.name, params.pop(param.name)))
    if params and not plan.var_keyword:
        unknown = ", ".join(sorted(params))
        raise _no_match(name, params, f"the handler takes no parameter {unknown}")
    for key, value in params.items():
        query.extend(_query_pairs(key, value))
    return segments, query


def url_text(value: Any) -> str:
    """``value`` as the text dispatch reads back into it: an enum member as its value,
    ``True``/``False`` as ``true``/``false``, a date or time in ISO 8601 as JSON answers
    write it (``2024-05-01T12:00:00Z``), anything else as ``str(value)``."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date | datetime.time):
        return iso_text(value)
    return str(value)


def _segment(name: str, param: str, value: Any) -> str:
    text = url_text(value)
    if not text or "/" in text:
        raise _no_match(name, {param: value}, f"'{param}' must be a non-empty value without '/'")
    return text


def _path_segments(name: str, param: str, value: Any) -> list[str]:
    """``*args`` values: a ``/``-separated string or a sequence of segments."""
    if isinstance(value, str):
        value = value.strip("/").split("/") if value.strip("/") else []
    return [_segment(name, param, item) for item in value]


_SEVERAL = (list, tuple, set, frozenset)


def _query_pairs(key: str, value: Any) -> list[tuple[str, str]]:
    if value is None:
        return []
    if isinstance(value, _SEVERAL):
        return [(key, url_text(item)) for item in value]
    return [(key, url_text(value))]


def _no_match(name: str, params: dict[str, Any], reason: str) -> NoMatchFound:
    error = NoMatchFound(name, params)
    error.args = (f'No route for name "{name}": {reason}.',)
    return error


class AppRouter(Router):
    """The app's Starlette router.

    :attr:`routes` is the whole table: explicit routes (mounts and ``add_route``, in the
    order added), then one route per HTTP handler, then one per websocket handler, then
    the fallbacks (an ``index`` taking every path no other handler claims). Dispatch
    tries the explicit routes and then hands the connection to the app, which finds its
    handler with one dictionary lookup.
    """

    def __init__(self, app: App, lifespan: Lifespan[Any], wrap: Callable[[ASGIApp], ASGIApp]):
        self._owner = app
        self._wrap = wrap
        # Explicit routes answer HTTPException and the app's exception handlers through
        # this, built at the first request (when the app's debug setting is final).
        self._handle_chosen: ASGIApp | None = None
        self._explicit: list[BaseRoute] = []
        self._mount_paths: frozenset[str] = frozenset()
        super().__init__(redirect_slashes=False, lifespan=lifespan)

    # -- the table ------------------------------------------------------------------------

    @property
    def routes(self) -> list[BaseRoute]:
        """Explicit routes, HTTP handler routes, websocket handler routes, then fallbacks."""
        return [*self._explicit, *self.handler_routes()]

    @routes.setter
    def routes(self, routes: Iterable[BaseRoute]) -> None:
        self._explicit = list(routes)
        self._owner._direct = None
        self._update_mount_paths()

    def handler_routes(self) -> Iterator[BaseRoute]:
        """One route per handler, instance-assigned ones included, fallbacks last."""
        owner = self._owner
        plans = {**owner._handlers}
        for name in list(owner.__dict__):
            plan = owner._find_handler(name)
            if plan is not None:
                plans[name] = plan
        http, http_fallback = _split_fallback(plans)
        ws, ws_fallback = _split_fallback(owner._ws_handlers)
        yield from (*http, *ws, *http_fallback, *ws_fallback)

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Collection[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Add a Starlette ``Route``, matched before the handlers."""
        route = Route(
            path, endpoint, methods=methods, name=name, include_in_schema=include_in_schema
        )
        self._add(route)

    def add_websocket_route(
        self, path: str, endpoint: Callable[..., Any], name: str | None = None
    ) -> None:
        """Add a Starlette ``WebSocketRoute``, matched before the handlers."""
        self._add(WebSocketRoute(path, endpoint, name=name))

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        """Mount ``app`` under ``path``; its own routes stay visible for ``url_path_for``."""
        self._add(Mount(path, app=app, name=name))

    def _add(self, route: BaseRoute) -> None:
        self._explicit.append(route)
        self._owner._direct = None  # explicit routes are matched here: no direct path
        self._update_mount_paths()

    def _update_mount_paths(self) -> None:
        paths = (route.path for route in self._explicit if isinstance(route, Mount))
        self._mount_paths = frozenset(path for path in paths if path)

    # -- URLs ------------------------------------------------------------------------------

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The path of the handler called ``name``, else of the first explicit route that has it.

        The app's own handler names come first, so an unnamed mount (which lends its
        routes' names) never takes one of them.
        """
        plan = self._owner._plan_named(name)
        if plan is not None and plan.route is not None:
            return plan.route.url_path_for(name, **path_params)
        for route in self._explicit:
            try:
                return route.url_path_for(name, **path_params)
            except NoMatchFound:
                pass
        raise _no_match(name, path_params, "no handler or route has that name")

    # -- dispatch ----------------------------------------------------------------------------

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "router" not in scope:
            scope["router"] = self
        kind = scope["type"]
        if kind == "lifespan":
            await self.lifespan(scope, receive, send)
            return
        if self._explicit and await self._explicit_route(scope, receive, send):
            return
        if kind == "http":
            await self._owner._handle_http(scope, receive, send)
        else:
            await self._owner._handle_websocket(scope, receive, send)

    def route_for(self, scope: Scope) -> BaseRoute | None:
        """The route that would serve ``scope``, or ``None`` (a 404), found as dispatch does."""
        chosen = self._explicit_choice(scope) if self._explicit else None
        if chosen is not None:
            return chosen[0]
        owner = self._owner
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            return None
        find = owner._find_handler if kind == "http" else owner._ws_handlers.get
        plan, segments = resolve_path(route_path(scope), find)
        if plan is None or plan.rejects_extra(segments):
            return None
        return plan.route

    def _explicit_choice(self, scope: Scope) -> tuple[BaseRoute, Scope] | None:
        """The first explicit route matching fully, else the first matching partially."""
        chosen: tuple[BaseRoute, Scope] | None = None
        for route in self._explicit:
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                return route, child_scope
            if match is Match.PARTIAL and chosen is None:
                chosen = route, child_scope
        return chosen

    async def _explicit_route(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Serve the connection with an explicit route when one takes it (as Starlette does)."""
        chosen = self._explicit_choice(scope)
        if chosen is not None:
            route, child_scope = chosen
            scope["route"] = route
            scope.update(child_scope)
            if self._handle_chosen is None:
                self._handle_chosen = self._wrap(_handle_chosen_route)
            await self._handle_chosen(scope, receive, send)
            return True
        if scope["type"] == "http" and route_path(scope) in self._mount_paths:
            # "/static" → "/static/", as a Starlette router redirects into its mounts.
            redirect_scope = {**scope, "path": scope["path"] + "/"}
            response = RedirectResponse(url=str(URL(scope=redirect_scope)))
            await response(scope, receive, send)
            return True
        return False


def find_route(app: App, scope: Scope) -> BaseRoute | None:
    """The route of ``app`` that would serve ``scope`` (``None`` when it would answer 404).

    One dictionary lookup, as dispatch does, where walking :attr:`App.routes` and calling
    each ``matches()`` costs one call per route; for ASGI middleware that runs before
    the app, e.g. to name an OpenTelemetry span by its route template.
    """
    return app._router.route_for(scope)


async def _handle_chosen_route(scope: Scope, receive: Receive, send: Send) -> None:
    await scope["route"].handle(scope, receive, send)


def _split_fallback(plans: dict[str, HandlerPlan]) -> tuple[list[BaseRoute], list[BaseRoute]]:
    """The plans' routes, and apart the route of ``index`` when it takes every unclaimed path."""
    routes: list[BaseRoute] = []
    fallback: list[BaseRoute] = []
    index = plans.get("index")
    for plan in plans.values():
        if plan.route is not None:
            (fallback if plan is index and plan.takes_path else routes).append(plan.route)
    return routes, fallback
