"""Handler discovery, per-handler call plans and argument binding (SPEC §1, §2).

Everything that can be known before a request arrives is computed here once: which
names are routable, each handler's parameters with their converters, its allowed
methods and limits. Per request, :func:`bind_arguments` only looks values up.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import anyio
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest
from starlette.routing import BaseRoute

from .body import too_large
from .converters import (
    ConstraintError,
    Converter,
    converter_for,
    is_class,
    is_list_annotation,
    strip_annotated,
)
from .exceptions import RequestValidationError, bad_request
from .request import Request, parse_query_string
from .returns import shape_returns
from .typed import BodyModel, body_model, optional_inner
from .uploads import is_file_annotation

__all__ = [
    "HandlerPlan",
    "Param",
    "bind_arguments",
    "build_handler_table",
    "limits",
    "methods",
    "debug_not_found",
    "not_found",
    "plan_handler",
    "resolve_parts",
    "resolve_path",
    "without_socket_param",
]

F = TypeVar("F", bound=Callable[..., Any])

_METHODS_ATTR = "__micropie_methods__"
_LIMITS_ATTR = "__micropie_limits__"
_EMPTY = inspect.Parameter.empty
_TEXT_AS_IS = converter_for(str)
_LIMIT_NAMES = frozenset(
    {"max_body_size", "max_form_field_size", "max_form_parts", "body_timeout", "max_buffer_size"}
)


def methods(*names: str) -> Callable[[F], F]:
    """Restrict a handler to these HTTP methods; others answer 405 with ``Allow``.

    ``HEAD`` is allowed wherever ``GET`` is.
    """
    if not all(isinstance(name, str) for name in names):  # a bare @methods
        raise TypeError('@methods takes the method names: write @methods("GET", "POST")')
    allowed = {name.upper() for name in names}
    if "GET" in allowed:
        allowed.add("HEAD")

    def decorate(func: F) -> F:
        setattr(func, _METHODS_ATTR, frozenset(allowed))
        return func

    return decorate


def limits(**overrides: Any) -> Callable[[F], F]:
    """Give one handler its own body limits, e.g. ``@limits(max_body_size=2**30)``.

    Accepts ``max_body_size``, ``max_form_field_size``, ``max_form_parts``,
    ``body_timeout`` and ``max_buffer_size``; the rest of the app keeps the limits
    given to ``App``.
    """
    unknown = set(overrides) - _LIMIT_NAMES
    if unknown:
        raise TypeError(f"unknown limit(s) {sorted(unknown)}; use {sorted(_LIMIT_NAMES)}")

    def decorate(func: F) -> F:
        setattr(func, _LIMITS_ATTR, dict(overrides))
        return func

    return decorate


@dataclass(frozen=True)
class Param:
    """One handler parameter, analysed once."""

    name: str
    default: Any
    convert: Converter | None
    many: bool
    #: Annotated ``UploadedFile``: binds only from an uploaded file, never a path
    #: segment, query or body field.
    file: bool = False
    annotation: Any = _EMPTY
    #: Annotated ``Request`` (micropie's or Starlette's): receives the request itself,
    #: never a value the client sends.
    injected: bool = False
    #: Where a value comes from instead of path, query and body (files, the request).
    source: Callable[[Request], Any] | None = field(default=None, compare=False, repr=False)

    @property
    def required(self) -> bool:
        return self.default is _EMPTY

    @property
    def takes_text_as_is(self) -> bool:
        """True when a path segment binds unchanged (no annotation, or ``str``)."""
        return self.source is None and (self.convert is None or self.convert is _TEXT_AS_IS)

    @property
    def from_client(self) -> bool:
        """True when the client's URL or body supplies the value (not a file or the request)."""
        return not (self.file or self.injected)


#: What a handler without ``@methods`` answers (the ``Allow`` of its 405 to ``CONNECT``).
_ORDINARY_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


@dataclass(frozen=True, slots=True)
class HandlerPlan:
    """How to call one handler: its parameters, methods and limits, precomputed.

    Slotted, and what is derived from the parameters computed when it is made (no
    ``cached_property``): a request reads a plan's attributes, and CPython 3.11's
    specialized reads of them fail every time once the instance ``__dict__`` is written
    (it then keeps it as a shared-key dict), each a generic lookup.
    """

    name: str
    func: Callable[..., Any]
    is_async: bool
    positional: tuple[Param, ...] = ()
    keyword_only: tuple[Param, ...] = ()
    var_positional: Param | None = None
    var_keyword: bool = False
    methods: frozenset[str] | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    #: Names ``**kwargs`` never collects: the named parameters and the function's own
    #: ``self`` (and a ``ws_`` handler's websocket), which a keyword would collide with.
    reserved: frozenset[str] = frozenset()
    #: Model parameters, built from the body and passed by keyword (micropie.typed).
    models: tuple[BodyModel, ...] = ()
    #: The handler's route in the app's route table (:mod:`micropie.routes`), once built.
    route: BaseRoute | None = field(default=None, compare=False, repr=False)
    #: The positional parameters path segments bind to: all but uploaded files.
    segment_params: tuple[Param, ...] = field(init=False, compare=False, repr=False)
    #: True when the handler takes no parameter at all.
    takes_nothing: bool = field(init=False, compare=False, repr=False)
    #: True when path segments fill every parameter as they are: only positional
    #: parameters, each unannotated or ``str``.
    binds_segments_only: bool = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        derived = object.__setattr__  # the plan is frozen
        derived(self, "segment_params", tuple(p for p in self.positional if p.source is None))
        keyed = self.keyword_only or self.var_positional or self.var_keyword or self.models
        derived(self, "takes_nothing", not (self.positional or keyed))
        derived(
            self,
            "binds_segments_only",
            not keyed and all(param.takes_text_as_is for param in self.positional),
        )

    @property
    def takes_path(self) -> bool:
        """True when path segments can bind to it (positional params or ``*args``)."""
        return bool(self.segment_params) or self.var_positional is not None

    def rejects_extra(self, segments: Sequence[str]) -> bool:
        """True when more path segments arrive than the parameters can take (404)."""
        return self.var_positional is None and len(segments) > len(self.segment_params)

    def refuses(self, method: str) -> bool:
        """True when ``method`` answers 405: one ``@methods`` does not list, or ``CONNECT``
        on a handler that did not name it (a 2xx answer to it would open a tunnel)."""
        methods = self.methods
        return method == "CONNECT" if methods is None else method not in methods

    @property
    def allow_header(self) -> str:
        return ", ".join(sorted(self.methods or _ORDINARY_METHODS))


def is_async_callable(func: Any) -> bool:
    """True for async functions, async callable objects and partials of them."""
    while isinstance(func, functools.partial):
        func = func.func
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - callable objects with async __call__
    )


def _type_hints(func: Callable[..., Any]) -> dict[str, Any]:
    target = func.__call__ if not inspect.isroutine(func) else func  # type: ignore[operator]
    try:
        return typing.get_type_hints(target, include_extras=True)
    except Exception:
        return dict(getattr(target, "__annotations__", {}) or {})


def _param(parameter: inspect.Parameter, hints: dict[str, Any]) -> Param:
    annotation = hints.get(parameter.name, _EMPTY)
    name, default = parameter.name, parameter.default
    if annotation is _EMPTY or isinstance(annotation, str):
        return Param(name, default, None, False)
    base = strip_annotated(annotation)
    if is_file_annotation(base):
        return Param(name, default, None, False, True, annotation, source=_file_source(name))
    request_source = _request_source(base)
    if request_source is not None:
        return Param(name, default, None, False, annotation=annotation, injected=True,
                     source=request_source)  # fmt: skip
    return Param(
        parameter.name,
        parameter.default,
        converter_for(annotation),
        is_list_annotation(annotation),
        annotation=annotation,
    )


def _body_model(parameter: inspect.Parameter, hints: dict[str, Any]) -> BodyModel | None:
    """The body model a parameter is built from, when its annotation is a model type."""
    if parameter.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
        return None
    annotation = strip_annotated(hints.get(parameter.name))
    model = body_model(parameter.name, annotation, parameter.default)
    if model is not None and parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
        raise TypeError(f"model parameter {parameter.name!r} must not be positional-only")
    return model


def plan_handler(name: str, func: Callable[..., Any]) -> HandlerPlan:
    """Analyse ``func`` (already bound, so no ``self``) into a :class:`HandlerPlan`."""
    try:
        signature = inspect.signature(func)
    except ValueError as exc:  # a method defined without ``self``
        raise TypeError(
            f"handler {name!r} takes no 'self': define it as `async def {name}(self, ...)`"
        ) from exc
    hints = _type_hints(func)
    positional: list[Param] = []
    keyword_only: list[Param] = []
    var_positional: Param | None = None
    var_keyword = False
    models: list[BodyModel] = []
    positional_model = False
    for parameter in signature.parameters.values():
        kind = parameter.kind
        model = _body_model(parameter, hints)
        if model is not None:
            models.append(model)
            positional_model = positional_model or kind is not inspect.Parameter.KEYWORD_ONLY
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            var_positional = _param(parameter, hints)
        elif kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword = True
        elif kind is inspect.Parameter.KEYWORD_ONLY or positional_model:
            # Path segments fill positional parameters up to the first model parameter;
            # the ones after it bind by name.
            keyword_only.append(_param(parameter, hints))
        else:
            positional.append(_param(parameter, hints))
    if positional_model and var_positional is not None:
        raise TypeError(f"handler {name!r}: model parameters cannot be combined with *args")
    if len(models) > 1:  # each from its own key of the body, never the whole body
        models = [replace(model, keyed=model.embeddable) for model in models]
    target = getattr(func, "__func__", func)
    named = {p.name for p in positional + keyword_only} | {model.name for model in models}
    return HandlerPlan(
        name=name,
        func=shape_returns(func),
        is_async=is_async_callable(func),
        positional=tuple(positional),
        keyword_only=tuple(keyword_only),
        var_positional=var_positional,
        var_keyword=var_keyword,
        methods=getattr(target, _METHODS_ATTR, None),
        limits=getattr(target, _LIMITS_ATTR, {}),
        reserved=frozenset(named | _keyword_names(func)),
        models=tuple(models),
    )


def _keyword_names(func: Callable[..., Any]) -> set[str]:
    """Every name the function behind ``func`` takes by keyword, a bound ``self`` included."""
    while isinstance(func, functools.partial):
        func = func.func
    target = getattr(func, "__func__", None)
    if target is None:
        target = func if inspect.isroutine(func) else type(func).__call__
    try:
        parameters = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        return set()
    by_keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name for p in parameters if p.kind in by_keyword}


def is_routable_value(raw: Any) -> bool:
    """Whether a class attribute can be a handler: a callable that is not a class or property."""
    if isinstance(raw, staticmethod | classmethod):
        return True
    if isinstance(raw, property | functools.cached_property | type):
        return False
    return callable(raw)


def build_handler_table(app: object, base: type, ws: bool = False) -> dict[str, HandlerPlan]:
    """Plans for every routable handler of ``app``'s class chain below ``base``.

    With ``ws=False`` these are the HTTP handlers (public, not ``ws_``); with
    ``ws=True`` the websocket handlers, keyed without their ``ws_`` prefix and planned
    without the first parameter, which receives the websocket.
    """
    base_classes = set(base.__mro__)
    seen: set[str] = set()
    table: dict[str, HandlerPlan] = {}
    for cls in type(app).__mro__:
        if cls in base_classes:
            continue
        for name, raw in vars(cls).items():
            if name in seen:
                continue
            seen.add(name)
            route = route_name(name, ws)
            if route is None or not is_routable_value(raw):
                continue
            plan = plan_handler(name, getattr(app, name))
            table[route] = without_socket_param(plan) if ws else plan
    return table


def without_socket_param(plan: HandlerPlan) -> HandlerPlan:
    """``plan`` without its first positional parameter (a ``ws_`` handler's websocket)."""
    if not plan.positional:
        if plan.var_positional is None:
            raise TypeError(
                f"websocket handler {plan.name!r} takes no websocket: define it as "
                f"`async def {plan.name}(self, ws, ...)`"
            )
        return plan
    return replace(plan, positional=plan.positional[1:])


def resolve_path(
    path: str, find: Callable[[str], HandlerPlan | None]
) -> tuple[HandlerPlan | None, list[str]]:
    """The handler for a route path and the segments left for its parameters (SPEC §1).

    The first segment names the handler (``/`` is ``index``); when it names none,
    ``index`` takes every segment if it accepts path parameters.
    """
    return resolve_parts(path.strip("/").split("/"), find)


def resolve_parts(
    parts: list[str], find: Callable[[str], HandlerPlan | None]
) -> tuple[HandlerPlan | None, list[str]]:
    """:func:`resolve_path` for the path stripped of its outer slashes and split at the
    others (``path.strip("/").split("/")``)."""
    if not parts[0]:  # the path was "/" (the first part is empty only then)
        return find("index"), []
    plan = find(parts[0])
    if plan is not None:
        return plan, parts[1:]
    index = find("index")
    if index is not None and index.takes_path:
        return index, parts
    return None, parts


def route_name(name: str, ws: bool) -> str | None:
    """The URL name for an attribute name, or ``None`` when it is never routable."""
    if ws:
        return name[3:] if name.startswith("ws_") and len(name) > 3 else None
    if name.startswith(("_", "ws_")):
        return None
    return name


def _file_source(name: str) -> Callable[[Request], Any]:
    def uploaded_file(request: Request) -> Any:
        return request.files.get(name, _EMPTY)

    return uploaded_file


def _request_source(annotation: Any) -> Callable[[Request], Any] | None:
    """How a parameter annotated with a request class gets the request, else ``None``."""
    annotation = optional_inner(annotation) or annotation
    if not is_class(annotation):
        return None
    if issubclass(annotation, Request):
        return _the_request
    if issubclass(annotation, StarletteRequest):
        return _the_starlette_request
    return None


def _the_request(request: Request) -> Request:
    return request


def _the_starlette_request(request: Request) -> StarletteRequest:
    return request.starlette


def _convert(param: Param, value: Any) -> Any:
    convert = param.convert
    if convert is None or (convert is _TEXT_AS_IS and type(value) is str):
        return value
    return _converted(param, convert, value)


def _converted(param: Param, convert: Callable[[Any], Any], value: Any) -> Any:
    """``value`` through ``convert``, ``param``'s converter; a 400 naming it on failure."""
    try:
        return convert(value)
    except ConstraintError as exc:  # the right type, outside a limit: say which
        raise bad_request(f"Invalid value for parameter '{param.name}': {exc.message}") from exc
    except (ValueError, TypeError, OverflowError) as exc:
        raise bad_request(f"Invalid value for parameter '{param.name}'") from exc


def _resolve(param: Param, request: Request) -> Any:
    """The converted value for a named parameter from query, body or files, else its
    default; 400 when a required one is missing."""
    if param.source is not None:
        value = param.source(request)
    else:
        value = _lookup(param.name, param.many, request)
    if value is not _EMPTY:
        convert = param.convert  # _convert's first test, inline: the commonest answer
        if convert is None or (convert is _TEXT_AS_IS and type(value) is str):
            return value
        return _converted(param, convert, value)
    if param.default is not _EMPTY:
        return param.default
    raise bad_request(
        f"Missing required parameter '{param.name}'{_REQUEST_HINTS.get(param.name, '')}"
    )


#: What a 400 adds for a parameter named like the request a Starlette endpoint takes: an
#: unannotated one is a value the client sends (MicroPie's rule).
_REQUEST_HINTS = dict.fromkeys(
    ("request", "req"),
    " (the request itself is self.request, or a parameter annotated `request: Request`)",
)


def _lookup(name: str, many: bool, request: Request) -> Any:
    """The value sent as ``name`` in the query, the body or the files; ``_EMPTY`` if none."""
    query = request._query_params
    if query is None:  # as request.query_params makes it
        query = request._query_params = parse_query_string(request.scope.get("query_string", b""))
    values = query.get(name)
    if values is not None:
        return values if many else values[0]
    json_object = request._json_object
    if json_object is not None:
        if name in json_object:
            return json_object[name]
    else:
        body = request._body_params
        values = (request.body_params if body is None else body).get(name)
        if values is not None:
            return values if many else values[0]
    files = request.files
    return files[name] if name in files else _EMPTY


async def bind_in_thread(
    plan: HandlerPlan, segments: Sequence[str], request: Request
) -> tuple[list[Any], dict[str, Any]]:
    """:func:`bind_arguments` in a worker thread, so the event loop keeps serving.

    Used when model parameters validate a body large enough to have been parsed in a
    worker thread (``plan.models and request._frozen_body``): 400,000 small models
    validated on the event loop held it for seconds.
    """
    return await anyio.to_thread.run_sync(bind_arguments, plan, segments, request)


def _extra_fields(plan: HandlerPlan, request: Request) -> dict[str, Any]:
    """The fields ``**kwargs`` receives; 413 when the body has more than
    ``max_form_parts`` (a JSON object of a million keys would otherwise be bound, and
    passed to the handler, on the event loop: seconds in which nobody else is answered)."""
    reserved = plan.reserved
    extra: dict[str, Any] = {}
    json_object = request._json_object
    limit = None if request._limits is None else request._limits.max_form_parts
    if limit is not None and len(json_object or request.body_params) > limit:
        raise too_large()
    body: Iterable[tuple[str, Any]]
    if json_object is not None:
        body = json_object.items()
    else:
        body = ((k, v[0]) for k, v in request.body_params.items() if v)
    for key, value in body:
        if key not in reserved and key.isidentifier():
            extra[key] = value
    for key, values in request.query_params.items():
        if key not in reserved and key.isidentifier() and values:
            extra[key] = values[0]
    return extra


def _bind_models(plan: HandlerPlan, request: Request, kwargs: dict[str, Any]) -> None:
    """Build every model parameter into ``kwargs``; one 422 lists all their errors."""
    errors: list[dict[str, Any]] = []
    for model in plan.models:
        try:
            kwargs[model.name] = model.bind(request)
        except RequestValidationError as exc:
            errors.extend(exc.errors)
    if errors:
        raise RequestValidationError(errors)


def not_found() -> HTTPException:
    """The 404 answer for a path no handler takes."""
    return HTTPException(404, "404 Not Found")


def debug_not_found(path: str, names: Iterable[str]) -> HTTPException:
    """The 404 of debug mode: what no handler took, the nearest handler name to the one
    asked for (a typo), and the app's handlers."""
    names = sorted(names)
    asked = path.strip("/").split("/", 1)[0] or "index"
    urls = ", ".join("/" if name == "index" else f"/{name}" for name in names) or "none"
    if asked in names:
        hint = f" /{asked} does not take these segments: look at its parameters."
    else:
        close = difflib.get_close_matches(asked, names, n=1)
        hint = f" Did you mean /{close[0]}?" if close else ""
        if asked.isidentifier() and not asked.startswith("_"):
            hint += f" A method `async def {asked}(self): ...` of the app would answer it."
    detail = f"404 Not Found: no handler takes {path!r}.{hint} The app's handlers: {urls}."
    return HTTPException(404, detail)


def bind_arguments(
    plan: HandlerPlan, segments: Sequence[str], request: Request
) -> tuple[list[Any], dict[str, Any]]:
    """Bind path segments, query, body and files to ``plan``'s parameters (SPEC §2).

    Raises a 400 ``HTTPException`` for a missing or unconvertible value, a 404 one
    when path segments are left over that no parameter accepts, and a 422
    ``RequestValidationError`` when a model parameter's body is invalid.
    """
    count = len(segments)
    if count == len(plan.positional) and plan.binds_segments_only:
        return list(segments), {}
    args: list[Any] = []
    index = 0
    for param in plan.positional:
        if index < count and param.source is None:
            args.append(_convert(param, segments[index]))
            index += 1
        else:
            args.append(_resolve(param, request))
    if plan.var_positional is not None:
        rest = segments[index:]
        convert = plan.var_positional
        args.extend(_convert(convert, segment) for segment in rest)
    elif index < count:
        raise not_found()
    keyword_only = plan.keyword_only
    kwargs = (
        {param.name: _resolve(param, request) for param in keyword_only} if keyword_only else {}
    )
    if plan.models:
        _bind_models(plan, request, kwargs)
    if plan.var_keyword:
        extra = _extra_fields(plan, request)
        extra.update(kwargs)
        kwargs = extra
    return args, kwargs
