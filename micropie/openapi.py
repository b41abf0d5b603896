"""The OpenAPI 3.1 document of an app, and the pages that serve it (SPEC §13).

:func:`openapi_document` reads the app's route table (``app.routes``): each handler
route gives a path (its template), its methods (``@methods``; otherwise GET, and POST
when the handler takes a model: only POST when the model is required), path and query
parameters with schemas from their annotations and defaults, a request body from its
model parameters, responses from its return annotation and the errors micropie
answers, and a summary and description from its docstring. :func:`describe` adds
what a signature cannot say.

:func:`swagger_ui_html` is the interactive page behind ``App(docs_url=...)``; it loads
Swagger UI from the app itself when the ``swagger-ui-py`` package is installed (extra
``swagger-ui``: the page works offline), else from a CDN as FastAPI's does, or from
URLs you host yourself.
"""

from __future__ import annotations

import html
import importlib.metadata
import importlib.util
import inspect
import json
import re
import typing
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .converters import BOOL_DESCRIPTION, repeated_item, strip_annotated
from .returns import DESCRIBE_ATTR, answered_body, is_json_annotation, return_annotation
from .routing import HandlerPlan, Param
from .schema import REF_PREFIX, JSONSchema, SchemaRegistry
from .streaming import dumps_json
from .typed import model_kind, optional_inner

if TYPE_CHECKING:
    from .app import App

__all__ = ["OPENAPI_VERSION", "describe", "openapi_document", "swagger_ui_html"]

OPENAPI_VERSION = "3.1.0"
SWAGGER_UI_JS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"
SWAGGER_UI_CSS = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css"
#: The files of Swagger UI the docs page loads, served below ``docs_url`` when installed.
SWAGGER_UI_FILES = {"js": "swagger-ui-bundle.js", "css": "swagger-ui.css"}
#: The first swagger-ui-py release known to ship Swagger UI 5 (which reads OpenAPI 3.1).
_SWAGGER_UI_PY_MIN = (25, 7)

F = TypeVar("F", bound=Callable[..., Any])

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_UNDOCUMENTED_METHODS = frozenset({"HEAD", "OPTIONS"})
_PATH_CONVERTER = re.compile(r"{(\w+):\w+}")
_PATH_NAME = re.compile(r"{(\w+)}")
_MULTIPART = "multipart/form-data"
_HTML = "text/html"
_JSON = "application/json"
_TEXT = "text/plain"
_EMPTY = inspect.Parameter.empty
_REST_DESCRIPTION = (
    "One or more path segments separated by '/', each a value of this schema; the path "
    "without them is an operation of its own"
)


@dataclass(frozen=True)
class Description:
    """What :func:`describe` attached to a handler."""

    summary: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    status: int | None = None
    responses: Mapping[int, str] = field(default_factory=dict)
    deprecated: bool = False


def describe(
    *,
    summary: str | None = None,
    description: str | None = None,
    tags: Sequence[str] = (),
    status: int | None = None,
    responses: Mapping[int, str] | None = None,
    deprecated: bool = False,
) -> Callable[[F], F]:
    """Document a handler beyond its signature and docstring.

    ``status`` is the status its return value answers with (default 200, or 204 for
    ``None``): a plain return value answers with it, a returned ``(status, body)``
    with its own; ``responses`` maps further statuses it answers, such as a 404 it raises,
    to their descriptions. ``summary`` and ``description`` override the docstring's.
    """
    info = Description(summary, description, tuple(tags), status, dict(responses or {}), deprecated)

    def decorate(func: F) -> F:
        setattr(func, DESCRIBE_ATTR, info)
        return func

    return decorate


def openapi_document(app: App, info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app``'s HTTP handlers and explicit routes."""
    builder = _Builder(json_errors=app._errors.json_errors)
    paths: dict[str, dict[str, Any]] = {}
    for route in _documented_routes(app):
        plan: HandlerPlan | None = getattr(route, "plan", None)
        if plan is not None:
            path = _handler_path(route.path, plan)
            bare = _without_rest(path, plan)
            if bare is not None and plan.var_positional is not None:
                suffix = f"_without_{plan.var_positional.name}"
                bare_operations = builder.handler_operations(plan, route.name, bare, suffix)
                paths.setdefault(bare, {}).update(bare_operations)
            operations = builder.handler_operations(plan, route.name, path)
        else:
            path = _PATH_CONVERTER.sub(r"{\1}", route.path)
            operations = builder.route_operations(route)
        paths.setdefault(path, {}).update(operations)
    document: dict[str, Any] = {
        "openapi": OPENAPI_VERSION,
        "info": {"title": type(app).__name__, "version": "0.1.0", **(info or {})},
        "paths": paths,
    }
    if builder.registry.components:
        document["components"] = {"schemas": dict(sorted(builder.registry.components.items()))}
    return document


def _handler_path(template: str, plan: HandlerPlan) -> str:
    """A handler's route template cut before its first optional segment parameter.

    An OpenAPI path parameter is always required, while dispatch lets a URL leave out
    trailing positional parameters that have defaults (and ``*args``) and reads them
    from the query instead: so the optional ones are documented as query parameters.
    """
    optional = {"{" + param.name + "}" for param in plan.segment_params if not param.required}
    parts = _PATH_CONVERTER.sub(r"{\1}", template).split("/")
    for index, part in enumerate(parts):
        if part in optional:
            return "/".join(parts[:index]) or "/"
    return "/".join(parts)


def _item_type(annotation: Any) -> Any:
    """The type one received value converts to: ``bool`` for ``list[bool] | None`` too."""
    annotation = strip_annotated(annotation)
    annotation = strip_annotated(optional_inner(annotation) or annotation)
    if typing.get_origin(annotation) is list:
        items = typing.get_args(annotation)
        annotation = strip_annotated(items[0]) if items else str
    return annotation


def _without_rest(path: str, plan: HandlerPlan) -> str | None:
    """``path`` without its final ``*args`` parameter, which may take no segment at all
    (``/files/{parts}`` → ``/files``); ``None`` when ``path`` does not end with one."""
    rest = plan.var_positional
    if rest is None or not path.endswith("{" + rest.name + "}"):
        return None
    return path[: -len(rest.name) - 2].rstrip("/") or "/"


def _documented_routes(app: App) -> Iterator[Route]:
    """The app's route table (its router's: a subclass may have its own ``routes``)."""
    for route in app._router.routes:
        if isinstance(route, Route) and not isinstance(route, Mount) and route.include_in_schema:
            yield route


class _Builder:
    """Operations for one document: shares its schema registry and error schemas."""

    def __init__(self, json_errors: bool) -> None:
        self.registry = SchemaRegistry()
        self.json_errors = json_errors

    # -- handlers ---------------------------------------------------------------------------

    def handler_operations(
        self, plan: HandlerPlan, name: str, path: str, suffix: str = ""
    ) -> dict[str, Any]:
        target = getattr(plan.func, "__func__", plan.func)
        described: Description = getattr(target, DESCRIBE_ATTR, Description())
        summary, description = _docstring(target)
        methods = _handler_methods(plan)
        in_path = frozenset(_PATH_NAME.findall(path))
        parameters = self._parameters(plan, in_path)
        operations: dict[str, Any] = {}
        for method in methods:
            operation: dict[str, Any] = {"operationId": f"{name}_{method.lower()}{suffix}"}
            if described.tags:
                operation["tags"] = list(described.tags)
            if described.summary or summary:
                operation["summary"] = described.summary or summary
            if described.description or description:
                operation["description"] = described.description or description
            if described.deprecated:
                operation["deprecated"] = True
            if parameters:
                operation["parameters"] = parameters
            body = self._request_body(plan) if method in _BODY_METHODS else None
            if body is not None:
                operation["requestBody"] = body
            operation["responses"] = self._responses(plan, described, body, bool(in_path))
            operations[method.lower()] = operation
        return operations

    def _parameters(self, plan: HandlerPlan, in_path: frozenset[str]) -> list[dict[str, Any]]:
        """Parameters named in the route's path template, then the query parameters."""
        named = [*plan.positional, *plan.keyword_only]
        parameters = [self._parameter(p, "path", many=False) for p in named if p.name in in_path]
        rest = plan.var_positional
        if rest is not None and rest.name in in_path:
            segments = self._parameter(rest, "path", many=False)
            segments["description"] = _REST_DESCRIPTION
            parameters.append(segments)
        parameters += [
            self._parameter(p, "query") for p in named if p.name not in in_path and p.from_client
        ]
        return parameters

    def _parameter(self, param: Param, where: str, many: bool | None = None) -> dict[str, Any]:
        annotation = param.annotation
        inner = optional_inner(annotation)
        if inner is not None:
            annotation = inner
        if many is False and repeated_item(annotation) is not None:
            annotation = repeated_item(annotation)  # one path segment holds one item
        schema = self.registry.schema(annotation, "validation")
        as_received = not schema  # no annotation micropie converts: the text as received
        if as_received:
            schema = {"type": "string"}
        if where == "query" and param.default is not _EMPTY and param.default is not None:
            default = _json_value(param.default)
            # An unannotated ``times=1`` receives text; its default is no string to document.
            if default is not _EMPTY and not (as_received and not isinstance(default, str)):
                schema["default"] = default
        required = where == "path" or param.required
        parameter = {"name": param.name, "in": where, "required": required, "schema": schema}
        if _item_type(param.annotation) is bool:  # the text spellings it takes, not only true
            parameter["description"] = BOOL_DESCRIPTION
        return parameter

    def _request_body(self, plan: HandlerPlan) -> dict[str, Any] | None:
        """Model parameters as a JSON body; uploaded files as a multipart form (holding
        the models' fields too when there are both)."""
        content: dict[str, Any] = {}
        required = False
        if plan.models:
            content[_JSON] = {"schema": self._models_schema(plan)}
            required = any(model.default is _EMPTY for model in plan.models)
        files = [p for p in (*plan.positional, *plan.keyword_only) if p.file]
        if files:
            properties = {p.name: {"type": "string", "format": "binary"} for p in files}
            form: JSONSchema = {"type": "object", "properties": properties}
            needed = [p.name for p in files if p.required]
            if needed:
                form["required"] = needed
            # the form's other fields build the model parameters: one form holds both
            built = [m.annotation for m in plan.models if model_kind(m.annotation) is not None]
            if built:
                refs = [self.registry.schema(model, "validation") for model in built]
                form = {"allOf": [*refs, form]}
            if needed:  # a JSON body cannot carry the file it must send
                content.pop(_JSON, None)
            content[_MULTIPART] = {"schema": form}
            required = required or bool(needed)
        if not content:
            return None
        return {"required": required, "content": content}

    def _models_schema(self, plan: HandlerPlan) -> JSONSchema:
        models = plan.models
        registry = self.registry
        if len(models) == 1 and not models[0].embeddable:
            schema = registry.schema(models[0].annotation, "validation")
        elif len(models) == 1:
            # Either the model itself or an object holding it under the parameter's name.
            model = models[0]
            own = registry.schema(model.annotation, "validation")
            held = {"type": "object", "properties": {model.name: own}, "required": [model.name]}
            schema = {"anyOf": [own, held]}
        else:
            properties = {m.name: registry.schema(m.annotation, "validation") for m in models}
            required = [m.name for m in models if m.default is _EMPTY]
            schema = {"type": "object", "properties": properties, "required": required}
        return schema

    def _responses(
        self, plan: HandlerPlan, described: Description, body: Any, in_path: bool
    ) -> dict[str, Any]:
        responses = self._success(return_annotation(plan.func), described.status)
        params = (*plan.positional, *plan.keyword_only)
        takes_input = any(not p.injected for p in params) or plan.var_positional is not None
        if takes_input or plan.models:
            responses["400"] = self._error("Missing or invalid parameter, or malformed body")
        if in_path:
            responses["404"] = self._error("No handler takes this path")
        if body is not None:
            responses["413"] = self._error("Body too large")
        if plan.models:
            responses["422"] = self._validation_error()
        for status, text in described.responses.items():
            responses[str(status)] = self._error(text)
        return responses

    def _success(self, annotation: Any, status: int | None) -> dict[str, Any]:
        if annotation is _EMPTY:
            return {str(status or 200): {"description": "Successful response"}}
        is_status, annotated_status, annotation = answered_body(annotation)
        status = status or annotated_status
        if annotation is None or annotation is type(None):
            return {str(status or 204): {"description": "No content"}}
        # (status, body) with the status an int: any success status may answer it
        success = str(status or ("2XX" if is_status else 200))
        responses: dict[str, Any] = {}
        inner = optional_inner(annotation)
        if inner is not None:
            responses["204"] = {"description": "No content"}
            annotation = inner
        ok: dict[str, Any] = {"description": "Successful response"}
        content = self._content(annotation)
        if content is not None:
            ok["content"] = content
        return {success: ok, **responses}

    def _content(self, annotation: Any) -> dict[str, Any] | None:
        if annotation in (str, bytes):
            return {_HTML: {"schema": {"type": "string"}}}
        if not is_json_annotation(annotation):
            return None
        return {_JSON: {"schema": self.registry.schema(annotation, "serialization")}}

    def _error(self, description: str) -> dict[str, Any]:
        if not self.json_errors:
            return {"description": description, "content": {_TEXT: {"schema": {"type": "string"}}}}
        self.registry.components["HTTPError"] = {
            "title": "HTTPError",
            "type": "object",
            "properties": {"detail": {"type": "string"}},
            "required": ["detail"],
        }
        ref = {"$ref": REF_PREFIX + "HTTPError"}
        return {"description": description, "content": {_JSON: {"schema": ref}}}

    def _validation_error(self) -> dict[str, Any]:
        components = self.registry.components
        components["ValidationError"] = {
            "title": "ValidationError",
            "type": "object",
            "properties": {
                "loc": {
                    "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                },
                "msg": {"type": "string"},
                "type": {"type": "string"},
            },
            "required": ["loc", "msg", "type"],
        }
        errors = {"type": "array", "items": {"$ref": REF_PREFIX + "ValidationError"}}
        schema: JSONSchema = errors
        if self.json_errors:
            schema = {"type": "object", "properties": {"detail": errors}, "required": ["detail"]}
        return {"description": "Validation error", "content": {_JSON: {"schema": schema}}}

    # -- explicit Starlette routes --------------------------------------------------------

    def route_operations(self, route: Route) -> dict[str, Any]:
        summary, description = _docstring(route.endpoint)
        operations: dict[str, Any] = {}
        for method in sorted((route.methods or {"GET"}) - _UNDOCUMENTED_METHODS):
            operation: dict[str, Any] = {"operationId": f"{route.name}_{method.lower()}"}
            if summary:
                operation["summary"] = summary
            if description:
                operation["description"] = description
            operation["responses"] = {"200": {"description": "Successful response"}}
            operations[method.lower()] = operation
        return operations


def _handler_methods(plan: HandlerPlan) -> list[str]:
    """``@methods``; else GET, and for model parameters POST (GET only if none is required)."""
    if plan.methods is not None:
        return sorted(plan.methods - _UNDOCUMENTED_METHODS)
    if not plan.models:
        return ["GET"]
    if any(model.default is _EMPTY for model in plan.models):
        return ["POST"]  # a GET has no body to build a required model from
    return ["GET", "POST"]


def _docstring(func: Any) -> tuple[str | None, str | None]:
    """A handler's docstring as (summary: the first paragraph, description: the rest)."""
    doc = inspect.getdoc(func)
    if not doc:
        return None, None
    summary, _, rest = doc.partition("\n\n")
    return " ".join(summary.split()), rest.strip() or None


def _json_value(value: Any) -> Any:
    """``value`` as plain JSON data, or ``_EMPTY`` when it has no JSON form."""
    try:
        return json.loads(dumps_json(value))
    except (TypeError, ValueError):
        return _EMPTY


async def openapi_endpoint(request: Request) -> Response:
    """``GET openapi_url``: the app's document as JSON.

    Served below a path prefix (a mount, or ``--root-path`` behind a proxy), the document
    names that prefix as its server, so that clients such as Swagger UI's "Try it out"
    call ``/prefix/todos`` rather than ``/todos`` (unless the document has servers).
    """
    app: App = request.scope["app"]
    document = app.openapi()
    root_path = request.scope.get("root_path", "")
    if root_path and "servers" not in document:
        document = {**document, "servers": [{"url": root_path}]}
    return Response(dumps_json(document), media_type=_JSON)


def local_swagger_ui() -> Path | None:
    """The folder of Swagger UI 5's files that the installed ``swagger-ui-py`` package
    ships (``pip install "micropie[swagger-ui]"``), or ``None`` when there is none."""
    try:
        version = importlib.metadata.version("swagger-ui-py")
        spec = importlib.util.find_spec("swagger_ui")
    except (importlib.metadata.PackageNotFoundError, ImportError, ValueError):
        return None
    release = tuple(int(part) for part in re.findall(r"\d+", version)[:2])
    if spec is None or spec.origin is None or release < _SWAGGER_UI_PY_MIN:
        return None
    folder = Path(spec.origin).parent / "static"
    names = SWAGGER_UI_FILES.values()
    return folder if all((folder / name).is_file() for name in names) else None


def docs_endpoint(
    openapi_url: str, assets_url: str | None = None
) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of ``GET docs_url``: Swagger UI on the document at ``openapi_url``,
    its files loaded from ``assets_url`` (the app's own copy) when given, else a CDN."""

    async def docs(request: Request) -> Response:
        app: App = request.scope["app"]
        title = f"{app._openapi_info.get('title', type(app).__name__)} - API docs"
        root_path = request.scope.get("root_path", "")
        if assets_url is None:
            return HTMLResponse(swagger_ui_html(root_path + openapi_url, title))
        base = root_path + assets_url
        js_url, css_url = (f"{base}/{SWAGGER_UI_FILES[kind]}" for kind in ("js", "css"))
        page = swagger_ui_html(root_path + openapi_url, title, js_url, css_url)
        return HTMLResponse(page)

    return docs


def _asset_endpoint(files: StaticFiles, name: str) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint of one of Swagger UI's files below ``docs_url`` (with ETag and
    Last-Modified, answering 304 to a browser that has it)."""

    async def asset(request: Request) -> Response:
        return await files.get_response(name, request.scope)

    return asset


def docs_routes(
    openapi_url: str, docs_url: str | None
) -> list[tuple[str, Callable[[Request], Awaitable[Response]], str]]:
    """The (path, endpoint, name) of the docs page, and of Swagger UI's files below it
    (``docs_js``, ``docs_css``) when the installed ``swagger-ui-py`` ships them."""
    if docs_url is None:
        return []
    folder = local_swagger_ui()
    if folder is None:
        return [(docs_url, docs_endpoint(openapi_url), "docs")]
    base = docs_url.rstrip("/")
    static = StaticFiles(directory=folder)
    files = [
        (f"{base}/{name}", _asset_endpoint(static, name), f"docs_{kind}")
        for kind, name in SWAGGER_UI_FILES.items()
    ]
    return [(docs_url, docs_endpoint(openapi_url, base), "docs"), *files]


def swagger_ui_html(
    openapi_url: str, title: str, js_url: str = SWAGGER_UI_JS, css_url: str = SWAGGER_UI_CSS
) -> str:
    """An HTML page running Swagger UI on the document at ``openapi_url``.

    The page loads Swagger UI's script and style from ``js_url`` and ``css_url`` (a CDN
    by default; pass URLs you serve yourself where browsers cannot reach one, as
    ``App(docs_url=...)`` does when ``swagger-ui-py`` is installed).
    """
    config = json.dumps({"url": openapi_url, "dom_id": "#swagger-ui"}).replace("</", "<\\/")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{html.escape(css_url)}">\n</head>\n<body>\n'
        '<div id="swagger-ui"></div>\n'
        f'<script src="{html.escape(js_url)}"></script>\n'
        f"<script>SwaggerUIBundle({config});</script>\n</body>\n</html>\n"
    )
