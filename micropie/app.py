"""The :class:`App` base class: set-up, the ASGI entry point and HTTP dispatch.

A request flows through Starlette's error middleware, any user Starlette middleware
and the app's :class:`~micropie.routes.AppRouter`; mounts and explicit routes are
matched first, then HTTP requests go to :meth:`App._handle_http` and websockets to
:mod:`micropie.websockets`, which find their handler with one dictionary lookup.

HTTP dispatch reads as steps: resolve the handler → parse the body → load the
session → ``before_request`` hooks → bind arguments → call → ``after_request`` hooks
→ save the session → send.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import re
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import anyio
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import URLPath
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import cookie_parser
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Lifespan, Message, Receive, Scope, Send

from ._optional import require
from .body import DEFAULT_LIMITS, Limits, parse_body, release_body
from .errors import ErrorResponder, ServerErrors, below_dispatch
from .fast_path import DirectPath, app_call
from .middleware import HttpMiddleware, WebSocketMiddleware
from .request import Announced, Request, announced, current_request, route_path
from .responses import (
    Headers,
    header_list,
    is_generator_function,
    is_whole_body,
    send_result,
    split_result,
)
from .routes import AppRouter, attach_route
from .routing import (
    HandlerPlan,
    bind_arguments,
    bind_in_thread,
    build_handler_table,
    debug_not_found,
    is_routable_value,
    not_found,
    plan_handler,
    resolve_path,
)
from .routing import route_name as _route_name
from .serving import (
    debug_from_environ,
    import_string,
    needs_import_string,
    serve,
    server_address,
    worker_count,
)
from .sessions import (
    SESSION_TIMEOUT,
    STORE_TIMEOUT,
    InMemorySessionBackend,
    SessionBackend,
    SessionManager,
    session_unread,
)
from .subapps import PARENT_REQUEST_KEY, adopt_parent_state, hand_off
from .templates import Templates

__all__ = ["App"]

logger = logging.getLogger("micropie")


class App:
    """Subclass this; every public method is a URL (``/name/segments?query``).

    ``App`` is an ASGI application: serve it with ``uvicorn module:app`` or
    :meth:`run`, test it with Starlette's ``TestClient``, mount it in Starlette.
    """

    #: The class whose attributes are never URLs (it and its bases); ``Server`` sets itself.
    _framework: ClassVar[type[App]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _refuse_handlers_replacing_state(cls)

    def __init__(
        self,
        session_backend: SessionBackend | None = None,
        *,
        session_timeout: int = SESSION_TIMEOUT,
        session_cookie_secure: bool | None = None,
        templates_dir: str | os.PathLike[str] = "templates",
        middleware: Sequence[Middleware] | None = None,
        exception_handlers: Mapping[Any, Callable[..., Any]] | None = None,
        debug: bool = False,
        lifespan: Lifespan[Any] | None = None,
        max_body_size: int | None = DEFAULT_LIMITS.max_body_size,
        max_form_field_size: int | None = DEFAULT_LIMITS.max_form_field_size,
        max_form_parts: int | None = DEFAULT_LIMITS.max_form_parts,
        body_timeout: float | None = DEFAULT_LIMITS.body_timeout,
        max_buffer_size: int | None = DEFAULT_LIMITS.max_buffer_size,
        websocket_origins: Sequence[str] | None = None,
        json_errors: bool = False,
        openapi_url: str | None = None,
        docs_url: str | None = None,
        openapi_info: Mapping[str, Any] | None = None,
        session_store_timeout: float | None = STORE_TIMEOUT,
    ) -> None:
        if isinstance(session_backend, dict) and "type" in session_backend:
            name = type(self).__name__  # an ASGI server (or TestClient) given the class
            raise TypeError(f"{name} was called with an ASGI scope: serve an instance, "
                            f"`app = {name}()`, not the class")  # fmt: skip
        #: :class:`HttpMiddleware` hooks, run in order around every HTTP handler.
        self.middlewares: list[HttpMiddleware] = []
        #: :class:`WebSocketMiddleware` hooks, run in order around every websocket handler.
        self.ws_middlewares: list[WebSocketMiddleware] = []
        #: Callables (sync or async) run at lifespan startup, in order.
        self.startup_handlers: list[Callable[[], Any]] = []
        #: Callables (sync or async) run at lifespan shutdown, in order.
        self.shutdown_handlers: list[Callable[[], Any]] = []
        self._sessions = SessionManager(
            InMemorySessionBackend() if session_backend is None else session_backend,
            session_timeout,
            session_cookie_secure,
            store_timeout=session_store_timeout,
        )
        self._limits = Limits(
            max_body_size, max_form_field_size, max_form_parts, body_timeout, max_buffer_size
        )
        self._debug = debug = debug or debug_from_environ()
        self._templates = Templates(templates_dir, auto_reload=debug)
        self._errors = ErrorResponder(exception_handlers or {}, debug, json_errors)
        self._user_lifespan = lifespan
        self._user_middleware = list(middleware or [])
        self._middleware_stack: ASGIApp | None = None
        # The direct path (micropie.fast_path), when no user middleware or explicit route runs.
        self._direct: DirectPath | None = None
        self._websocket_origins = None if websocket_origins is None else list(websocket_origins)
        self._reserved = _reserved_names(self._framework)
        self._handlers = build_handler_table(self, self._framework)
        self._ws_handlers = build_handler_table(self, self._framework, ws=True)
        for key, plan in self._handlers.items():
            attach_route(self, key, plan)
        for key, plan in self._ws_handlers.items():
            attach_route(self, key, plan, ws=True)
        self._dynamic_plans: dict[str, HandlerPlan] = {}
        # The Starlette router: mounts and explicit routes, then one route per handler.
        # Private, so a subclass may keep its own ``self.router`` (MicroPie's examples do).
        self._router = AppRouter(self, self._lifespan, self._errors.wrap_mounted)
        self._openapi_info = dict(openapi_info or {})
        self._serve_openapi(openapi_url, docs_url)
        # The instance dict, read by __dict__ above, is a "split" dict sharing its keys
        # with the class: CPython 3.11 specializes reads like self._direct for it but
        # its guard then fails on every read (each falls back to a generic lookup, ~300
        # instructions per request over app_call's four). A plain dict keeps them cheap.
        self.__dict__ = dict(self.__dict__)

    # -- public API -----------------------------------------------------------------

    @property
    def request(self) -> Request:
        """The request being handled (HTTP or websocket)."""
        return current_request.get()

    @property
    def session(self) -> dict[str, Any]:
        """Shortcut for ``self.request.session``."""
        return current_request.get().session

    @property
    def session_backend(self) -> SessionBackend:
        """Where sessions are stored (in memory unless given); assignable."""
        return self._sessions.backend

    @session_backend.setter
    def session_backend(self, backend: SessionBackend) -> None:
        self._sessions.use_backend(backend)

    @property
    def routes(self) -> list[BaseRoute]:
        """The route table: mounts and explicit routes, then one route per handler.

        Each handler's route is a Starlette ``Route`` (``WebSocketRoute`` for ``ws_``
        handlers) whose ``path`` is its template, ``name`` the handler's name,
        ``endpoint`` the handler and ``plan`` its parameters. A subclass that sets its
        own ``self.routes`` keeps it (MicroPie applications may).
        """
        own: list[BaseRoute] | None = self.__dict__.get("routes")
        return self._router.routes if own is None else own

    @routes.setter
    def routes(self, value: Any) -> None:
        self.__dict__["routes"] = value

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of this app's handlers, built from the route table."""
        from .openapi import openapi_document

        return openapi_document(self, self._openapi_info)

    def mount(self, path: str, app: ASGIApp, name: str | None = None) -> None:
        """Serve ``app`` (e.g. ``StaticFiles``) under ``path``, matched before handlers."""
        self._router.mount(path, app, name=name)

    def add_route(
        self,
        path: str,
        route: Callable[..., Any],
        methods: list[str] | None = None,
        name: str | None = None,
        include_in_schema: bool = True,
    ) -> None:
        """Add a Starlette route (``route(request) -> Response``), matched before handlers."""
        self._router.add_route(
            path, route, methods=methods, name=name, include_in_schema=include_in_schema
        )

    def add_websocket_route(
        self, path: str, route: Callable[..., Any], name: str | None = None
    ) -> None:
        """Add a Starlette websocket route (``route(websocket)``), matched before handlers."""
        self._router.add_websocket_route(path, route, name=name)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        """The URL path of handler or route ``name`` (Starlette's ``NoMatchFound`` if none).

        Path parameters fill the handler's template; other parameters it binds go to
        the query string.
        """
        return self._router.url_path_for(name, **path_params)

    def add_middleware(self, middleware_class: Any, *args: Any, **kwargs: Any) -> None:
        """Wrap the whole app in a Starlette middleware (CORS, GZip, ...)."""
        if self._middleware_stack is not None:
            raise RuntimeError("Cannot add middleware after the application has started")
        self._user_middleware.insert(0, Middleware(middleware_class, *args, **kwargs))

    @property
    def wsgi_app(self) -> Any:
        """This app's HTTP side as a WSGI application (needs ``micropie[wsgi]``).

        Websockets and lifespan events do not cross to WSGI servers.
        """
        wsgi = self.__dict__.get("_wsgi_adapter")
        if wsgi is None:
            a2wsgi = require("a2wsgi", feature="App.wsgi_app", package="a2wsgi", extra="wsgi")
            wsgi = self.__dict__["_wsgi_adapter"] = a2wsgi.ASGIMiddleware(self)
        return wsgi

    def run(self, host: str | None = None, port: int | None = None, **options: Any) -> None:
        """Serve the app with uvicorn (needs ``micropie[standard]``).

        ``host`` and ``port`` default to ``$HOST`` and ``$PORT``, then ``127.0.0.1:8000``;
        other keywords go to ``uvicorn.run``. ``debug=True`` shows tracebacks on the error
        page. ``reload=True`` and ``workers=N`` (default: ``$WEB_CONCURRENCY``, then 1)
        re-import the app in new processes from the module-level variable that holds it.
        """
        host, port = server_address(host, port)
        workers = worker_count(options.get("workers"), reload=bool(options.get("reload")))
        if workers is not None:
            options["workers"] = workers
        debug = bool(options.pop("debug", False))
        target: Any = self
        if needs_import_string(options):
            target = import_string(self, _caller_namespace())
            if target is None:
                raise RuntimeError(
                    "app.run(reload=True) and app.run(workers=N) (or WEB_CONCURRENCY=N) import "
                    "the app again in new processes, so it must be a module-level variable "
                    "(app = MyApp() at the top of a module); or run it with: "
                    "micropie run module:app --reload"
                )
        elif debug:
            self._enable_debug()
        serve(target, host=host, port=port, debug=debug, **options)

    #: The ASGI entry: the direct path (:mod:`micropie.fast_path`), else the middleware stack.
    __call__ = app_call

    async def _call_stack(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve a request through the middleware stack, built on the first request."""
        stack = self._middleware_stack
        if stack is None:
            stack = self._middleware_stack = self._build_middleware_stack()
            if self._direct is not None:  # the first request: the direct path, now built
                await app_call(self, scope, receive, send)
                return
        await stack(scope, receive, send)

    # -- MicroPie compatibility helpers -----------------------------------------------

    def _redirect(
        self,
        location: str,
        extra_headers: Sequence[tuple[str, str]] | None = None,
        status: int = 302,
    ) -> tuple[int, str, list[tuple[str, str]]]:
        """A redirect response tuple; non-ASCII in the path is percent-encoded.

        The query string is left as it is, except that spaces, control characters and
        text beyond latin-1 (which a header cannot carry) are percent-encoded too.
        """
        path, mark, query = location.partition("?")
        safe_path = quote(path, safe="/:@!$&'()*+,;=%#~-._")
        safe_query = _UNSENDABLE_IN_QUERY.sub(_percent_encode, query)
        headers = [("Location", safe_path + mark + safe_query), *(extra_headers or [])]
        return status, "", headers

    async def _render_template(self, name: str, /, **context: Any) -> str:
        """Render a Jinja2 template from ``templates_dir`` (needs ``micropie[standard]``)."""
        return await self._templates.render(name, **context)

    @staticmethod
    def _parse_cookies(cookie_header: str) -> dict[str, str]:
        """Parse a ``Cookie`` header into a dict."""
        return cookie_parser(cookie_header) if cookie_header else {}

    async def _send_response(
        self,
        send: Send,
        status_code: int,
        body: Any,
        extra_headers: Sequence[tuple[str, str]] | None = None,
    ) -> None:
        """Send a whole response through a raw ASGI ``send`` (for hand-written ASGI code)."""
        try:
            scope = current_request.get().scope
        except LookupError:
            scope = {"type": "http", "method": "GET"}
        await send_result(scope, _no_receive, send, status_code, body, list(extra_headers or []))

    async def _asgi_app_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """MicroPie's HTTP entry point: serve one HTTP request through the whole app.

        For code written against MicroPie whose own ``__call__`` hands HTTP requests on
        to it (calling ``self(...)`` there would enter that ``__call__`` again).
        """
        await App.__call__(self, scope, receive, send)

    # -- set-up -------------------------------------------------------------------------

    def _enable_debug(self) -> None:
        if self._middleware_stack is not None:
            raise RuntimeError("debug cannot be turned on after the application has started")
        self._debug = self._errors.debug = True

    def _serve_openapi(self, openapi_url: str | None, docs_url: str | None) -> None:
        """Routes for ``App(openapi_url=..., docs_url=...)``; neither exists by default."""
        if docs_url is not None and openapi_url is None:
            raise ValueError("docs_url needs openapi_url: the page shows that document")
        if openapi_url is None:
            return
        from .openapi import docs_routes, openapi_endpoint

        self.add_route(openapi_url, openapi_endpoint, ["GET"], "openapi", include_in_schema=False)
        for path, endpoint, name in docs_routes(openapi_url, docs_url):
            self.add_route(path, endpoint, ["GET"], name, include_in_schema=False)

    def _build_middleware_stack(self) -> ASGIApp:
        # HTTPException and exception handlers are answered by self._errors inside the
        # catch-all routes (and around each mount), so no ExceptionMiddleware is needed.
        error_handler = self._errors.last_resort_handler
        stack = [Middleware(ServerErrors, handler=error_handler, debug=self._debug)]
        if self._websocket_origins is not None:  # every websocket, mounted apps' too
            from .websockets import OriginGuard

            stack.append(Middleware(OriginGuard, origins=self._websocket_origins))
        stack.extend(self._user_middleware)
        app: ASGIApp = self._router
        for cls, args, kwargs in reversed(stack):
            app = cls(app, *args, **kwargs)
        if not self._user_middleware and not self._router._explicit:
            fallback = ServerErrors(self._handle_http, handler=error_handler, debug=self._debug)
            self._direct = DirectPath(self, fallback)
        return app

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Any) -> AsyncIterator[Any]:
        for handler in self.startup_handlers:
            await _call_maybe_async(handler)
        state = None
        if self._user_lifespan is None:
            yield None
        else:
            lifespan = self._user_lifespan
            if inspect.isasyncgenfunction(lifespan):
                lifespan = contextlib.asynccontextmanager(lifespan)
            async with lifespan(app) as state:
                yield state
        await _run_shutdown_handlers(self.shutdown_handlers)

    # -- handler lookup -------------------------------------------------------------------

    def _find_handler(self, name: str, allow_private: bool = False) -> HandlerPlan | None:
        """The plan for handler ``name``; instance attributes win over class methods."""
        instance_attributes = self.__dict__
        if name in instance_attributes:
            return self._dynamic_plan(name, instance_attributes[name], allow_private)
        plan = self._handlers.get(name)
        if plan is None and allow_private:
            return self._private_plan(name)
        return plan

    def _dynamic_plan(self, name: str, value: Any, allow_private: bool) -> HandlerPlan | None:
        if not callable(value) or isinstance(value, type):
            return None
        if name in self._reserved or (_route_name(name, ws=False) is None and not allow_private):
            return None
        plan = self._dynamic_plans.get(name)
        if plan is None or getattr(plan.func, "__wrapped__", plan.func) is not value:
            plan = self._dynamic_plans[name] = plan_handler(name, value)
            if _route_name(name, ws=False) is not None:
                attach_route(self, name, plan)
        return plan

    def _private_plan(self, name: str) -> HandlerPlan | None:
        """A plan for a ``_private`` handler named by explicit routing (SPEC §7)."""
        if name in self._reserved or name.startswith("__") or not name.startswith("_"):
            return None
        raw = inspect.getattr_static(self, name, None)
        if raw is None or isinstance(raw, property) or not callable(getattr(self, name)):
            return None
        plan = self._dynamic_plans.get(name)
        if plan is None:
            plan = self._dynamic_plans[name] = plan_handler(name, getattr(self, name))
        return plan

    def _plan_named(self, name: str) -> HandlerPlan | None:
        """The routed plan of the handler called ``name`` (``ws_`` ones included)."""
        if name.startswith("ws_"):
            return self._ws_handlers.get(name[3:])
        plan = self._find_handler(name)
        return plan if plan is not None and plan.route is not None else None

    def _names_a_handler(self, segment: str, protocol: str) -> bool:
        """Whether a first path segment would reach a handler of its own."""
        if protocol == "websocket":
            return segment in self._ws_handlers
        return self._find_handler(segment) is not None

    def _explicit_handler(self, request: Request) -> HandlerPlan | None:
        """The handler a middleware chose with ``request._route_handler`` (SPEC §7)."""
        scope = request.scope
        scope.pop("route", None)
        scope.pop("endpoint", None)
        plan = self._find_handler(request._route_handler or "", allow_private=True)
        if plan is None or plan.rejects_extra(request.path_params):
            return None
        if plan.route is not None:
            scope["route"] = plan.route
        scope["endpoint"] = plan.func
        return plan

    # -- HTTP dispatch --------------------------------------------------------------------

    async def _handle_http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if "router" not in scope:  # the direct path: as the router would have set it
            scope["router"] = self._router
        request = Request(scope, receive, send)
        try:
            await self._dispatch(request)
        except Exception as exc:
            await self._answer_exception(request, exc)
        finally:
            await self._clean_up(request)

    async def _answer_exception(self, request: Request, exc: Exception) -> None:
        """Answer what dispatch raised (re-raised when only the server-error layer can)."""
        _leave_context(request)
        if self.middlewares and not request._after_hooks_started:
            await self._answer_error(request, exc)
        else:
            await self._errors.respond(request, exc)

    async def _clean_up(self, request: Request) -> None:
        """Leave the context; finish uploads and release a kept body, once answered."""
        if request._context_token is not None:
            _leave_context(request)
        if request._files:
            from .uploads import finish_uploads

            await finish_uploads(request, cancelled=_cancelling())
        if request._frozen_body:
            await release_body(request)

    async def _dispatch(self, request: Request) -> None:
        scope = request.scope
        plan, segments = resolve_path(route_path(scope), self._find_handler)
        if plan is not None:
            if plan.rejects_extra(segments):
                plan = None
            else:  # the Starlette convention monitoring tools read (404s carry no route)
                scope["route"] = plan.route
                scope["endpoint"] = plan.func
        middlewares = self.middlewares
        if plan is None and not middlewares:
            raise self._no_handler(scope)
        parent = scope.get(PARENT_REQUEST_KEY)
        if parent is not None:
            adopt_parent_state(request, parent)
        else:
            state = announced(scope)
            if state[0] or state[1] is not None:
                await self._read_request_state(request, plan, state)
            else:
                request._limits = self._limits
        # Set only now: a timer armed while reading the body would otherwise copy a
        # context holding the request and keep it alive after the response.
        request._context_token = current_request.set(request)
        if middlewares:
            session = request.session
            answered = await self._before_request(request)
            if request.session is not session:  # a hook keeps its own session scheme
                request._session_managed = False
            if answered is not None:
                await self._finish(request, *answered)
                return
            if request._subapp is not None:
                await self._hand_off(request)
                return
            if request._route_handler is not None:
                plan = self._explicit_handler(request)
                segments = list(request.path_params)
        if plan is None:
            raise self._no_handler(scope)
        request.path_params = segments
        methods = plan.methods  # plan.refuses(method), inline: this runs on every request
        method = scope["method"]
        if method == "CONNECT" if methods is None else method not in methods:
            raise HTTPException(405, "405 Method Not Allowed", headers={"Allow": plan.allow_header})
        result = await self._call_handler(request, plan, segments)
        await self._finish(request, *split_result(result))

    def _no_handler(self, scope: Scope) -> HTTPException:
        """The 404 for a path no handler takes; in debug mode it names the handlers."""
        if not self._debug:
            return not_found()
        return debug_not_found(route_path(scope), self._handlers)

    async def _read_request_state(
        self, request: Request, plan: HandlerPlan | None, state: Announced
    ) -> None:
        """Parse the body and load the session (the request has one or the other)."""
        has_body, cookie, content_type, length = state
        if has_body:
            limits = self._limits
            if plan is not None and plan.limits:
                limits = limits.with_overrides(plan.limits)
            request._limits = limits
            await parse_body(request, limits, content_type, length)
        else:
            request._limits = self._limits
        if cookie is not None:
            request._session_cookie_sent = True
            await self._sessions.open(request, defer_failure=True, header=cookie)

    async def _before_request(self, request: Request) -> tuple[int, Any, Headers] | None:
        for middleware in self.middlewares:
            result = await middleware.before_request(request)
            if result and not isinstance(result, Mapping):
                raise TypeError(f"{middleware!r}.before_request must return None or a dict")
            if result:
                status = result.get("status_code", 200)
                return status, result.get("body", ""), header_list(result.get("headers"))
        return None

    async def _call_handler(self, request: Request, plan: HandlerPlan, segments: list[str]) -> Any:
        if plan.takes_nothing and not segments:
            args: list[Any] = []
            kwargs: dict[str, Any] = {}
        elif plan.models and request._frozen_body:
            args, kwargs = await bind_in_thread(plan, segments, request)
        else:
            args, kwargs = bind_arguments(plan, segments, request)
        try:
            if plan.is_async:
                return await plan.func(*args, **kwargs)
            if is_generator_function(plan.func):
                return plan.func(*args, **kwargs)
            return await run_in_threadpool(plan.func, *args, **kwargs)
        except HTTPException:
            raise
        except Exception as exc:
            if not self._errors.answers_as_500(exc):
                raise
            return self._handler_raised(plan, request)

    def _handler_raised(
        self, plan: HandlerPlan, request: Request
    ) -> tuple[int, str | bytes, Headers]:
        """Log the exception being handled and give micropie's 500 answer for it.

        The line names the request (``Handler 'item' raised on GET /item/7``): among
        parallel requests, the access log line that follows may be another's.
        """
        error = sys.exc_info()[1]
        assert error is not None  # called while handling the handler's exception
        logger.error(
            "Handler %r raised on %s %s",
            plan.name,
            request.method,
            request.scope.get("path"),
            exc_info=below_dispatch(error),
        )
        return self._errors.internal_error()

    async def _finish(self, request: Request, status: int, body: Any, headers: Headers) -> None:
        if self.middlewares:
            status, body, headers = await self._after_request(request, status, body, headers)
        if request._session_managed and (request._session_cookie_sent or request.session):
            if PARENT_REQUEST_KEY not in request.scope:  # a handing-off parent saves it
                await self._sessions.commit(request, headers)
        if type(body) is not str and not is_whole_body(body):  # streams, Responses may fail late
            request._response_started = True
        else:
            # The server may copy this task's context while we send (uvicorn's keep-alive
            # timer does): leave it first, so the request is not kept alive by that copy.
            _leave_context(request)
        await send_result(request.scope, request._receive, request._send, status, body, headers)

    async def _answer_error(self, request: Request, exc: Exception) -> None:
        """Answer ``exc`` through the ``after_request`` hooks, as every response goes."""
        response = await self._errors.response_for(request, exc)
        if response is None:
            return
        if session_unread(request.session):  # hooks see no session, as when none was sent
            request.session = {}
        token = current_request.set(request)  # as for other answers, hooks may use it
        try:
            status, body, headers = await self._after_request(
                request, response.status_code, response, []
            )
        except Exception:
            logger.exception("An after_request hook raised on the answer to an error")
            status, body, headers = response.status_code, response, []
        finally:
            current_request.reset(token)
        await send_result(request.scope, request._receive, request._send, status, body, headers)

    async def _after_request(
        self, request: Request, status: int, body: Any, headers: Headers
    ) -> tuple[int, Any, Headers]:
        request._after_hooks_started = True
        for middleware in self.middlewares:
            result = await middleware.after_request(request, status, body, headers)
            if result and not isinstance(result, Mapping):
                raise TypeError(f"{middleware!r}.after_request must return None or a dict")
            if result:
                status = result.get("status_code", status)
                body = result.get("body", body)
                if "headers" in result:
                    headers = header_list(result["headers"])
        return status, body, headers

    async def _hand_off(self, request: Request) -> None:
        """Pass the request to ``request._subapp`` below its mount path (SPEC §7)."""
        await hand_off(request, self._sessions)

    # -- websockets ------------------------------------------------------------------------

    async def _handle_websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        from .websockets import handle_websocket

        await handle_websocket(self, scope, receive, send)


App._framework = App
_INSTANCE_ATTRIBUTES = frozenset(
    {"middlewares", "ws_middlewares", "startup_handlers", "shutdown_handlers"}
)


_UNSENDABLE_IN_QUERY = re.compile("[\x00-\x20\x7f\u0100-\U0010ffff]")


def _percent_encode(match: re.Match[str]) -> str:
    return quote(match.group(), safe="")


def _refuse_handlers_replacing_state(cls: type[App]) -> None:
    """Refuse a handler named like state micropie reads: a property of the framework
    (``request``, ``session``, ``routes`` ...) or a list ``App.__init__`` sets
    (``middlewares`` ...). A method would silently replace it and break the app at run
    time; overriding a framework *method* (``run``, ``redirect``) stays allowed."""
    for name, value in vars(cls).items():
        if not is_routable_value(value):
            continue
        owner = next(
            (
                base
                for base in cls.__mro__[1:]
                if base.__module__.startswith("micropie.")
                and (isinstance(vars(base).get(name), property) or name in _INSTANCE_ATTRIBUTES)
            ),
            None,
        )
        if owner is not None:
            raise TypeError(
                f"{cls.__qualname__}.{name} would replace {owner.__name__}.{name}, which "
                f"micropie itself uses: give the handler another name"
            )


def _reserved_names(framework: type[App]) -> frozenset[str]:
    """Names no URL reaches: every attribute ``framework`` (and ``App``) defines or sets."""
    return frozenset(n for n in dir(framework) if not n.startswith("__")) | _INSTANCE_ATTRIBUTES


async def _run_shutdown_handlers(handlers: Sequence[Callable[[], Any]]) -> None:
    """Run every shutdown handler, even after one raised, then raise the first error.

    Each handler releases its own resource (a Redis pool, a database, the broadcast's
    connection): one that fails must not leave the others open. Later failures are
    logged here; the first is raised for the server to report (``lifespan.shutdown.failed``).
    """
    first: Exception | None = None
    for handler in handlers:
        try:
            await _call_maybe_async(handler)
        except Exception as exc:
            if first is None:
                first = exc
            else:
                name = getattr(handler, "__qualname__", None) or repr(handler)
                logger.error("Shutdown handler %s raised", name, exc_info=exc)
    if first is not None:
        raise first


def _cancelling() -> bool:
    """Whether the exception being handled (in a ``finally``) is a cancellation or exit."""
    exc = sys.exc_info()[1]
    return exc is not None and not isinstance(exc, Exception)


def _leave_context(request: Request) -> None:
    """Unset :data:`current_request` for ``request`` (once)."""
    token = request._context_token
    if token is not None:
        request._context_token = None
        try:
            current_request.reset(token)
        except ValueError:
            # Another context: the request's coroutine is being closed from outside its
            # task (a2wsgi drops an abandoned response's task), nothing here to restore.
            pass


async def _no_receive() -> Message:
    """A receive for hand-written ASGI code: the client never goes away."""
    await anyio.sleep_forever()
    raise AssertionError("unreachable")


def _caller_namespace() -> dict[str, Any]:
    """The globals of the nearest calling frame outside micropie (where the app lives)."""
    frame = sys._getframe(1)
    while frame.f_back is not None and frame.f_globals.get("__name__", "").startswith("micropie."):
        frame = frame.f_back
    return frame.f_globals


async def _call_maybe_async(func: Callable[[], Any]) -> None:
    result = func()
    if inspect.isawaitable(result):
        await result
