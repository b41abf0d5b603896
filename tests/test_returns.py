"""A handler's return annotation shapes its answer as the OpenAPI document says (SPEC §13):
JSON of the declared type, filtered and validated through Pydantic as FastAPI's
``response_model`` is; handlers without one keep MicroPie's answers."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import logging
import subprocess
import sys
import textwrap
import uuid
from typing import Any, Literal, NamedTuple, TypedDict

import jsonschema
import msgspec
import pydantic
import pytest
from openapi_spec_validator import validate

from micropie import App, describe, methods
from tests.support import ROOT


class Colour(enum.Enum):
    RED = "red"


class User(pydantic.BaseModel):
    id: int
    name: str


class UserWithPassword(User):
    password: str


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Pair(NamedTuple):
    left: int
    right: str


class Entry(TypedDict):
    key: str


class Tag(msgspec.Struct):
    label: str


class Row:
    """An ORM-like object: attributes, no mapping."""

    def __init__(self) -> None:
        self.id, self.name, self.secret = 7, "Row", "hidden"


#: handler name → (return annotation, value returned, JSON answered)
SECRET = UserWithPassword(id=1, name="A", password="x")
CASES: dict[str, tuple[Any, Any, Any]] = {
    "integer": (int, 3, 3),
    "number": (float, 1.5, 1.5),
    "flag": (bool, True, True),
    "ident": (uuid.UUID, uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    "moment": (
        datetime.datetime,
        datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc),
        "2024-05-01T00:00:00Z",
    ),
    "day": (datetime.date, datetime.date(2024, 5, 1), "2024-05-01"),
    "clock": (datetime.time, datetime.time(10, 30), "10:30:00"),
    "price": (decimal.Decimal, decimal.Decimal("1.10"), "1.10"),
    "colour": (Colour, Colour.RED, "red"),
    "choice": (Literal["a", "b"], "a", "a"),
    "either": (int | str, "x", "x"),
    "numbers": (set[int], {2}, [2]),
    "labels": (frozenset[str], frozenset({"a"}), ["a"]),
    "user": (User, User(id=1, name="Ada"), {"id": 1, "name": "Ada"}),
    "filtered": (User, UserWithPassword(id=1, name="Ada", password="x"), {"id": 1, "name": "Ada"}),
    "from_dict": (User, {"id": "2", "name": "Bob", "password": "x"}, {"id": 2, "name": "Bob"}),
    "from_object": (User, Row(), {"id": 7, "name": "Row"}),
    "users": (
        list[User],
        [UserWithPassword(id=1, name="A", password="x")],
        [{"id": 1, "name": "A"}],
    ),
    "by_key": (dict[str, User], {"a": User(id=1, name="A")}, {"a": {"id": 1, "name": "A"}}),
    "point": (Point, Point(1, 2), {"x": 1, "y": 2}),
    "entry": (Entry, {"key": "k"}, {"key": "k"}),
    "pair": (Pair, Pair(1, "b"), {"left": 1, "right": "b"}),
    "pairs": (list[Pair], [Pair(1, "b")], [{"left": 1, "right": "b"}]),
    "tag": (Tag, Tag("t"), {"label": "t"}),
    "maybe": (User | None, User(id=1, name="A"), {"id": 1, "name": "A"}),
}


def _handler(name: str, annotation: Any, value: Any) -> Any:
    async def handler(self: App) -> Any:
        return value

    handler.__name__ = handler.__qualname__ = name
    handler.__annotations__ = {"return": annotation}
    return handler


Returns = type(
    "Returns",
    (App,),
    {name: _handler(name, annotation, value) for name, (annotation, value, _) in CASES.items()},
)


def _documented(document: dict[str, Any], path: str, status: str) -> dict[str, Any]:
    """The JSON Schema the document gives ``path``'s GET answer with ``status``."""
    content = document["paths"][path]["get"]["responses"][status]["content"]
    schema: dict[str, Any] = content["application/json"]["schema"]
    return {**schema, "components": document.get("components", {})}


@pytest.mark.parametrize("name", CASES)
def test_the_answer_is_json_of_the_annotation_and_fits_the_document(client_factory, name):
    app = Returns()
    document = app.openapi()
    validate(document)
    answer = client_factory(app).get(f"/{name}")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == CASES[name][2]
    jsonschema.validate(answer.json(), _documented(document, f"/{name}", "200"))


class Statuses(App):
    @methods("POST")
    async def create(self, fail: bool = False) -> tuple[int, User]:
        if fail:
            return 409, "taken"  # an error answer is sent as returned
        return 201, UserWithPassword(id=1, name="Ada", password="x")

    @methods("POST")
    async def made(self) -> tuple[Literal[201], User]:
        return 201, User(id=2, name="Bob"), {"x-made": "yes"}

    async def nothing(self) -> User | None:
        return None

    def blocking(self) -> list[User]:
        return [SECRET]


def test_a_status_tuple_shapes_its_success_body_and_is_documented_as_any_2xx(client_factory):
    app = Statuses()
    document = app.openapi()
    validate(document)
    client = client_factory(app)
    created = client.post("/create")
    assert (created.status_code, created.json()) == (201, {"id": 1, "name": "Ada"})
    responses = document["paths"]["/create"]["post"]["responses"]
    assert "2XX" in responses and "200" not in responses
    refused = client.post("/create?fail=1")
    assert (refused.status_code, refused.text) == (409, "taken")
    made = client.post("/made")
    assert (made.status_code, made.json(), made.headers["x-made"]) == (
        201,
        {"id": 2, "name": "Bob"},
        "yes",
    )
    assert "201" in document["paths"]["/made"]["post"]["responses"]


def test_none_still_answers_204_and_sync_handlers_are_shaped_too(client_factory):
    client = client_factory(Statuses())
    assert client.get("/nothing").status_code == 204
    answer = client.get("/blocking")
    assert (answer.headers["content-type"], answer.json()) == (
        "application/json",
        [{"id": 1, "name": "A"}],
    )


class Wrong(App):
    async def user(self) -> User:
        return {"id": "not a number"}  # type: ignore[return-value]


@pytest.mark.parametrize("json_errors", [False, True])
def test_a_value_the_annotation_refuses_is_a_logged_500(client_factory, caplog, json_errors):
    caplog.set_level(logging.ERROR, logger="micropie")
    answer = client_factory(Wrong(json_errors=json_errors)).get("/user")
    assert answer.status_code == 500
    if json_errors:
        assert answer.json() == {"detail": "Internal Server Error"}
    assert "Wrong.user returned a value its return annotation" in caplog.text
    assert "'loc': ('name',)" in caplog.text and "not a number" in caplog.text


class Unannotated(App):
    async def count(self):
        return 3

    async def text(self) -> str:
        return "3"

    async def anything(self) -> Any:
        return 3

    async def stream(self):
        yield "a"

    async def plain_dict(self) -> dict[str, int]:
        return {"a": "x"}  # type: ignore[dict-item]


def test_handlers_without_a_shaping_annotation_keep_micropie_answers(client_factory):
    client = client_factory(Unannotated())
    for path in ("/count", "/text", "/anything"):
        answer = client.get(path)
        assert (answer.headers["content-type"], answer.text) == ("text/html; charset=utf-8", "3")
    assert client.get("/stream").text == "a"
    assert client.get("/plain_dict").json() == {"a": "x"}  # a dict/list of no model: as returned
    for name in ("count", "plain_dict"):  # left as they are: nothing added per request
        handler = Unannotated()._handlers[name].func
        assert not hasattr(handler, "__wrapped__") and handler.__name__ == name


def test_an_instance_attribute_handler_is_planned_once(client_factory):
    app = App()

    async def total() -> int:
        return 5

    app.total = total  # type: ignore[attr-defined]
    client = client_factory(app)
    assert client.get("/total").json() == 5
    plan = app._dynamic_plans["total"]
    assert client.get("/total").json() == 5
    assert app._dynamic_plans["total"] is plan


def _run_without_pydantic(script: str, cwd: Any) -> subprocess.CompletedProcess[str]:
    """Run ``script`` (which hides pydantic itself) in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_without_pydantic_the_value_is_json_as_returned(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pydantic"] = None
        import dataclasses, datetime
        from starlette.testclient import TestClient
        from micropie import App

        @dataclasses.dataclass
        class Point:
            x: int

        class Api(App):
            async def count(self) -> int:
                return 3

            async def point(self) -> Point:
                return Point(1)

        client = TestClient(Api())
        print(client.get("/count").headers["content-type"], client.get("/count").text)
        print(client.get("/point").text)
        """
    )
    result = _run_without_pydantic(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["application/json 3", '{"x":1}']


class Described(App):
    @methods("POST")
    @describe(status=201)
    async def make(self) -> User:
        return UserWithPassword(id=3, name="Cy", password="x")

    @methods("POST")
    @describe(status=201)
    async def plain(self):
        return "made"

    @methods("POST")
    @describe(status=201)
    async def refuse(self) -> User:
        return 409, "taken"  # type: ignore[return-value]


def test_a_described_status_is_the_status_a_plain_return_answers(client_factory):
    """As FastAPI's ``status_code=201``: the document and the answer say 201."""
    app = Described()
    document = app.openapi()
    client = client_factory(app)
    made = client.post("/make")
    assert (made.status_code, made.json()) == (201, {"id": 3, "name": "Cy"})
    assert list(document["paths"]["/make"]["post"]["responses"])[0] == "201"
    plain = client.post("/plain")
    assert (plain.status_code, plain.text) == (201, "made")
    refused = client.post("/refuse")  # a returned (status, body) chooses its own
    assert (refused.status_code, refused.text) == (409, "taken")


# -- records Pydantic does not handle as micropie documents them: micropie's own check --


class Account(TypedDict):
    id: int
    name: str


class Owned(NamedTuple):
    owner: Account
    when: datetime.date


class Badge(msgspec.Struct):
    id: int
    tags: set[str]


class BadgeWithSecret(msgspec.Struct):
    id: int
    tags: set[str]
    secret: str


@dataclasses.dataclass
class Holder:
    id: int
    name: str
    secret: str = "hidden"


class Stamped(TypedDict):
    ref: uuid.UUID
    at: datetime.datetime
    price: decimal.Decimal


ACCOUNT = {"id": 1, "name": "Ada", "secret": "hidden"}
#: handler name → (return annotation, value returned, JSON answered): undeclared fields
#: (a secret) are left out, dicts and objects with the fields' attributes are taken.
RECORDS: dict[str, tuple[Any, Any, Any]] = {
    "account": (Account, ACCOUNT, {"id": 1, "name": "Ada"}),
    "account_from_object": (Account, Holder(1, "Ada"), {"id": 1, "name": "Ada"}),
    "account_from_row": (Account, Row(), {"id": 7, "name": "Row"}),
    "accounts": (list[Account], (ACCOUNT,), [{"id": 1, "name": "Ada"}]),
    "owned": (
        Owned,
        Owned(ACCOUNT, datetime.date(2024, 5, 1)),  # type: ignore[arg-type]
        {"owner": {"id": 1, "name": "Ada"}, "when": "2024-05-01"},
    ),
    "owned_from_dict": (
        Owned,
        {"owner": Holder(2, "Bo"), "when": "2024-05-01"},
        {"owner": {"id": 2, "name": "Bo"}, "when": "2024-05-01"},
    ),
    "badge": (Badge, BadgeWithSecret(1, {"a"}, "hidden"), {"id": 1, "tags": ["a"]}),
    "badge_from_dict": (Badge, {"id": 2, "tags": ["b"], "secret": "x"}, {"id": 2, "tags": ["b"]}),
    "badges": (
        dict[str, Badge],
        {"k": BadgeWithSecret(3, set(), "x")},
        {"k": {"id": 3, "tags": []}},
    ),
    "maybe_account": (Account | None, ACCOUNT, {"id": 1, "name": "Ada"}),
    "stamped": (
        Stamped,
        {
            "ref": uuid.UUID(int=1),
            "at": datetime.datetime(2024, 5, 1, tzinfo=datetime.timezone.utc),
            "price": decimal.Decimal("1.10"),
            "secret": "hidden",
        },
        {"ref": str(uuid.UUID(int=1)), "at": "2024-05-01T00:00:00Z", "price": "1.10"},
    ),
}

Records = type(
    "Records",
    (App,),
    {name: _handler(name, annotation, value) for name, (annotation, value, _) in RECORDS.items()},
)


@pytest.mark.parametrize("name", RECORDS)
def test_typeddict_namedtuple_and_struct_returns_are_filtered_as_documented(client_factory, name):
    """As FastAPI's ``response_model``: what the annotation does not declare (a secret) is
    never answered, whatever kind of record the annotation names."""
    app = Records()
    document = app.openapi()
    answer = client_factory(app).get(f"/{name}")
    assert (answer.status_code, answer.headers["content-type"]) == (200, "application/json")
    assert answer.json() == RECORDS[name][2]
    assert "secret" not in answer.text
    jsonschema.validate(answer.json(), _documented(document, f"/{name}", "200"))


class WrongRecords(App):
    async def account(self) -> Account:
        return {"id": "one", "name": "Ada"}  # type: ignore[typeddict-item]

    async def missing(self) -> list[Account]:
        return [{"id": 1}]  # type: ignore[typeddict-item]

    async def owned(self) -> Owned:
        return Owned({"id": 1, "name": "A"}, "not a date")  # type: ignore[arg-type]

    async def badge(self) -> Badge:
        return {"id": 1, "tags": "not a set"}  # type: ignore[return-value]

    async def text(self) -> Account:
        return "not a record"  # type: ignore[return-value]

    async def stamped(self) -> Stamped:
        return {"ref": "x", "at": datetime.date(2024, 1, 1), "price": decimal.Decimal("NaN")}  # type: ignore[typeddict-item]


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/account", "'loc': ['id'], 'msg': 'Input should be a valid integer'"),
        ("/missing", "'loc': [0, 'name'], 'msg': 'Field required'"),
        ("/owned", "'loc': ['when'], 'msg': 'Input should be a valid date'"),
        ("/badge", "'loc': ['tags']"),
        ("/text", "'msg': 'Input should be an object'"),
        ("/stamped", "'loc': ['ref'], 'msg': 'Input should be a valid UUID'"),
        ("/stamped", "'loc': ['price'], 'msg': 'Input should be a valid decimal'"),
    ],
)
def test_a_record_the_annotation_refuses_is_a_logged_500(client_factory, caplog, path, logged):
    """A bad *response* is the server's bug: 500 and a log line naming the field, never a
    4xx blaming the client nor an answer the document does not describe."""
    caplog.set_level(logging.ERROR, logger="micropie")
    answer = client_factory(WrongRecords(json_errors=True)).get(path)
    assert (answer.status_code, answer.json()) == (500, {"detail": "Internal Server Error"})
    assert f"WrongRecords.{path[1:]} returned a value its return annotation" in caplog.text
    assert logged in caplog.text


def test_without_pydantic_dataclass_returns_are_filtered_and_checked(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        sys.modules["pydantic"] = None
        import dataclasses
        from starlette.testclient import TestClient
        from micropie import App

        @dataclasses.dataclass
        class Point:
            x: int

        @dataclasses.dataclass
        class Secret(Point):
            secret: str = "hidden"

        class Api(App):
            async def point(self) -> Point:
                return Secret(1)

            async def points(self) -> list[Point]:
                return [{"x": "2", "secret": "hidden"}]

            async def bad(self) -> Point:
                return {"x": "no"}

        client = TestClient(Api(), raise_server_exceptions=False)
        print(client.get("/point").text, client.get("/points").text)
        print(client.get("/bad").status_code)
        """
    )
    result = _run_without_pydantic(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['{"x":1} [{"x":2}]', "500"]
    assert "Api.bad returned a value its return annotation" in result.stderr


@pytest.mark.parametrize("asynchronous", [True, False])
def test_a_generator_under_a_json_annotation_is_refused_naming_the_fix(asynchronous):
    """A generator streams what it yields: ``-> list[User]`` on it would document a JSON
    array the client never gets, unchecked; the app refuses it when it is made."""

    async def agen(self: App) -> list[User]:  # type: ignore[misc]
        yield User(id=1, name="A")

    def gen(self: App) -> list[User]:  # type: ignore[misc]
        yield User(id=1, name="A")

    handler = agen if asynchronous else gen
    handler.__name__ = handler.__qualname__ = "users"
    Api = type("Api", (App,), {"users": handler})
    with pytest.raises(
        TypeError,
        match=r"handler 'users' is a generator.*return the value instead of yielding it "
        r"\(`return \[\.\.\.\]`\), or annotate the stream \(`-> AsyncIterator\[str\]`\)",
    ):
        Api()


def test_a_generator_annotated_as_a_stream_still_streams(client_factory):
    from collections.abc import AsyncIterator, Iterator

    class Streams(App):
        async def chunks(self) -> AsyncIterator[str]:
            yield "a"
            yield "b"

        def lines(self) -> Iterator[bytes]:
            yield b"c"

    client = client_factory(Streams())
    assert client.get("/chunks").text == "ab"
    assert client.get("/lines").text == "c"


class ReturnsGenerators(App):
    async def users(self) -> list[User]:
        return (UserWithPassword(id=i, name="A", password="x") for i in range(2))

    def accounts(self) -> list[Account]:
        return ({**ACCOUNT, "id": i} for i in range(2))

    async def one(self) -> User:
        return (User(id=i, name="A") for i in range(2))  # type: ignore[return-value]

    async def later(self) -> list[User]:
        async def users():
            yield User(id=1, name="A")

        return users()  # type: ignore[return-value]


def test_a_returned_generator_under_a_json_annotation_is_read_and_checked(client_factory):
    """It answered ``id=0 name='A' password='x'...`` as text/html, unchecked."""
    client = client_factory(ReturnsGenerators())
    users = client.get("/users")
    assert (users.headers["content-type"], users.json()) == (
        "application/json",
        [{"id": 0, "name": "A"}, {"id": 1, "name": "A"}],
    )
    assert client.get("/accounts").json() == [{"id": 0, "name": "Ada"}, {"id": 1, "name": "Ada"}]


def test_a_generator_where_one_model_is_declared_or_an_async_one_is_a_logged_500(
    client_factory, caplog
):
    caplog.set_level(logging.ERROR, logger="micropie")
    client = client_factory(ReturnsGenerators())
    assert client.get("/one").status_code == 500
    assert "ReturnsGenerators.one returned a value its return annotation" in caplog.text
    assert client.get("/later").status_code == 500
    assert "returned an async generator where its return annotation says" in caplog.text


class Aliased(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(populate_by_name=True)
    user_name: str = pydantic.Field(alias="userName")


class AliasedApi(App):
    async def declared(self) -> Aliased:
        return Aliased(user_name="ada")

    async def undeclared(self):
        return Aliased(user_name="ada")

    async def nested(self):
        return {"users": [Aliased(user_name="ada")]}

    @methods("POST")
    async def echo(self, user: Aliased) -> Aliased:
        return user


def test_pydantic_models_answer_their_fields_by_alias_as_documented(client_factory):
    """As FastAPI (``response_model_by_alias``): the document names ``userName``, and
    ``user_name`` was answered, so a client could not send back what it received."""
    app = AliasedApi()
    document = app.openapi()
    assert list(document["components"]["schemas"]["Aliased"]["properties"]) == ["userName"]
    client = client_factory(app)
    for path in ("/declared", "/undeclared"):
        assert client.get(path).json() == {"userName": "ada"}
    assert client.get("/nested").json() == {"users": [{"userName": "ada"}]}
    echoed = client.post("/echo", json={"userName": "bo"})
    assert echoed.json() == {"userName": "bo"}
    jsonschema.validate(echoed.json(), _documented_post(document, "/echo"))


def _documented_post(document: dict[str, Any], path: str) -> dict[str, Any]:
    content = document["paths"][path]["post"]["responses"]["200"]["content"]
    return {**content["application/json"]["schema"], "components": document["components"]}


UTC_MOMENT = datetime.datetime(2024, 5, 1, 12, 0, 0, 250, tzinfo=datetime.timezone.utc)
UTC_CLOCK = datetime.time(10, 30, tzinfo=datetime.timezone.utc)


class Stamp(pydantic.BaseModel):
    at: datetime.datetime
    clock: datetime.time


@dataclasses.dataclass
class StampRecord:
    at: datetime.datetime
    clock: datetime.time


class StampDict(TypedDict):
    at: datetime.datetime
    clock: datetime.time


class StampStruct(msgspec.Struct):
    at: datetime.datetime
    clock: datetime.time


def _stamps(self: App, kind: str) -> Any:
    """The same two UTC values in each shape a handler may return."""
    fields = {"at": UTC_MOMENT, "clock": UTC_CLOCK}
    shapes = {
        "model": Stamp(**fields),
        "record": StampRecord(**fields),
        "typeddict": StampDict(at=UTC_MOMENT, clock=UTC_CLOCK),
        "struct": StampStruct(**fields),
        "plain": fields,
        "nested": {"stamp": StampRecord(**fields)},
    }
    return shapes[kind]


class Stamps(App):
    async def untyped(self, kind: str) -> Any:
        return _stamps(self, kind)

    async def model(self) -> Stamp:
        return _stamps(self, "model")  # type: ignore[no-any-return]

    async def record(self) -> StampRecord:
        return _stamps(self, "record")  # type: ignore[no-any-return]

    async def typeddict(self) -> StampDict:
        return _stamps(self, "typeddict")  # type: ignore[no-any-return]

    async def struct(self) -> StampStruct:
        return _stamps(self, "struct")  # type: ignore[no-any-return]

    async def mapping(self) -> dict[str, datetime.datetime]:
        return {"at": UTC_MOMENT}


PYDANTIC_STAMP = json.loads(Stamp(at=UTC_MOMENT, clock=UTC_CLOCK).model_dump_json())


@pytest.mark.parametrize(
    "path",
    ["/untyped/model", "/untyped/record", "/untyped/typeddict", "/untyped/struct",
     "/untyped/plain", "/model", "/record", "/typeddict", "/struct"],
)  # fmt: skip
def test_utc_datetimes_answer_with_z_whatever_the_shape_as_pydantic_writes_them(
    client_factory, path
):
    assert PYDANTIC_STAMP == {"at": "2024-05-01T12:00:00.000250Z", "clock": "10:30:00Z"}
    client = client_factory(Stamps())
    assert client.get(path).json() == PYDANTIC_STAMP
    assert client.get("/untyped/nested").json() == {"stamp": PYDANTIC_STAMP}
    assert client.get("/mapping").json() == {"at": PYDANTIC_STAMP["at"]}


def test_utc_datetimes_answer_with_z_and_enums_their_value_without_orjson_too(tmp_path):
    script = textwrap.dedent(
        """
        import sys
        sys.modules["orjson"] = None
        import datetime, enum
        from starlette.testclient import TestClient
        from micropie import App

        Colour = enum.Enum("Colour", {"RED": "red"})
        utc, other = datetime.timezone.utc, datetime.timezone(datetime.timedelta(hours=-2))

        class Api(App):
            async def stamps(self):
                return {"at": datetime.datetime(2024, 5, 1, tzinfo=utc),
                        "clock": datetime.time(10, 30, tzinfo=utc),
                        "west": datetime.datetime(2024, 5, 1, tzinfo=other),
                        "naive": datetime.datetime(2024, 5, 1),
                        "colour": Colour.RED}

        print(TestClient(Api()).get("/stamps").text)
        """
    )
    result = _run_without_pydantic(script, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "at": "2024-05-01T00:00:00Z",
        "clock": "10:30:00Z",
        "west": "2024-05-01T00:00:00-02:00",
        "naive": "2024-05-01T00:00:00",
        "colour": "red",  # orjson writes an Enum's value; so does micropie without it
    }
