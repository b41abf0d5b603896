"""SPEC §13: app.openapi(), App(openapi_url=..., docs_url=...), the document of every example."""

from __future__ import annotations

import dataclasses
import datetime
import enum
import importlib
import pkgutil
import re
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal, NamedTuple, TypedDict

import msgspec
import pydantic
import pytest
from openapi_spec_validator import validate
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount

import examples
from micropie import App, Request, UploadedFile, describe, methods, openapi
from micropie.converters import BOOL_DESCRIPTION
from micropie.openapi import local_swagger_ui


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclasses.dataclass
class Point:
    """A point on the plane."""

    x: int
    y: int = 0


class Size(NamedTuple):
    width: int
    height: int = 1


class Movie(TypedDict):
    title: str
    year: int


class User(pydantic.BaseModel):
    id: int
    name: str
    friends: list[User] = []


class Item(msgspec.Struct):
    sku: str
    qty: int = 1


class Api(App):
    async def index(self) -> str:
        """The home page.

        Plain HTML, nothing more."""
        return "home"

    async def greet(self, name: str, *, times: int = 1, loud: bool = False) -> dict[str, str]:
        return {"greeting": f"Hello, {name}" * times}

    async def kinds(
        self,
        *,
        when: datetime.date,
        ident: uuid.UUID | None = None,
        colour: Colour = Colour.RED,
        mode: Literal["a", "b"] = "a",
        tags: list[str] | None = None,
        size: float = 1.5,
    ) -> Movie:
        return Movie(title="x", year=1)

    @methods("POST")
    @describe(status=201, responses={409: "Already there"}, tags=["users"], summary="Make one")
    async def user(self, user: User) -> tuple[int, User]:
        """Ignored summary."""
        return 201, user

    async def point(self, point: Point | None = None) -> Point | None:
        return point

    @methods("PUT")
    async def pair(self, item: Item, point: Point) -> Size:
        return Size(point.x, item.qty)

    async def files(self, *parts: str) -> list[str]:
        return list(parts)

    async def stream(self) -> AsyncIterator[str]:
        yield "x"

    async def raw(self):
        return "anything"

    @methods("POST")
    async def upload(self, *, file: UploadedFile, note: str = "") -> None:
        return None

    @describe(deprecated=True)
    async def old(self) -> None:
        return None


def _doc(app: App | None = None) -> dict[str, Any]:
    document = (app or Api()).openapi()
    validate(document)
    return document


def test_document_is_valid_openapi_3_1():
    document = _doc()
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Api", "version": "0.1.0"}


def test_info_can_be_given():
    info = {"title": "Mine", "version": "2.0", "description": "About it"}
    assert _doc(Api(openapi_info=info))["info"] == info


def test_paths_come_from_the_route_table():
    document = _doc()
    paths = [route.path.replace(":path}", "}") for route in _http_routes(Api())]
    expected = []
    for path in paths:
        if path == "/files/{parts}":  # ``*parts`` may take no segment: documented without too
            expected.append("/files")
        expected.append(path)
    assert list(document["paths"]) == expected


def _http_routes(app: App) -> list[Any]:
    return [
        route for route in app.routes if getattr(route, "plan", None) and route.methods != set()
    ]


def test_methods_from_decorator_or_get_and_post_for_models():
    paths = _doc()["paths"]
    assert list(paths["/greet/{name}"]) == ["get"]
    assert list(paths["/user"]) == ["post"]
    assert list(paths["/pair"]) == ["put"]
    assert list(paths["/point"]) == ["get", "post"]


def test_summary_and_description_from_the_docstring():
    index = _doc()["paths"]["/"]["get"]
    assert (index["summary"], index["description"]) == (
        "The home page.",
        "Plain HTML, nothing more.",
    )
    assert index["responses"]["200"]["content"] == {"text/html": {"schema": {"type": "string"}}}


def test_path_and_query_parameters_with_schemas_and_defaults():
    parameters = _doc()["paths"]["/greet/{name}"]["get"]["parameters"]
    assert parameters == [
        {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
        {
            "name": "times",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "default": 1},
        },
        {
            "name": "loud",
            "in": "query",
            "required": False,
            "schema": {"type": "boolean", "default": False},
            "description": BOOL_DESCRIPTION,
        },
    ]


def test_parameter_schemas_of_each_type():
    parameters = {p["name"]: p for p in _doc()["paths"]["/kinds"]["get"]["parameters"]}
    assert parameters["when"]["required"] is True
    assert parameters["when"]["schema"] == {"type": "string", "format": "date"}
    assert parameters["ident"]["schema"] == {"type": "string", "format": "uuid"}
    assert parameters["colour"]["schema"] == {"enum": ["red", "blue"], "default": "red"}
    assert parameters["mode"]["schema"] == {"enum": ["a", "b"], "default": "a"}
    assert parameters["tags"]["schema"] == {"type": "array", "items": {"type": "string"}}
    assert parameters["size"]["schema"] == {"type": "number", "default": 1.5}


def test_upload_parameters_are_a_multipart_body():
    operation = _doc()["paths"]["/upload"]["post"]
    assert [p["name"] for p in operation["parameters"]] == ["note"]
    body = operation["requestBody"]
    assert body["required"] is True
    assert body["content"]["multipart/form-data"]["schema"] == {
        "type": "object",
        "properties": {"file": {"type": "string", "format": "binary"}},
        "required": ["file"],
    }
    assert "413" in operation["responses"]


def test_path_parameters_are_those_of_the_route_template():
    app = Api()
    document = _doc(app)
    for route in _http_routes(app):
        path = route.path.replace(":path}", "}")
        for operation in document["paths"][path].values():
            in_path = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert in_path == set(re.findall(r"{(\w+)", path))


def test_request_body_from_a_model_parameter():
    document = _doc()
    body = document["paths"]["/user"]["post"]["requestBody"]
    assert body["required"] is True
    schema = body["content"]["application/json"]["schema"]
    own = {"$ref": "#/components/schemas/User"}
    assert schema == {
        "anyOf": [own, {"type": "object", "properties": {"user": own}, "required": ["user"]}]
    }
    user = document["components"]["schemas"]["User"]
    assert user["required"] == ["id", "name"]
    assert user["properties"]["friends"]["items"] == own


def test_request_body_with_two_models_holds_each_by_name():
    schema = _doc()["paths"]["/pair"]["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["properties"] == {
        "item": {"$ref": "#/components/schemas/Item"},
        "point": {"$ref": "#/components/schemas/Point-Input"},
    }
    assert schema["required"] == ["item", "point"]


def test_get_operations_carry_no_request_body():
    point = _doc()["paths"]["/point"]
    assert "requestBody" not in point["get"]
    assert point["post"]["requestBody"]["required"] is False


def test_model_schemas_from_each_kind():
    schemas = _doc()["components"]["schemas"]
    assert schemas["Point"]["description"] == "A point on the plane."
    assert schemas["Point"]["properties"] == {"x": {"type": "integer"}, "y": {"type": "integer"}}
    assert schemas["Item"]["required"] == ["sku"]
    assert schemas["Movie"]["required"] == ["title", "year"]
    assert schemas["Size"]["properties"]["width"] == {"type": "integer"}


def test_input_and_output_schemas_differ_only_where_they_must():
    schemas = _doc()["components"]["schemas"]
    point_input = schemas["Point-Input"] if "Point-Input" in schemas else schemas["Point"]
    assert point_input["required"] == ["x"]


def test_responses_from_return_annotations():
    paths = _doc()["paths"]
    user = paths["/user"]["post"]
    assert user["summary"] == "Make one"
    assert user["tags"] == ["users"]
    assert set(user["responses"]) == {"201", "400", "409", "413", "422"}
    assert user["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/User"
    }
    assert set(paths["/point"]["get"]["responses"]) >= {"200", "204", "422"}
    assert set(paths["/old"]["get"]["responses"]) == {"204"}
    assert paths["/old"]["get"]["deprecated"] is True
    assert "content" not in paths["/stream"]["get"]["responses"]["200"]
    assert "content" not in paths["/raw"]["get"]["responses"]["200"]
    kinds = paths["/kinds"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert kinds == {"$ref": "#/components/schemas/Movie"}
    assert set(paths["/files/{parts}"]["get"]["responses"]) == {"200", "400", "404"}


def test_error_responses_are_text_or_json_as_the_app_answers():
    text = _doc()["paths"]["/user"]["post"]["responses"]
    assert text["400"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    assert text["422"]["content"]["application/json"]["schema"]["type"] == "array"
    document = _doc(Api(json_errors=True))
    responses = document["paths"]["/user"]["post"]["responses"]
    assert responses["400"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/HTTPError"
    }
    assert responses["422"]["content"]["application/json"]["schema"]["required"] == ["detail"]


def test_explicit_routes_are_documented_and_served_pages_are_not():
    async def health(request):
        """Is the app up?"""
        return PlainTextResponse("ok")

    app = Api(openapi_url="/openapi.json", docs_url="/docs")
    app.add_route("/health", health, methods=["GET"], name="health")
    paths = _doc(app)["paths"]
    assert paths["/health"]["get"]["summary"] == "Is the app up?"
    assert "/openapi.json" not in paths and "/docs" not in paths


def test_instance_handlers_are_documented():
    app = Api()

    async def extra(count: int) -> list[int]:
        return list(range(count))

    app.extra = extra
    assert "/extra/{count}" in _doc(app)["paths"]


def test_openapi_and_docs_are_off_by_default(client_factory):
    client = client_factory(Api())
    assert client.get("/openapi.json").status_code == 404
    assert client.get("/docs").status_code == 404


def test_openapi_url_serves_the_document(client_factory):
    app = Api(openapi_url="/openapi.json")
    response = client_factory(app).get("/openapi.json")
    assert response.headers["content-type"] == "application/json"
    assert response.json() == app.openapi()
    assert client_factory(app).get("/docs").status_code == 404


def test_docs_url_serves_swagger_ui_for_the_document(client_factory):
    app = Api(openapi_url="/schema.json", docs_url="/api-docs", openapi_info={"title": "Shop"})
    page = client_factory(app).get("/api-docs")
    assert page.headers["content-type"].startswith("text/html")
    assert "<title>Shop - API docs</title>" in page.text
    assert '"url": "/schema.json"' in page.text
    assert "swagger-ui-bundle.js" in page.text


def test_docs_page_of_a_mounted_app_points_below_the_mount(client_factory):
    outer = Starlette(
        routes=[Mount("/api", app=Api(openapi_url="/openapi.json", docs_url="/docs"))]
    )
    client = client_factory(outer)
    page = client.get("/api/docs").text
    assert '"url": "/api/openapi.json"' in page
    assert client.get("/api/openapi.json").json()["openapi"] == "3.1.0"
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page):  # served below the mount
        assert asset.startswith("/api/docs/") and client.get(asset).status_code == 200


SWAGGER_UI = Path(importlib.import_module("swagger_ui").__file__ or "").parent / "static"


@pytest.mark.parametrize("docs_url", ["/docs", "/api-docs/"])
def test_with_swagger_ui_py_installed_the_app_serves_swagger_ui_itself(client_factory, docs_url):
    """No CDN: the page loads Swagger UI 5 from below ``docs_url``, files the
    swagger-ui-py package ships (extra ``swagger-ui``), named routes of their own."""
    assert local_swagger_ui() == SWAGGER_UI
    app = Api(openapi_url="/openapi.json", docs_url=docs_url)
    client = client_factory(app)
    page = client.get(docs_url).text
    base = docs_url.rstrip("/")
    js, css = f"{base}/swagger-ui-bundle.js", f"{base}/swagger-ui.css"
    assert f'<script src="{js}">' in page and f'<link rel="stylesheet" href="{css}">' in page
    assert "cdn" not in page
    for url, name, media in [(js, "docs_js", "text/javascript"), (css, "docs_css", "text/css")]:
        answer = client.get(url)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media)
        assert answer.content == (SWAGGER_UI / url.rpartition("/")[2]).read_bytes()
        assert client.get(url, headers={"if-none-match": answer.headers["etag"]}).status_code == 304
        assert app.url_path_for(name) == url
    paths = app.openapi()["paths"]
    assert not [path for path in paths if path.startswith(base)]


def test_without_swagger_ui_py_the_page_loads_swagger_ui_from_the_cdn(client_factory, monkeypatch):
    monkeypatch.setattr(openapi, "local_swagger_ui", lambda: None)
    client = client_factory(Api(openapi_url="/openapi.json", docs_url="/docs"))
    page = client.get("/docs").text
    assert f'<script src="{openapi.SWAGGER_UI_JS}">' in page
    assert openapi.SWAGGER_UI_CSS in page and "cdn.jsdelivr.net/npm/swagger-ui-dist@5/" in page
    assert client.get("/docs/swagger-ui.css").status_code == 404


@pytest.mark.parametrize("version", ["4.25.0", "25.6.1", "not-a-version"])
def test_a_swagger_ui_py_too_old_for_openapi_3_1_is_not_used(monkeypatch, version):
    """Swagger UI 4 cannot read OpenAPI 3.1; releases before 25.7 are left for the CDN."""
    monkeypatch.setattr(openapi.importlib.metadata, "version", lambda name: version)
    assert local_swagger_ui() is None


@pytest.mark.parametrize(("mount", "root_path"), [("/api", ""), ("/api", "/demo"), ("", "/demo")])
def test_a_document_served_below_a_prefix_names_it_as_its_server(client_factory, mount, root_path):
    """Mounted, or behind a proxy with ``--root-path``, the served document's server is
    the prefix, so "Try it out" in Swagger UI calls the handler's real URL; served at
    the root, the document is ``app.openapi()`` as it is."""
    api = Api(openapi_url="/openapi.json")
    outer = Starlette(routes=[Mount(mount, app=api)]) if mount else api
    client = client_factory(outer, root_path=root_path)
    # as uvicorn --root-path passes it: the scope's path starts with the root path
    document = client.get(f"{root_path}{mount}/openapi.json").json()
    (server,) = document["servers"]
    assert server == {"url": root_path + mount}
    path = next(path for path in document["paths"] if "{" not in path and path != "/")
    assert client.get(server["url"] + path).status_code != 404
    assert "servers" not in client_factory(api).get("/openapi.json").json()


def test_docs_url_needs_openapi_url():
    with pytest.raises(ValueError, match="openapi_url"):
        Api(docs_url="/docs")


def _example_apps() -> list[tuple[str, App]]:
    found: list[tuple[str, App]] = []
    for module_info in pkgutil.walk_packages(examples.__path__, "examples."):
        if not module_info.name.endswith(".app"):
            continue
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, App):
                found.append((module_info.name, value))
            elif isinstance(value, Starlette):
                mounted = [r.app for r in value.routes if isinstance(r, Mount)]
                found += [(module_info.name, m) for m in mounted if isinstance(m, App)]
    return found


def test_every_example_app_has_a_valid_document():
    apps = _example_apps()
    names = {name for name, _ in apps}
    assert {"examples.json_api.app", "examples.mount_in_starlette.app"} <= names
    assert len(names) >= 20
    for name, app in apps:
        try:
            validate(app.openapi())
        except Exception as exc:  # name the example that failed
            raise AssertionError(f"{name}: {exc}") from exc


def test_the_uploads_example_documents_its_file_only_in_the_body():
    from examples.uploads.app import Uploads

    document = Uploads("unused").openapi()
    operation = document["paths"]["/upload"]["post"]  # note="" may be left out of the path
    assert [(p["name"], p["in"]) for p in operation["parameters"]] == [("note", "query")]
    form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["properties"] == {"file": {"type": "string", "format": "binary"}}


# -- the document says what dispatch does -------------------------------------------------


class Defaults(App):
    async def index(self, name: str = "home") -> str:
        return name

    async def greet(self, name: str = "Guest", times: int = 1) -> str:
        return f"Hello, {name}! " * times

    async def page(self, n: int, size: int = 20) -> dict[str, int]:
        return {"n": n, "size": size}

    async def rest(self, first: str = "a", *more: str) -> list[str]:
        return [first, *more]

    async def tail(self, n: int, *more: str) -> list[str]:
        return [str(n), *more]

    async def tagged(self, tags: list[int]) -> list[int]:
        return tags

    async def whoami(self, request: Request, *, loud: bool = False) -> str:
        return request.url.path

    async def bounded(
        self,
        limit: Annotated[int, pydantic.Field(ge=1, le=100, description="How many")] = 10,
        name: Annotated[str, msgspec.Meta(min_length=2)] = "ab",
    ) -> dict[str, Any]:
        return {"limit": limit, "name": name}

    @methods("POST")
    async def made(self, user: User) -> tuple[Literal[201], User]:
        return 201, user


def _parameters(document: dict[str, Any], path: str) -> list[tuple[str, str, bool]]:
    operation = document["paths"][path]["get"]
    return [(p["name"], p["in"], p["required"]) for p in operation.get("parameters", [])]


def test_optional_positional_parameters_are_optional_query_parameters():
    """An OpenAPI path parameter is always required; dispatch lets these be left out."""
    document = _doc(Defaults())
    assert {"/", "/greet", "/page/{n}", "/rest", "/tail/{n}/{more}"} <= set(document["paths"])
    assert _parameters(document, "/") == [("name", "query", False)]
    assert _parameters(document, "/greet") == [
        ("name", "query", False),
        ("times", "query", False),
    ]
    assert _parameters(document, "/page/{n}") == [("n", "path", True), ("size", "query", False)]
    assert _parameters(document, "/rest") == [("first", "query", False)]
    tail = [("n", "path", True), ("more", "path", True)]
    assert _parameters(document, "/tail/{n}/{more}") == tail


def test_requests_shaped_as_documented_are_served(client_factory):
    client = client_factory(Defaults())
    assert client.get("/greet?name=Ada&times=2").text == "Hello, Ada! Hello, Ada! "
    assert client.get("/greet").text == "Hello, Guest! "
    assert client.get("/page/3?size=5").json() == {"n": 3, "size": 5}
    assert client.get("/rest?first=z").json() == ["z"]
    assert client.get("/?name=x").text == "x"


def test_a_path_parameter_takes_one_segment_of_a_list():
    document = _doc(Defaults())
    schema = document["paths"]["/tagged/{tags}"]["get"]["parameters"][0]["schema"]
    assert schema == {"type": "integer"}


def test_a_request_parameter_is_not_documented():
    assert _parameters(_doc(Defaults()), "/whoami") == [("loud", "query", False)]


def test_a_required_model_without_methods_is_documented_as_post_only():
    """A GET carries no body: a handler needing a model could only answer it 422."""

    class Api(App):
        async def add(self, user: User) -> User:
            return user

        async def maybe(self, user: User | None = None) -> str:
            return "ok"

    paths = _doc(Api())["paths"]
    assert list(paths["/add"]) == ["post"]
    assert list(paths["/maybe"]) == ["get", "post"]


def test_a_handler_taking_only_the_request_documents_no_400():
    class Api(App):
        async def me(self, request: Request) -> str:
            return request.url.path

    assert set(_doc(Api())["paths"]["/me"]["get"]["responses"]) == {"200"}


def test_annotated_constraints_are_documented():
    parameters = _doc(Defaults())["paths"]["/bounded"]["get"]["parameters"]
    schemas = {p["name"]: p["schema"] for p in parameters}
    assert schemas["limit"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 100,
        "description": "How many",
        "default": 10,
    }
    assert schemas["name"] == {"type": "string", "minLength": 2, "default": "ab"}


class Opaque:
    """A type neither micropie nor Pydantic knows."""


def test_annotated_metadata_of_any_kind_is_served_and_documented(client_factory):
    class Api(App):
        async def odd(
            self,
            n: Annotated[int, {"unhashable": "metadata"}] = 1,
            thing: Annotated[Opaque, pydantic.Field(description="not validatable")] = None,
        ) -> dict[str, int]:
            return {"n": n}

    app = Api()
    parameters = _doc(app)["paths"]["/odd"]["get"]["parameters"]
    assert [(p["name"], p["schema"].get("type")) for p in parameters] == [
        ("n", "integer"),
        ("thing", "string"),
    ]
    assert client_factory(app).get("/odd?n=2&thing=x").json() == {"n": 2}


def test_unannotated_parameters_with_other_defaults_give_a_valid_document():
    """MicroPie style ``page(self, n=1)``: the value arrives as text, the default is an int."""

    class Api(App):
        async def page(self, n=1, label="all", ratio=0.5, flags=None):
            return {"n": n}

    parameters = _doc(Api())["paths"]["/page"]["get"]["parameters"]
    assert [p["schema"] for p in parameters] == [
        {"type": "string"},
        {"type": "string", "default": "all"},
        {"type": "string"},
        {"type": "string"},
    ]


def test_a_literal_status_in_the_return_annotation_is_documented():
    responses = _doc(Defaults())["paths"]["/made"]["post"]["responses"]
    assert "201" in responses and "200" not in responses
    assert responses["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/User"
    }


class Undocumented(TypedDict):
    a: int


class Documented(TypedDict):
    """What it is."""

    a: int


class DocumentedRecords(App):
    async def plain(self) -> Undocumented:
        return {"a": 1}

    async def told(self) -> Documented:
        return {"a": 1}


def test_a_record_without_a_docstring_gets_no_description_from_its_base():
    """A TypedDict's base is ``dict``: its docstring ("dict() -> new empty dictionary ...")
    was the schema's description in the document and the docs page."""
    schemas = DocumentedRecords().openapi()["components"]["schemas"]
    assert "description" not in schemas["Undocumented"]
    assert schemas["Documented"]["description"] == "What it is."
