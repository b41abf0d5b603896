"""What the OpenAPI document says a handler takes is what dispatch takes, and the text
conversions a FastAPI user relies on answer as Pydantic's do (SPEC §2, §12, §13)."""

from __future__ import annotations

import datetime
import decimal
import math
import re
from typing import Annotated, Any

import fastapi
import pydantic
import pytest
from openapi_spec_validator import validate

from micropie import App, UploadedFile, methods
from micropie.converters import BOOL_SPELLINGS, is_class
from tests.apps.typed_api import Colour, Level


class Api(App):
    async def flag(self, on: bool = False, many: list[bool] | None = None) -> dict[str, Any]:
        return {"on": on, "many": many}

    async def files(self, *parts: str) -> list[str]:
        return list(parts)

    async def tail(self, n: int, *more: str) -> list[str]:
        return [str(n), *more]

    async def page(self, number: int = 1) -> dict[str, int]:
        return {"number": number}

    async def ratio(self, value: float) -> dict[str, str]:
        return {"value": repr(value)}

    async def finite(
        self, value: Annotated[float, pydantic.Field(allow_inf_nan=False)]
    ) -> dict[str, float]:
        return {"value": value}


def _operation(document: dict[str, Any], path: str) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"][path]["get"]
    return operation


# -- booleans: every spelling the document names is taken, and nothing else ---------------


def test_a_bool_parameter_is_documented_with_the_spellings_it_takes():
    parameters = _operation(Api().openapi(), "/flag")["parameters"]
    assert [p["name"] for p in parameters] == ["on", "many"]
    for parameter in parameters:
        for yes, no in BOOL_SPELLINGS:
            assert f"{yes}/{no}" in parameter["description"]
        assert "empty value is false" in parameter["description"]


@pytest.mark.parametrize(("yes", "no"), BOOL_SPELLINGS)
def test_every_documented_spelling_is_taken_in_any_case(client_factory, yes, no):
    client = client_factory(Api())
    for text, value in [(yes, True), (no, False), (yes.upper(), True), (no.title(), False)]:
        assert client.get(f"/flag?on={text}").json()["on"] is value
    assert client.get(f"/flag?many={yes}&many={no}").json()["many"] == [True, False]


@pytest.mark.parametrize("text", ["maybe", "2", "-1", "ja", "truee", "0.0"])
def test_a_spelling_not_documented_answers_400(client_factory, text):
    answer = client_factory(Api()).get(f"/flag?on={text}")
    assert (answer.status_code, answer.text) == (
        400,
        "400 Bad Request: Invalid value for parameter 'on'",
    )


def test_bool_spellings_are_those_pydantic_takes_plus_empty():
    adapter = pydantic.TypeAdapter(bool)
    for yes, no in BOOL_SPELLINGS:
        assert (adapter.validate_python(yes), adapter.validate_python(no)) == (True, False)


# -- *args: zero or more segments, documented as such ------------------------------------


def test_star_args_are_documented_with_and_without_their_segments():
    document = Api().openapi()
    assert {"/files", "/files/{parts}", "/tail/{n}", "/tail/{n}/{more}"} <= set(document["paths"])
    assert "parameters" not in _operation(document, "/files")
    (parts,) = _operation(document, "/files/{parts}")["parameters"]
    assert (parts["in"], parts["required"]) == ("path", True)
    assert "One or more path segments separated by '/'" in parts["description"]
    names = [p["name"] for p in _operation(document, "/tail/{n}")["parameters"]]
    assert names == ["n"]
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert _operation(document, "/files")["operationId"] == "files_get_without_parts"


def test_star_args_urls_shaped_as_documented_are_served(client_factory):
    client = client_factory(Api())
    assert client.get("/files").json() == []
    assert client.get("/files/a").json() == ["a"]
    assert client.get("/files/a/b").json() == ["a", "b"]
    assert client.get("/files/a%2Fb").json() == ["a", "b"]  # Swagger UI encodes the '/'
    assert client.get("/tail/1").json() == ["1"]
    assert client.get("/tail/1/x/y").json() == ["1", "x", "y"]


# -- optional segments: url_for's URL and the document's URL reach the same handler ------


def test_url_for_and_the_document_agree_on_optional_segments(client_factory):
    app = Api()
    client = client_factory(app)
    document = app.openapi()
    assert "/page" in document["paths"] and "/page/{number}" not in document["paths"]
    (number,) = _operation(document, "/page")["parameters"]
    assert (number["in"], number["required"], number["schema"]["default"]) == ("query", False, 1)
    assert app.url_path_for("page") == "/page"
    built = app.url_path_for("page", number=7)
    assert client.get(built).json() == client.get("/page?number=7").json() == {"number": 7}
    assert app.url_path_for("files") == "/files"
    assert app.url_path_for("files", parts=["a", "b"]) == "/files/a/b"


# -- floats: text converts as Pydantic converts it (inf and nan included) ------------------


@pytest.mark.parametrize(
    "text", ["1.5", " 2 ", "1e5", "1_000", "nan", "NaN", "inf", "-inf", "Infinity", "1e400"]
)
def test_float_text_pydantic_takes_is_taken(client_factory, text):
    expected = pydantic.TypeAdapter(float).validate_python(text)
    answer = client_factory(Api()).get("/ratio", params={"value": text})
    assert answer.status_code == 200
    got = float(answer.json()["value"])
    assert got == expected or (math.isnan(got) and math.isnan(expected))


@pytest.mark.parametrize("text", ["", "x", "0x10", "1,5", "--1"])
def test_float_text_pydantic_refuses_answers_400(client_factory, text):
    with pytest.raises(pydantic.ValidationError):
        pydantic.TypeAdapter(float).validate_python(text)
    answer = client_factory(Api()).get("/ratio", params={"value": text})
    assert answer.status_code == 400


@pytest.mark.parametrize("text", ["nan", "inf", "1e400"])
def test_allow_inf_nan_false_refuses_them_naming_why(client_factory, text):
    answer = client_factory(Api()).get("/finite", params={"value": text})
    assert answer.status_code == 400
    assert answer.text.startswith("400 Bad Request: Invalid value for parameter 'value': ")
    assert "finite number" in answer.text


@pytest.mark.parametrize("body", [b'{"value": 1e400}', b'{"value": NaN}', b'{"value": Infinity}'])
def test_json_numbers_beyond_a_float_are_bad_json(client_factory, body):
    answer = client_factory(Api()).post(
        "/ratio", content=body, headers={"content-type": "application/json"}
    )
    assert (answer.status_code, answer.text) == (400, "400 Bad Request: Bad JSON")


# -- every annotation the document types is the type the handler receives ----------------


class Kinds(App):
    async def kinds(
        self,
        price: decimal.Decimal,
        at: datetime.time,
        when: datetime.datetime,
        ids: set[int],
        pair: tuple[int, ...] = (),
        frozen: frozenset[str] = frozenset(),
    ) -> dict[str, Any]:
        values = {"price": price, "at": at, "when": when, "ids": ids, "pair": pair}
        return {"types": {k: type(v).__name__ for k, v in values.items()}, **values,
                "frozen": frozen}  # fmt: skip


def test_decimal_time_and_collections_convert_as_documented(client_factory):
    query = "price=1.10&at=10:30&when=2024-05-01T12:00:00Z&ids=2&ids=1&ids=2&pair=3&pair=3"
    answer = client_factory(Kinds()).get(f"/kinds?{query}&frozen=a")
    assert answer.json() == {
        "types": {
            "price": "Decimal",
            "at": "time",
            "when": "datetime",
            "ids": "set",
            "pair": "tuple",
        },  # fmt: skip
        "price": "1.10",  # a Decimal answers as text, as Pydantic serialises it
        "at": "10:30:00",
        "when": "2024-05-01T12:00:00Z",
        "ids": [1, 2],
        "pair": [3, 3],
        "frozen": ["a"],
    }
    parameters = {
        p["name"]: p["schema"]
        for p in _operation(Kinds().openapi(), "/kinds/{price}/{at}/{when}/{ids}")["parameters"]
    }
    price = parameters["price"]
    assert (price["type"], price["format"]) == ("string", "decimal")
    for text in ("1", "-0.5", ".5", "1.10", "2e3"):  # what the pattern allows converts
        assert re.fullmatch(price["pattern"].strip("^$"), text)
        assert (
            client_factory(Kinds()).get(f"/kinds?{query.replace('1.10', text)}").status_code == 200
        )
    assert not re.fullmatch(price["pattern"].strip("^$"), "NaN")
    assert parameters["at"] == {"type": "string", "format": "time"}
    assert parameters["pair"]["type"] == "array"
    assert parameters["frozen"]["uniqueItems"] is True


@pytest.mark.parametrize(
    ("name", "text"),
    [("price", "abc"), ("price", "NaN"), ("price", "Infinity"), ("at", "25:00"), ("ids", "x")],
)
def test_decimal_time_and_collections_refuse_what_does_not_convert(client_factory, name, text):
    good = {"price": "1", "at": "10:00", "when": "2024-05-01T00:00", "ids": "1"}
    answer = client_factory(Kinds()).get("/kinds", params={**good, name: text})
    assert (answer.status_code, answer.text) == (
        400,
        f"400 Bad Request: Invalid value for parameter '{name}'",
    )


# -- url_for builds the text dispatch reads back into the same values --------------------


class Paint(App):
    async def paint(
        self,
        colour: Colour,
        level: Level = Level.LOW,
        *,
        on: bool = False,
        day: datetime.date | None = None,
        tags: list[Colour] | None = None,
        ids: set[int] | None = None,
    ) -> dict[str, Any]:
        return {"values": repr((colour, level, on, day, tags, ids))}


@pytest.mark.parametrize(
    "values",
    [
        {"colour": Colour.GREEN},
        {"colour": Colour.GREEN, "level": Level.HIGH},
        {"colour": Colour.RED, "on": True, "day": datetime.date(2024, 1, 2)},
        {"colour": Colour.RED, "on": False, "tags": [Colour.GREEN, Colour.RED], "ids": {3}},
    ],
)
def test_url_for_values_round_trip_through_dispatch(client_factory, values):
    app = Paint()
    url = app.url_path_for("paint", **values)
    assert "Colour." not in url and "Level." not in url and "True" not in url
    full = {"level": Level.LOW, "on": False, "day": None, "tags": None, "ids": None, **values}
    expected = tuple(full[k] for k in ("colour", "level", "on", "day", "tags", "ids"))
    answer = client_factory(app).get(url)
    assert answer.json() == {"values": repr(expected)}


# -- FastAPI's Query/Path markers are Pydantic FieldInfos: their limits hold too ---------


class Moved(App):
    async def items(
        self,
        item_id: Annotated[int, fastapi.Path(ge=1)],
        limit: Annotated[int, fastapi.Query(ge=1, le=50)] = 10,
    ) -> dict[str, int]:
        return {"item_id": item_id, "limit": limit}


def test_fastapi_query_and_path_constraints_are_checked_and_documented(client_factory):
    client = client_factory(Moved())
    assert client.get("/items/3?limit=5").json() == {"item_id": 3, "limit": 5}
    answer = client.get("/items/3?limit=0")
    why = "Input should be greater than or equal to 1"
    assert answer.text == f"400 Bad Request: Invalid value for parameter 'limit': {why}"
    assert client.get("/items/0").text.endswith(f"'item_id': {why}")
    parameters = _operation(Moved().openapi(), "/items/{item_id}")["parameters"]
    assert parameters[0]["schema"] == {"type": "integer", "minimum": 1}
    assert parameters[1]["schema"] == {
        "type": "integer",
        "minimum": 1,
        "maximum": 50,
        "default": 10,
    }


# -- a model with an uploaded file: one multipart form documented with both --------------


class Upload(App):
    @methods("POST")
    async def upload(self, meta: Meta, file: UploadedFile) -> dict[str, Any]:
        return {"meta": meta.model_dump(), "file": file.filename}

    @methods("POST")
    async def maybe(self, meta: Meta, file: UploadedFile | None = None) -> dict[str, Any]:
        return {"meta": meta.model_dump(), "file": None if file is None else file.filename}


class Meta(pydantic.BaseModel):
    title: str
    public: bool = False


def test_model_and_file_are_one_documented_multipart_form(client_factory):
    document = Upload().openapi()
    validate(document)
    content = document["paths"]["/upload"]["post"]["requestBody"]["content"]
    assert list(content) == ["multipart/form-data"]  # JSON cannot carry the file
    schema = content["multipart/form-data"]["schema"]
    assert schema["allOf"][0] == {"$ref": "#/components/schemas/Meta"}
    assert schema["allOf"][1]["required"] == ["file"]
    client = client_factory(Upload())
    answer = client.post(
        "/upload", data={"title": "Notes", "public": "true"}, files={"file": ("a.txt", b"hi")}
    )
    assert answer.json() == {"meta": {"title": "Notes", "public": True}, "file": "a.txt"}
    optional = document["paths"]["/maybe"]["post"]["requestBody"]["content"]
    assert set(optional) == {"application/json", "multipart/form-data"}
    assert client.post("/maybe", json={"title": "Notes"}).json()["file"] is None


# -- Python 3.10: list[int] is an instance of type there, and issubclass() raised ---------


@pytest.mark.parametrize("alias", [list[int], set[int], dict[str, int], tuple[int, ...]])
def test_generic_aliases_are_never_taken_for_classes(alias):
    """On Python 3.10 ``isinstance(list[int], type)`` is true: an app with a ``list[str]``
    parameter raised ``TypeError: issubclass() arg 1 must be a class`` when created."""
    assert not is_class(alias) and not is_class(alias | None)
    assert is_class(int) and is_class(Colour) and is_class(pydantic.BaseModel)

    async def tags(self, tags=None, *, more=None):
        return {"tags": tags, "more": more}

    tags.__annotations__ = {"tags": alias | None, "more": alias}  # objects, not strings
    app = type("Lists", (App,), {"tags": tags})()
    assert "/tags" in app.openapi()["paths"]


@pytest.mark.parametrize("bad", ["1e400", "NaN", "Infinity", "-Infinity"])
def test_json_non_finite_numbers_are_bad_json_on_the_exact_integer_path_too(client_factory, bad):
    """A body with an integer over 64 bits is parsed by the json module (exact integers),
    and without orjson every body is: it refuses what orjson refuses."""
    from micropie.body import _loads_exact

    big = '{"big": 123456789012345678901234567890, "value": '
    body = (big + bad + "}").encode()
    with pytest.raises(ValueError):
        _loads_exact(body)
    answer = client_factory(Api()).post(
        "/ratio", content=body, headers={"content-type": "application/json"}
    )
    assert (answer.status_code, answer.text) == (400, "400 Bad Request: Bad JSON")
    exact = _loads_exact((big + "1.5e300}").encode())
    assert exact == {"big": 123456789012345678901234567890, "value": 1.5e300}
