"""SPEC §13: models returned as JSON, model parameters built from bodies, 422s, json_errors."""

from __future__ import annotations

import dataclasses
import datetime
import json
import threading
from typing import Annotated, Literal, NamedTuple, TypedDict

import annotated_types
import msgspec
import pydantic
import pytest
from starlette.exceptions import HTTPException
from typing_extensions import NotRequired

from micropie import App, RequestValidationError, methods
from micropie.body import THREAD_PARSE_BYTES


@dataclasses.dataclass
class Point:
    x: int
    y: int = 0


@dataclasses.dataclass
class Path:
    name: str
    points: list[Point]
    closed: bool = False
    created: datetime.date | None = None


class User(pydantic.BaseModel):
    id: int
    name: str
    tags: list[str] = []


class Item(msgspec.Struct):
    sku: str
    qty: int = 1


class Pair(NamedTuple):
    left: int
    right: str


class Movie(TypedDict):
    title: str
    year: int


class Note(pydantic.BaseModel):
    note: str


class Returns(App):
    async def dataclass(self):
        return Point(1, 2)

    async def pydantic(self):
        return User(id=1, name="Ada")

    async def struct(self):
        return Item("abc", 2)

    async def namedtuple(self):
        return Pair(1, "one")

    async def typeddict(self) -> Movie:
        return Movie(title="Brazil", year=1985)

    async def many(self):
        return [User(id=1, name="Ada"), Point(3, 4), Item("x"), Pair(2, "two")]

    async def nested(self):
        return {"user": User(id=2, name="Bob"), "when": datetime.date(2024, 1, 2)}

    async def created(self):
        return 201, User(id=3, name="Cy"), {"x-id": "3"}

    def sync_model(self):
        return User(id=4, name="Di")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/dataclass", {"x": 1, "y": 2}),
        ("/pydantic", {"id": 1, "name": "Ada", "tags": []}),
        ("/struct", {"sku": "abc", "qty": 2}),
        ("/namedtuple", {"left": 1, "right": "one"}),
        ("/typeddict", {"title": "Brazil", "year": 1985}),
        (
            "/many",
            [
                {"id": 1, "name": "Ada", "tags": []},
                {"x": 3, "y": 4},
                {"sku": "x", "qty": 1},
                {"left": 2, "right": "two"},
            ],
        ),
        ("/nested", {"user": {"id": 2, "name": "Bob", "tags": []}, "when": "2024-01-02"}),
        ("/sync_model", {"id": 4, "name": "Di", "tags": []}),
    ],
)
def test_models_are_returned_as_json(client_factory, path, expected):
    response = client_factory(Returns()).get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.json() == expected


def test_model_return_in_a_tuple_keeps_status_and_headers(client_factory):
    response = client_factory(Returns()).get("/created")
    assert (response.status_code, response.headers["x-id"]) == (201, "3")
    assert response.json() == {"id": 3, "name": "Cy", "tags": []}


def test_model_head_answers_headers_only(client_factory):
    response = client_factory(Returns()).head("/pydantic")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == b""


class Params(App):
    @methods("POST")
    async def point(self, point: Point):
        return {"type": type(point).__name__, "value": dataclasses.asdict(point)}

    @methods("POST")
    async def path(self, path: Path):
        return path

    @methods("POST")
    async def user(self, user: User):
        return {"type": type(user).__name__, "value": user.model_dump()}

    @methods("POST")
    async def item(self, item: Item):
        return {"type": type(item).__name__, "value": msgspec.to_builtins(item)}

    @methods("POST")
    async def note(self, note: Note):
        return note

    @methods("POST")
    async def both(self, user: User, item: Item):
        return {"user": user.name, "item": item.sku}

    @methods("POST", "PUT")
    async def update(self, user_id: int, user: User, dry_run: bool = False):
        return {"user_id": user_id, "name": user.name, "dry_run": dry_run}

    @methods("POST")
    async def maybe(self, point: Point | None = None):
        return {"point": None if point is None else dataclasses.asdict(point)}

    @methods("POST")
    def sync_user(self, user: User):
        return user


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/point", {"x": 1, "y": 2}, {"type": "Point", "value": {"x": 1, "y": 2}}),
        ("/point", {"x": "7"}, {"type": "Point", "value": {"x": 7, "y": 0}}),
        (
            "/user",
            {"id": 1, "name": "Ada"},
            {"type": "User", "value": {"id": 1, "name": "Ada", "tags": []}},
        ),
        ("/item", {"sku": "abc"}, {"type": "Item", "value": {"sku": "abc", "qty": 1}}),
    ],
)
def test_model_parameter_from_the_whole_json_body(client_factory, path, body, expected):
    response = client_factory(Params()).post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == expected


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/point", {"point": {"x": 5}}, {"type": "Point", "value": {"x": 5, "y": 0}}),
        (
            "/user",
            {"user": {"id": 2, "name": "Bo"}},
            {"type": "User", "value": {"id": 2, "name": "Bo", "tags": []}},
        ),
        (
            "/item",
            {"item": {"sku": "q", "qty": 3}},
            {"type": "Item", "value": {"sku": "q", "qty": 3}},
        ),
    ],
)
def test_model_parameter_from_the_body_key_of_its_name(client_factory, path, body, expected):
    """The key named like the parameter wins over the whole body when present."""
    response = client_factory(Params()).post(path, json=body)
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_a_field_named_like_the_parameter_means_the_whole_body(client_factory):
    response = client_factory(Params()).post("/note", json={"note": "hello"})
    assert response.json() == {"note": "hello"}


def test_two_model_parameters_each_take_their_key(client_factory):
    body = {"user": {"id": 1, "name": "Ada"}, "item": {"sku": "abc"}}
    response = client_factory(Params()).post("/both", json=body)
    assert response.json() == {"user": "Ada", "item": "abc"}


def test_one_of_two_models_missing_its_key_is_named_in_the_422(client_factory):
    client = client_factory(Params())
    response = client.post("/both", json={"user": {"id": 1, "name": "Ada"}})
    assert (response.status_code, response.json()) == (
        422,
        [{"loc": ["body", "item"], "msg": "Field required", "type": "missing"}],
    )
    # the whole body is not taken for one of two models
    whole = client.post("/both", json={"id": 1, "name": "Ada", "sku": "abc"})
    assert whole.status_code == 422
    locs = [error["loc"] for error in whole.json()]
    assert locs == [["body", "user"], ["body", "item"]]


def test_path_segments_fill_parameters_before_the_model(client_factory):
    client = client_factory(Params())
    response = client.put("/update/7?dry_run=yes", json={"id": 1, "name": "Ada"})
    assert response.json() == {"user_id": 7, "name": "Ada", "dry_run": True}
    assert client.put("/update/7/8", json={"id": 1, "name": "Ada"}).status_code == 404


def test_nested_dataclasses_and_lists_are_built(client_factory):
    body = {"name": "tri", "points": [{"x": 0}, {"x": 1, "y": "2"}], "created": "2024-05-06"}
    response = client_factory(Params()).post("/path", json=body)
    assert response.json() == {
        "name": "tri",
        "points": [{"x": 0, "y": 0}, {"x": 1, "y": 2}],
        "closed": False,
        "created": "2024-05-06",
    }


@pytest.mark.parametrize("path", ["/point", "/user", "/item"])
def test_model_parameter_from_a_form_body(client_factory, path):
    fields = {
        "/point": {"x": "3"},
        "/user": {"id": "4", "name": "Fo"},
        "/item": {"sku": "z", "qty": "2"},
    }
    response = client_factory(Params()).post(path, data=fields[path])
    assert response.status_code == 200, response.text
    value = response.json()["value"]
    assert all(not isinstance(v, str) or k in ("name", "sku") for k, v in value.items())


def test_form_list_fields_take_every_value(client_factory):
    response = client_factory(Params()).post(
        "/user",
        content=b"id=1&name=A&tags=a&tags=b",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["value"]["tags"] == ["a", "b"]


def test_optional_model_parameter_takes_its_default_without_a_body(client_factory):
    client = client_factory(Params())
    assert client.post("/maybe").json() == {"point": None}
    assert client.post("/maybe", json={"x": 1}).json() == {"point": {"x": 1, "y": 0}}


def test_sync_handler_with_model_parameter(client_factory):
    response = client_factory(Params()).post("/sync_user", json={"id": "5", "name": "E"})
    assert response.json() == {"id": 5, "name": "E", "tags": []}


@pytest.mark.parametrize(
    ("path", "body", "loc", "kind"),
    [
        ("/point", {"x": "seven"}, ["body", "x"], "invalid"),
        ("/point", {"y": 1}, ["body", "x"], "missing"),
        ("/point", [1, 2], ["body"], "model_type"),
        (
            "/path",
            {"name": "p", "points": [{"x": 1}, {"x": "a"}]},
            ["body", "points", 1, "x"],
            "invalid",
        ),
        ("/user", {"id": "x", "name": "Ada"}, ["body", "id"], "int_parsing"),
        ("/user", {"name": "Ada"}, ["body", "id"], "missing"),
        ("/user", {"user": {"id": "x", "name": "A"}}, ["body", "user", "id"], "int_parsing"),
        ("/item", {"sku": 1}, ["body", "sku"], "invalid"),
        ("/item", {"qty": 1}, ["body", "sku"], "missing"),
        ("/item", "text", ["body"], "invalid"),
    ],
)
def test_invalid_model_input_answers_422_with_errors(client_factory, path, body, loc, kind):
    response = client_factory(Params()).post(path, json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    errors = response.json()
    assert isinstance(errors, list) and errors
    assert {"loc": loc, "type": kind} == {"loc": errors[0]["loc"], "type": errors[0]["type"]}
    assert all(isinstance(error["msg"], str) and error["msg"] for error in errors)


def test_missing_body_for_a_required_model_is_422(client_factory):
    response = client_factory(Params()).post("/user")
    assert response.status_code == 422
    assert response.json() == [{"loc": ["body"], "msg": "Field required", "type": "missing"}]


def test_bad_json_stays_400_and_plain_types_keep_their_400s(client_factory):
    client = client_factory(Params())
    bad = client.post("/user", content=b"{", headers={"content-type": "application/json"})
    assert (bad.status_code, bad.text) == (400, "400 Bad Request: Bad JSON")
    response = client.put("/update/x", json={"id": 1, "name": "A"})
    assert (response.status_code, response.text) == (
        400,
        "400 Bad Request: Invalid value for parameter 'user_id'",
    )


def test_validation_errors_reach_exception_handlers(client_factory):
    async def handle(request, exc):
        from starlette.responses import JSONResponse

        return JSONResponse({"problems": len(exc.errors)}, status_code=400)

    app = Params(exception_handlers={RequestValidationError: handle})
    response = client_factory(app).post("/point", json={})
    assert (response.status_code, response.json()) == (400, {"problems": 1})


def test_model_parameters_plan_errors_are_raised_at_setup():
    class Bad(App):
        async def star(self, point: Point, *rest):
            return "never"

    with pytest.raises(TypeError, match="args"):
        Bad()


class Errors(App):
    @methods("GET")
    async def need(self, count: int):
        return count

    async def boom(self):
        raise RuntimeError("boom")

    async def teapot(self):
        raise HTTPException(418, "short and stout")

    @methods("POST")
    async def point(self, point: Point):
        return point


@pytest.mark.parametrize(
    ("call", "status", "detail"),
    [
        (lambda c: c.get("/nowhere"), 404, "Not Found"),
        (lambda c: c.get("/need"), 400, "Missing required parameter 'count'"),
        (lambda c: c.get("/need?count=x"), 400, "Invalid value for parameter 'count'"),
        (lambda c: c.post("/need"), 405, "Method Not Allowed"),
        (
            lambda c: c.post("/point", content=b"{", headers={"content-type": "application/json"}),
            400,
            "Bad JSON",
        ),
        (lambda c: c.get("/boom"), 500, "Internal Server Error"),
        (lambda c: c.get("/teapot"), 418, "short and stout"),
        (
            lambda c: c.post(
                "/point", content=b"x" * 2048, headers={"content-type": "application/json"}
            ),
            413,
            "Payload Too Large",
        ),
    ],
)
def test_json_errors_answer_every_error_as_json(client_factory, call, status, detail):
    client = client_factory(
        Errors(json_errors=True, max_body_size=1024), raise_server_exceptions=False
    )
    response = call(client)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"detail": detail}


def test_json_errors_wrap_validation_errors_in_detail(client_factory):
    response = client_factory(Errors(json_errors=True)).post("/point", json={"x": "a"})
    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"loc": ["body", "x"], "msg": "Input should be a valid integer", "type": "invalid"}
        ]
    }


def test_json_errors_keep_the_allow_header(client_factory):
    response = client_factory(Errors(json_errors=True)).post("/need")
    assert response.headers["allow"] == "GET, HEAD"


def test_without_json_errors_errors_stay_text(client_factory):
    client = client_factory(Errors(), raise_server_exceptions=False)
    assert client.get("/nowhere").text == "404 Not Found"
    assert client.get("/boom").text == "500 Internal Server Error"


def test_json_errors_for_errors_raised_by_middleware(client_factory):
    from micropie import HttpMiddleware

    class Broken(HttpMiddleware):
        async def before_request(self, request):
            raise RuntimeError("hook")

        async def after_request(self, request, status_code, response_body, extra_headers):
            return None

    app = Errors(json_errors=True)
    app.middlewares.append(Broken())
    response = client_factory(app, raise_server_exceptions=False).get("/need?count=1")
    assert (response.status_code, response.json()) == (500, {"detail": "Internal Server Error"})


NO_EXTRAS_SCRIPT = """
import builtins, dataclasses, json, sys
real_import = builtins.__import__
def guarded(name, *args, **kwargs):
    if name.split(".")[0] in ("pydantic", "msgspec", "orjson"):
        raise ImportError(f"blocked: {name}")
    return real_import(name, *args, **kwargs)
builtins.__import__ = guarded

from starlette.testclient import TestClient
from micropie import App, methods

@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

class Api(App):
    @methods("POST")
    async def move(self, point: Point) -> Point:
        return Point(point.x + 1, point.y)

client = TestClient(Api(json_errors=True, openapi_url="/openapi.json"))
ok = client.post("/move", json={"x": "1"})
bad = client.post("/move", json={"y": 1})
document = client.get("/openapi.json").json()
print(json.dumps([ok.status_code, ok.json(), bad.status_code, bad.json(),
                  sorted(document["components"]["schemas"]),
                  [m for m in ("pydantic", "msgspec", "orjson") if m in sys.modules]]))
"""


def test_dataclasses_work_without_pydantic_msgspec_or_orjson():
    import json
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", NO_EXTRAS_SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    ok_status, ok_body, bad_status, bad_body, schemas, loaded = json.loads(done.stdout)
    assert (ok_status, ok_body) == (200, {"x": 2, "y": 0})
    assert bad_status == 422
    assert bad_body == {
        "detail": [{"loc": ["body", "x"], "msg": "Field required", "type": "missing"}]
    }
    assert "Point" in schemas
    assert loaded == []


def test_model_parameter_from_a_multipart_form(client_factory):
    client = client_factory(Params())
    response = client.post("/point", data={"x": "3", "y": "4"}, files={"f": ("a.txt", b"hi")})
    assert response.json() == {"type": "Point", "value": {"x": 3, "y": 4}}


# -- constraints inside dataclass fields (Annotated), enforced as Pydantic would ------------


@dataclasses.dataclass
class Booking:
    guest: Annotated[str, pydantic.Field(min_length=2)]
    nights: Annotated[int, annotated_types.Interval(ge=1, le=14)] = 1
    room: Annotated[str, msgspec.Meta(pattern="^[A-Z][0-9]+$")] = "A1"
    board: Literal["none", "half", "full"] = "none"
    discount: Annotated[float, pydantic.Field(ge=0, lt=1)] | None = None


class Bookings(App):
    @methods("POST")
    async def book(self, booking: Booking):
        return dataclasses.asdict(booking)


@pytest.mark.parametrize(
    ("body", "loc", "msg", "kind"),
    [
        ({"guest": "A"}, "guest", "String should have at least 2 characters", "string_too_short"),
        (
            {"guest": "Al", "nights": 15},
            "nights",
            "Input should be less than or equal to 14",
            "less_than_equal",
        ),  # fmt: skip
        (
            {"guest": "Al", "nights": "0"},
            "nights",
            "Input should be greater than or equal to 1",
            "greater_than_equal",
        ),  # fmt: skip
        (
            {"guest": "Al", "room": "a1"},
            "room",
            "Expected `str` matching regex '^[A-Z][0-9]+$'",
            "constraint",
        ),  # fmt: skip
        (
            {"guest": "Al", "board": "all"},
            "board",
            "Input should be 'none', 'half' or 'full'",
            "enum",
        ),  # fmt: skip
        ({"guest": "Al", "discount": 1}, "discount", "Input should be less than 1", "less_than"),
    ],
)
def test_dataclass_field_constraints_are_enforced_with_422(client_factory, body, loc, msg, kind):
    answer = client_factory(Bookings()).post("/book", json=body)
    assert answer.status_code == 422
    assert answer.json() == [{"loc": ["body", loc], "msg": msg, "type": kind}]


def test_dataclass_within_its_constraints_is_built(client_factory):
    body = {"guest": "Al", "nights": "3", "room": "B12", "board": "half", "discount": None}
    answer = client_factory(Bookings()).post("/book", json=body)
    assert answer.json() == {**body, "nights": 3}


def test_dataclass_field_constraints_are_in_its_schema():
    schema = Bookings().openapi()["components"]["schemas"]["Booking"]["properties"]
    assert schema["guest"] == {"type": "string", "minLength": 2}
    assert schema["nights"] == {"type": "integer", "minimum": 1, "maximum": 14}
    assert schema["room"]["pattern"] == "^[A-Z][0-9]+$"


# -- a list of models is a body too (FastAPI's `items: list[Item]`) -------------------------


class Bulk(App):
    @methods("POST")
    async def users(self, users: list[User]) -> list[User]:
        return [User(id=u.id * 10, name=u.name) for u in users]

    @methods("POST")
    async def items(self, items: list[Item]):
        return {"types": [type(i).__name__ for i in items], "qty": sum(i.qty for i in items)}

    @methods("POST")
    async def points(self, points: list[Point] | None = None):
        return {"points": None if points is None else [[p.x, p.y] for p in points]}


@pytest.mark.parametrize("keyed", [False, True])
def test_list_of_models_from_a_json_array_or_its_key(client_factory, keyed):
    client = client_factory(Bulk())
    users = [{"id": 1, "name": "Ada"}, {"id": 2, "name": "Bob"}]
    answer = client.post("/users", json={"users": users} if keyed else users)
    assert answer.json() == [
        {"id": 10, "name": "Ada", "tags": []},
        {"id": 20, "name": "Bob", "tags": []},
    ]
    items = [{"sku": "a"}, {"sku": "b", "qty": 2}]
    assert client.post("/items", json={"items": items} if keyed else items).json() == {
        "types": ["Item", "Item"],
        "qty": 3,
    }
    points = [{"x": 1}, {"x": 2, "y": "3"}]
    answer = client.post("/points", json={"points": points} if keyed else points)
    assert answer.json() == {"points": [[1, 0], [2, 3]]}


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/users", [{"id": 1, "name": "Ada"}, {"id": "x", "name": "Bob"}], ["body", 1, "id"]),
        ("/users", {"users": [{"name": "Ada"}]}, ["body", "users", 0, "id"]),
        ("/users", {"name": "Ada"}, ["body"]),
        ("/items", [{"qty": 1}], ["body", 0, "sku"]),
        ("/points", [{"x": "a"}], ["body", 0, "x"]),
        ("/points", [1], ["body", 0]),
    ],
)
def test_invalid_list_of_models_answers_422_never_500(client_factory, path, body, loc):
    answer = client_factory(Bulk()).post(path, json=body)
    assert answer.status_code == 422
    assert [error["loc"] for error in answer.json()] == [loc]


def test_list_of_models_is_documented_as_a_body_not_a_path_parameter():
    document = Bulk().openapi()
    assert "/users" in document["paths"] and "/users/{users}" not in document["paths"]
    operation = document["paths"]["/users"]["post"]
    assert "parameters" not in operation
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    array = {"type": "array", "items": {"$ref": "#/components/schemas/User"}}
    assert schema["anyOf"][0] == array
    assert schema["anyOf"][1]["properties"] == {"users": array}
    assert Bulk().openapi()["paths"]["/points"]["post"]["requestBody"]["required"] is False


# -- dict[K, V] is a body too: a JSON object whose values are validated --------------------


class Maps(App):
    @methods("POST")
    async def scores(self, scores: dict[str, int]):
        types = sorted({type(v).__name__ for v in scores.values()})
        return {"total": sum(scores.values()), "types": types}

    @methods("POST")
    async def people(self, people: dict[str, User] | None = None):
        return {"names": None if people is None else {k: u.name for k, u in people.items()}}


@pytest.mark.parametrize("keyed", [False, True])
def test_dict_parameter_from_a_json_object_or_its_key(client_factory, keyed):
    client = client_factory(Maps())
    scores = {"ada": 2, "bob": "3"}
    answer = client.post("/scores", json={"scores": scores} if keyed else scores)
    assert answer.json() == {"total": 5, "types": ["int"]}
    people = {"a": {"id": 1, "name": "Ada"}}
    answer = client.post("/people", json={"people": people} if keyed else people)
    assert answer.json() == {"names": {"a": "Ada"}}
    assert client.post("/people").json() == {"names": None}


@pytest.mark.parametrize(
    ("path", "body", "loc"),
    [
        ("/scores", {"ada": "many"}, ["body", "ada"]),
        ("/scores", {"scores": {"ada": None}}, ["body", "scores", "ada"]),
        ("/scores", [1, 2], ["body"]),
        ("/scores", {"scores": [1]}, ["body", "scores"]),
        ("/people", {"a": {"id": "x", "name": "Ada"}}, ["body", "a", "id"]),
    ],
)
def test_invalid_dict_parameter_answers_422_never_500(client_factory, path, body, loc):
    answer = client_factory(Maps()).post(path, json=body)
    assert answer.status_code == 422
    assert [error["loc"] for error in answer.json()] == [loc]


def test_dict_parameter_is_documented_as_a_body_not_a_path_parameter():
    document = Maps().openapi()
    assert list(document["paths"]) == ["/scores", "/people"]
    operation = document["paths"]["/scores"]["post"]
    assert "parameters" not in operation
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    mapping = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert schema["anyOf"] == [
        mapping,
        {"type": "object", "properties": {"scores": mapping}, "required": ["scores"]},
    ]


# -- TypedDict and NamedTuple parameters are built and validated too (SPEC §13) -----------


class Film(TypedDict):
    title: str
    year: int
    tags: NotRequired[list[str]]


class Records(App):
    @methods("POST")
    async def film(self, film: Film):
        return {"type": type(film).__name__, "film": film}

    @methods("POST")
    async def pair(self, pair: Pair):
        return {"type": type(pair).__name__, "pair": pair._asdict()}


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        ("/film", {"title": "Up", "year": "2009"}, {"title": "Up", "year": 2009}),
        (
            "/film",
            {"film": {"title": "Up", "year": 2009, "tags": ["a"], "x": 1}},
            {"title": "Up", "year": 2009, "tags": ["a"]},
        ),  # fmt: skip
        ("/pair", {"left": "1", "right": 2}, {"left": 1, "right": "2"}),
        ("/pair", [3, "4"], {"left": 3, "right": "4"}),
    ],
)
def test_typeddict_and_namedtuple_parameters_are_built(client_factory, path, body, expected):
    answer = client_factory(Records()).post(path, json=body)
    key = path.strip("/")
    kind = "dict" if key == "film" else "Pair"
    assert answer.json() == {"type": kind, key: expected}


@pytest.mark.parametrize(
    ("path", "body", "loc", "kind"),
    [
        ("/film", {"year": 2009}, ["body", "title"], "missing"),
        ("/film", {"title": "Up", "year": "soon"}, ["body", "year"], "invalid"),
        ("/film", {"title": "Up", "year": 1, "tags": "a"}, ["body", "tags"], "list_type"),
        ("/pair", {"left": 1}, ["body", "right"], "missing"),
        ("/pair", "x", ["body"], "model_type"),
    ],
)
def test_invalid_typeddict_or_namedtuple_input_is_422(client_factory, path, body, loc, kind):
    answer = client_factory(Records()).post(path, json=body)
    assert answer.status_code == 422
    assert [(e["loc"], e["type"]) for e in answer.json()] == [(loc, kind)]


def test_typeddict_and_namedtuple_parameters_are_documented_as_bodies():
    paths = Records().openapi()["paths"]
    assert set(paths) == {"/film", "/pair"}
    body = paths["/film"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["anyOf"][0] == {"$ref": "#/components/schemas/Film"}
    film = Records().openapi()["components"]["schemas"]["Film"]
    assert film["required"] == ["title", "year"]  # NotRequired read from resolved hints
    assert film["properties"]["tags"] == {"type": "array", "items": {"type": "string"}}


def test_named_tuples_answer_objects_without_orjson_too(client_factory):
    """The standard library's json writes tuples as arrays without asking ``default``."""
    from micropie.streaming import _dumps_stdlib

    value = {"pair": Pair(1, "a"), "pairs": [Pair(2, "b")], "plain": (1, 2), "n": 2**70}
    expected = {
        "pair": {"left": 1, "right": "a"},
        "pairs": [{"left": 2, "right": "b"}],
        "plain": [1, 2],
        "n": 2**70,
    }
    assert json.loads(_dumps_stdlib(value)) == expected
    assert json.loads(_dumps_stdlib(Pair(3, "c"))) == {"left": 3, "right": "c"}

    class Big(App):  # an integer over 64 bits: orjson refuses, the json module encodes
        async def big(self):
            return {"pair": Pair(4, "d"), "n": 2**70}

    assert client_factory(Big()).get("/big").json() == {
        "pair": {"left": 4, "right": "d"},
        "n": 2**70,
    }


class Reading(pydantic.BaseModel):
    """Notes the thread that validates it, and the request it can see there."""

    value: int

    @pydantic.field_validator("value")
    @classmethod
    def note_thread(cls, value: int) -> int:
        from micropie import current_request

        _validated_in.append((threading.get_ident(), current_request.get().method))
        return value


_validated_in: list[tuple[int, str]] = []


class Readings(App):
    async def add(self, readings: list[Reading]):
        return {"count": len(readings), "loop_thread": threading.get_ident()}


@pytest.mark.parametrize("count", [10, 20_000])
def test_a_large_body_is_validated_off_the_event_loop(client_factory, count):
    """400,000 small models validated on the event loop held it for seconds; a body
    large enough to be parsed in a worker thread is validated in one too."""
    _validated_in.clear()
    client = client_factory(Readings())
    body = json.dumps([{"value": n} for n in range(count)]).encode()
    response = client.post("/add", content=body, headers={"content-type": "application/json"})
    assert response.json()["count"] == count
    threads = {thread for thread, _ in _validated_in}
    off_loop = response.json()["loop_thread"] not in threads
    assert off_loop is (len(body) > THREAD_PARSE_BYTES)
    assert {method for _, method in _validated_in} == {"POST"}  # the request is seen there
    body = body[:-1] + b', {"value": "x"}]'
    response = client.post("/add", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()[0]["loc"] == ["body", count, "value"]
