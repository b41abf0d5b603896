"""SPEC §2: binding path, query, body, files and defaults to handler parameters."""

from __future__ import annotations

import datetime
import importlib.util
import threading
import uuid
from typing import Annotated, Literal, Optional

import annotated_types
import msgspec
import pytest
from pydantic import Field
from starlette.requests import Request as StarletteRequest

from micropie import App, HttpMiddleware, Request
from tests.apps.typed_api import Colour, Level

needs_uploads = pytest.mark.skipif(
    importlib.util.find_spec("micropie.uploads") is None, reason="micropie.uploads not written yet"
)
MISSING = "400 Bad Request: Missing required parameter '{}'"
INVALID = "400 Bad Request: Invalid value for parameter '{}'"


class EchoApp(App):
    async def echo(self, value):
        return {"value": value, "type": type(value).__name__}


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda c: c.get("/echo/path"), "path"),
        (lambda c: c.get("/echo?value=query"), "query"),
        (lambda c: c.post("/echo", data={"value": "form"}), "form"),
        (lambda c: c.post("/echo", json={"value": "json"}), "json"),
    ],
)
def test_each_source_binds(client_factory, call, expected):
    assert call(client_factory(EchoApp())).json() == {"value": expected, "type": "str"}


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (lambda c: c.get("/echo/path?value=query"), "path"),
        (lambda c: c.post("/echo/path?value=query", data={"value": "form"}), "path"),
        (lambda c: c.post("/echo?value=query", data={"value": "form"}), "query"),
        (lambda c: c.post("/echo?value=query", json={"value": "json"}), "query"),
        pytest.param(
            lambda c: c.post("/echo", data={"value": "form"}, files={"value": ("f", b"x")}),
            "form",
            marks=needs_uploads,
        ),
    ],
)
def test_sources_in_order_first_wins(client_factory, call, expected):
    assert call(client_factory(EchoApp())).json()["value"] == expected


@needs_uploads
def test_file_binds_when_no_field(client_factory):
    class MyApp(App):
        async def upload(self, doc):
            return f"{doc.filename}:{(await doc.read()).decode()}"

    response = client_factory(MyApp()).post("/upload", files={"doc": ("a.txt", b"hello")})
    assert response.text == "a.txt:hello"


def test_default_then_400_missing(client_factory):
    class MyApp(App):
        async def opt(self, name="dflt"):
            return name

        async def req(self, name):
            return name

    client = client_factory(MyApp())
    assert client.get("/opt").text == "dflt"
    response = client.get("/req")
    assert (response.status_code, response.text) == (400, MISSING.format("name"))


def test_missing_400_names_first_missing_parameter(client_factory):
    class MyApp(App):
        async def two(self, first, second):
            return "x"

    response = client_factory(MyApp()).get("/two/a")
    assert (response.status_code, response.text) == (400, MISSING.format("second"))


def test_query_first_value_wins(client_factory):
    class MyApp(App):
        async def q(self, tag):
            return tag

    assert client_factory(MyApp()).get("/q?tag=a&tag=b").text == "a"


def test_form_first_value_and_list(client_factory):
    class MyApp(App):
        async def one(self, tag):
            return tag

        async def many(self, tag: list[str]):
            return tag

    client = client_factory(MyApp())
    assert client.post("/one", data={"tag": ["a", "b"]}).text == "a"
    assert client.post("/many", data={"tag": ["a", "b"]}).json() == ["a", "b"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, [3, "int"]), (1.5, [1.5, "float"]), (True, [True, "bool"]), (None, [None, "NoneType"]),
     ([1, 2], [[1, 2], "list"]), ({"a": 1}, [{"a": 1}, "dict"]), ("s", ["s", "str"])],
)  # fmt: skip
def test_json_body_keeps_json_types(client_factory, value, expected):
    class MyApp(App):
        async def j(self, value):
            return [value, type(value).__name__]

    assert client_factory(MyApp()).post("/j", json={"value": value}).json() == expected


def test_json_non_object_body_binds_nothing(client_factory):
    class MyApp(App):
        async def j(self, value="none"):
            return [value, self.request.get_json]

    assert client_factory(MyApp()).post("/j", json=[1, 2]).json() == ["none", [1, 2]]


def test_star_args_takes_remaining_segments(client_factory):
    class MyApp(App):
        async def files(self, root, *rest):
            return [root, list(rest)]

    assert client_factory(MyApp()).get("/files/a/b/c").json() == ["a", ["b", "c"]]


def test_star_args_annotated_converts_each(client_factory):
    class MyApp(App):
        async def total(self, *nums: int):
            return sum(nums)

    client = client_factory(MyApp())
    assert client.get("/total/1/2/3").text == "6"
    assert client.get("/total/1/x").text == INVALID.format("nums")


def test_kwargs_receive_unbound_query_and_body_fields(client_factory):
    class MyApp(App):
        async def kw(self, name, **extra):
            return {"name": name, "extra": extra}

    client = client_factory(MyApp())
    body = client.post("/kw?name=n&a=1", data={"b": "2"}).json()
    assert body == {"name": "n", "extra": {"a": "1", "b": "2"}}
    body = client.post("/kw/n", json={"count": 3, "ok": True}).json()
    assert body == {"name": "n", "extra": {"count": 3, "ok": True}}


def test_keyword_only_skips_path_segments(client_factory):
    class MyApp(App):
        async def kw(self, *, name="none"):
            return name

        async def req(self, *, name):
            return name

    client = client_factory(MyApp())
    assert client.get("/kw/segment").status_code == 404
    assert client.get("/kw?name=q").text == "q"
    assert client.post("/kw", data={"name": "f"}).text == "f"
    response = client.get("/req/segment")
    assert response.status_code == 404
    assert client.get("/req").text == MISSING.format("name")


def test_session_values_never_bind(client_factory):
    class MyApp(App):
        async def login(self):
            self.request.session["user"] = "admin"
            return "ok"

        async def whoami(self, user="anonymous"):
            return user

    client = client_factory(MyApp())
    client.get("/login")
    assert client.get("/whoami").text == "anonymous"
    assert client.get("/whoami?user=q").text == "q"


CONVERSIONS = [
    (int, "42", 42),
    (float, "2.5", 2.5),
    (bool, "true", True),
    (bool, "0", False),
    (str, "text", "text"),
    (bytes, "abc", "b'abc'"),
    (list[int], "7", [7]),
    (Optional[int], "5", 5),  # noqa: UP045 - the spelling under test
    (int | None, "5", 5),
    (uuid.UUID, "12345678-1234-5678-1234-567812345678", "12345678-1234-5678-1234-567812345678"),
    (datetime.date, "2024-02-29", "2024-02-29"),
    (datetime.datetime, "2024-02-29T10:30:00", "2024-02-29T10:30:00"),
]


def _typed_app(annotation):
    class MyApp(App):
        async def conv(self, value):
            if isinstance(value, bytes):
                return {"value": repr(value), "type": "bytes"}
            if isinstance(value, uuid.UUID | datetime.date):
                return {"value": value.isoformat() if hasattr(value, "isoformat") else str(value),
                        "type": type(value).__name__}  # fmt: skip
            return {"value": value, "type": type(value).__name__}

    MyApp.conv.__annotations__["value"] = annotation  # a real object, not a string
    return MyApp()


@pytest.mark.parametrize(("annotation", "raw", "expected"), CONVERSIONS)
@pytest.mark.parametrize("source", ["path", "query", "form"])
def test_annotation_converts(client_factory, annotation, raw, expected, source):
    client = client_factory(_typed_app(annotation))
    if source == "path":
        response = client.get(f"/conv/{raw}")
    elif source == "query":
        response = client.get("/conv", params={"value": raw})
    else:
        response = client.post("/conv", data={"value": raw})
    assert response.status_code == 200, response.text
    assert response.json()["value"] == expected


@pytest.mark.parametrize(
    ("annotation", "expected_type"),
    [(int, "int"), (float, "float"), (bool, "bool"), (uuid.UUID, "UUID"),
     (datetime.date, "date"), (datetime.datetime, "datetime"), (list[int], "list"),
     (Optional[int], "int"), (int | None, "int"), (str, "str"), (bytes, "bytes")],  # noqa: UP045
)  # fmt: skip
def test_annotation_gives_the_type(client_factory, annotation, expected_type):
    raw = dict((a, r) for a, r, _ in CONVERSIONS)[annotation]
    response = client_factory(_typed_app(annotation)).get("/conv", params={"value": raw})
    assert response.json()["type"] == expected_type


@pytest.mark.parametrize(
    ("annotation", "raw"),
    [(int, "abc"), (int, "1.5"), (float, "x"), (bool, "maybe"), (list[int], "x"),
     (Optional[int], "x"), (int | None, "x"), (uuid.UUID, "nope"),  # noqa: UP045
     (datetime.date, "2024-13-01"), (datetime.datetime, "yesterday")],
)  # fmt: skip
def test_annotation_rejects_with_400_invalid(client_factory, annotation, raw):
    response = client_factory(_typed_app(annotation)).get("/conv", params={"value": raw})
    assert (response.status_code, response.text) == (400, INVALID.format("value"))


def test_list_annotation_takes_all_query_values(client_factory):
    class MyApp(App):
        async def nums(self, n: list[int]):
            return n

    assert client_factory(MyApp()).get("/nums?n=1&n=2&n=3").json() == [1, 2, 3]


def test_optional_default_none_when_absent(client_factory):
    class MyApp(App):
        async def opt(self, n: int | None = None):
            return {"n": n}

    client = client_factory(MyApp())
    assert client.get("/opt").json() == {"n": None}
    assert client.get("/opt?n=4").json() == {"n": 4}


def test_json_value_converted_by_annotation(client_factory):
    class MyApp(App):
        async def j(self, n: int, when: datetime.date):
            return [n, type(n).__name__, when.isoformat()]

    response = client_factory(MyApp()).post("/j", json={"n": 3, "when": "2024-01-02"})
    assert response.json() == [3, "int", "2024-01-02"]


def test_json_value_wrong_type_is_400(client_factory):
    class MyApp(App):
        async def j(self, n: int):
            return n

    response = client_factory(MyApp()).post("/j", json={"n": {"nested": 1}})
    assert (response.status_code, response.text) == (400, INVALID.format("n"))


def test_no_annotation_passes_value_as_received(client_factory):
    class MyApp(App):
        async def raw(self, a, b):
            return [type(a).__name__, type(b).__name__]

    assert client_factory(MyApp()).get("/raw/1?b=2").json() == ["str", "str"]


def test_sync_handler_runs_in_worker_thread(client_factory):
    class MyApp(App):
        def sync(self):
            main = threading.current_thread() is threading.main_thread()
            return {"main": main, "method": self.request.method}

    assert client_factory(MyApp()).get("/sync").json() == {"main": False, "method": "GET"}


def test_sync_handler_thread_differs_from_event_loop_thread(client_factory):
    class LoopThread(HttpMiddleware):
        async def before_request(self, request):
            request.loop_thread = threading.get_ident()

    class MyApp(App):
        def sync(self, x):
            off_loop = threading.get_ident() != self.request.loop_thread
            return f"{self.request.method} {self.request.query('q')} {x} {off_loop}"

    app = MyApp()
    app.middlewares.append(LoopThread())
    assert client_factory(app).get("/sync/1?q=2").text == "GET 2 1 True"


def test_request_available_in_async_handler(client_factory):
    class MyApp(App):
        async def a(self):
            return f"{self.request.method} {self.request.query('q')}"

    assert client_factory(MyApp()).post("/a?q=v").text == "POST v"


def test_bound_method_partial_and_callable_object_on_instance(client_factory):
    import functools

    class Greeter:
        def __call__(self, name):
            return f"obj {name}"

    app = App()
    app.obj = Greeter()
    app.part = functools.partial(lambda greeting, name: f"{greeting} {name}", "hey")
    client = client_factory(app)
    assert client.get("/obj/x").text == "obj x"
    assert client.get("/part/x").text == "hey x"


@pytest.mark.parametrize(
    ("annotation", "value", "expected"),
    [
        (list[int], [1, 2], [1, 2]),
        (list[str], ["a", "b"], ["a", "b"]),
        (Optional[int], None, None),  # noqa: UP045
        (int | None, None, None),
        (bool, True, True),
        (float, 2, 2.0),
        (str, "s", "s"),
        (datetime.date, "2024-01-31", "2024-01-31"),
    ],
)
def test_json_values_convert_by_annotation(client_factory, annotation, value, expected):
    response = client_factory(_typed_app(annotation)).post("/conv", json={"value": value})
    assert (response.status_code, response.json()["value"]) == (200, expected)


@pytest.mark.parametrize(
    ("annotation", "value"),
    [(int, "x"), (int, True), (bool, "maybe"), (list[int], ["a"]), (uuid.UUID, 5)],
)
def test_json_values_that_do_not_convert_are_400(client_factory, annotation, value):
    response = client_factory(_typed_app(annotation)).post("/conv", json={"value": value})
    assert (response.status_code, response.text) == (400, INVALID.format("value"))


@pytest.mark.parametrize(("annotation", "expected"), [(int | None, None), (str, "")])
def test_blank_query_value(client_factory, annotation, expected):
    response = client_factory(_typed_app(annotation)).get("/conv?value=")
    assert (response.status_code, response.json()["value"]) == (200, expected)


def test_blank_query_value_for_int_is_400(client_factory):
    response = client_factory(_typed_app(int)).get("/conv?value=")
    assert (response.status_code, response.text) == (400, INVALID.format("value"))


def test_list_from_form_and_path(client_factory):
    class MyApp(App):
        async def tags(self, tag: list[int]):
            return tag

    client = client_factory(MyApp())
    assert client.post("/tags", data={"tag": ["1", "2"]}).json() == [1, 2]
    assert client.get("/tags/5").json() == [5]


def test_keyword_only_list_and_kwargs_first_value(client_factory):
    class MyApp(App):
        async def kw(self, *, ids: list[int] = [], **rest):
            return {"ids": ids, "rest": rest}

    response = client_factory(MyApp()).get("/kw?ids=1&ids=2&x=a&x=b")
    assert response.json() == {"ids": [1, 2], "rest": {"x": "a"}}


def test_kwargs_do_not_receive_bound_or_non_identifier_names(client_factory):
    class MyApp(App):
        async def kw(self, a, **rest):
            return rest

    response = client_factory(MyApp()).get("/kw?a=1&b=2&not-valid=3")
    assert response.json() == {"b": "2"}


def test_request_usable_inside_sync_generator(client_factory):
    class MyApp(App):
        def stream(self):
            yield self.request.query("q", "none")
            yield threading.current_thread() is threading.main_thread() and "main" or "-worker"

    assert client_factory(MyApp()).get("/stream?q=v").text == "v-worker"


def test_request_usable_inside_async_generator(client_factory):
    class MyApp(App):
        async def stream(self):
            yield "a"
            yield self.request.query("q")

    assert client_factory(MyApp()).get("/stream?q=z").text == "az"


def test_positional_converted_then_default(client_factory):
    class MyApp(App):
        async def page(self, number: int = 1, size: int = 10):
            return [number, size]

    client = client_factory(MyApp())
    assert client.get("/page").json() == [1, 10]
    assert client.get("/page/3").json() == [3, 10]
    assert client.get("/page/3?size=5").json() == [3, 5]
    assert client.get("/page/3/4").json() == [3, 4]


def test_multipart_text_fields_bind_like_form(client_factory):
    class MyApp(App):
        async def up(self, title, doc, count: int = 0):
            return [title, doc.filename, count]

    response = client_factory(MyApp()).post(
        "/up", data={"title": "t", "count": "2"}, files={"doc": ("d.bin", b"x")}
    )
    assert response.json() == ["t", "d.bin", 2]


def test_kwargs_query_wins_over_body(client_factory):
    class MyApp(App):
        async def kw(self, **rest):
            return rest

    response = client_factory(MyApp()).post("/kw?a=query", data={"a": "form", "b": "form"})
    assert response.json() == {"a": "query", "b": "form"}


def test_json_with_vendor_media_type_binds(client_factory):
    class MyApp(App):
        async def j(self, n):
            return [n]

    response = client_factory(MyApp()).post(
        "/j", content=b'{"n": 5}', headers={"Content-Type": "application/vnd.api+json"}
    )
    assert response.json() == [5]


def test_json_null_binds_none_over_default(client_factory):
    class MyApp(App):
        async def j(self, n="default"):
            return [n]

    assert client_factory(MyApp()).post("/j", json={"n": None}).json() == [None]


# -- annotations a typed-API user writes: Enum, Literal, Annotated constraints, Request --


class TypedParams(App):
    async def pick(
        self,
        colour: Colour = Colour.RED,
        level: Level = Level.LOW,
        mode: Literal["a", "b"] = "a",
        limit: Annotated[int, Field(ge=1, le=100)] = 10,
        name: Annotated[str, msgspec.Meta(min_length=2)] = "ab",
        ratio: Annotated[float, annotated_types.Gt(0)] | None = None,
    ):
        values = (colour, level, mode, limit, name, ratio)
        return {"values": [repr(v) for v in values]}

    async def request_in(self, request: Request, x: int = 1):
        return {"path": request.url.path, "x": x}

    async def starlette_request_in(self, request: StarletteRequest):
        return {"type": type(request).__name__, "ua": request.headers["user-agent"]}

    def optional_request(self, name, req: Request | None = None):
        return {"name": name, "path": req.url.path if req is not None else None}


def test_enum_literal_and_annotated_parameters_convert(client_factory):
    client = client_factory(TypedParams())
    answer = client.get("/pick?colour=green&level=2&mode=b&limit=100&name=xyz&ratio=0.5")
    assert answer.json()["values"] == [
        "<Colour.GREEN: 'green'>",
        "<Level.HIGH: 2>",
        "'b'",
        "100",
        "'xyz'",
        "0.5",
    ]
    defaults = client.get("/pick").json()["values"]
    assert defaults == ["<Colour.RED: 'red'>", "<Level.LOW: 1>", "'a'", "10", "'ab'", "None"]


def test_enum_and_literal_values_keep_their_json_type(client_factory):
    client = client_factory(TypedParams())
    answer = client.post("/pick", json={"level": 2, "mode": "b", "limit": 3})
    assert answer.json()["values"][1:4] == ["<Level.HIGH: 2>", "'b'", "3"]


@pytest.mark.parametrize(
    ("query", "name", "why"),
    [
        ("colour=blue", "colour", "Input should be 'red' or 'green'"),
        ("level=9", "level", "Input should be 1 or 2"),
        ("level=true", "level", "Input should be 1 or 2"),
        ("mode=z", "mode", "Input should be 'a' or 'b'"),
        ("limit=0", "limit", "Input should be greater than or equal to 1"),
        ("limit=101", "limit", "Input should be less than or equal to 100"),
        ("name=a", "name", "Expected `str` of length >= 2"),
        ("ratio=0", "ratio", "Input should be greater than 0"),
        ("ratio=-1", "ratio", "Input should be greater than 0"),
        ("ratio=nan", "ratio", "Input should be greater than 0"),
    ],
)
def test_values_outside_an_enum_literal_or_constraint_answer_400_naming_the_limit(
    client_factory, query, name, why
):
    answer = client_factory(TypedParams()).get(f"/pick?{query}")
    assert (answer.status_code, answer.text) == (400, f"{INVALID.format(name)}: {why}")


def test_a_value_of_the_wrong_type_keeps_the_plain_400(client_factory):
    answer = client_factory(TypedParams()).get("/pick?limit=x")
    assert (answer.status_code, answer.text) == (400, INVALID.format("limit"))


def test_json_values_outside_the_constraints_answer_400(client_factory):
    client = client_factory(TypedParams())
    bodies = [
        ({"level": True}, "level", ": Input should be 1 or 2"),
        ({"limit": [1]}, "limit", ""),
        ({"mode": 1}, "mode", ": Input should be 'a' or 'b'"),
        ({"limit": 1000}, "limit", ": Input should be less than or equal to 100"),
    ]
    for body, name, why in bodies:
        answer = client.post("/pick", json=body)
        assert (answer.status_code, answer.text) == (400, INVALID.format(name) + why)


def test_json_errors_detail_names_the_limit(client_factory):
    answer = client_factory(TypedParams(json_errors=True)).get("/pick?limit=0")
    detail = "Invalid value for parameter 'limit': Input should be greater than or equal to 1"
    assert (answer.status_code, answer.json()) == (400, {"detail": detail})


def test_a_request_annotated_parameter_receives_the_request(client_factory):
    client = client_factory(TypedParams())
    assert client.get("/request_in").json() == {"path": "/request_in", "x": 1}
    # the client cannot send it: ?request= is not bound to it, a path segment goes on
    assert client.get("/request_in/5?request=evil").json() == {"path": "/request_in/5", "x": 5}
    starlette = client.get("/starlette_request_in").json()
    assert starlette == {"type": "Request", "ua": "testclient"}
    assert client.get("/optional_request/x?req=1").json() == {
        "name": "x",
        "path": "/optional_request/x",
    }
    assert client.get("/optional_request/x/y").status_code == 404


# -- unions: what the handler receives is the type the document names -----------------


class Unions(App):
    async def size(self, n: int | float):
        return {"n": n, "type": type(n).__name__}

    async def limit(self, limit: Literal["all"] | int = 10):
        return {"limit": limit}

    async def either(self, x: int | str | None = None):
        return {"x": x, "type": type(x).__name__}


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/size/2", {"n": 2, "type": "int"}),
        ("/size?n=1.5", {"n": 1.5, "type": "float"}),
        ("/limit?limit=all", {"limit": "all"}),
        ("/limit?limit=5", {"limit": 5}),
        ("/limit", {"limit": 10}),
        ("/either?x=3", {"x": "3", "type": "str"}),  # a text stays text when str is a member
        ("/either?x=", {"x": None, "type": "NoneType"}),
    ],
)
def test_a_union_parameter_is_converted_to_the_first_member_that_takes_it(
    client_factory, url, expected
):
    """As Pydantic's smart mode: ``?n=1.5`` for ``int | float`` is the number 1.5 (it was
    the text '1.5', contradicting the documented anyOf integer/number)."""
    assert client_factory(Unions()).get(url).json() == expected


def test_a_union_keeps_a_json_value_of_a_member_type_and_refuses_the_rest(client_factory):
    client = client_factory(Unions())
    assert client.post("/size", json={"n": 2.5}).json() == {"n": 2.5, "type": "float"}
    assert client.post("/either", json={"x": 4}).json() == {"x": 4, "type": "int"}
    for url in ("/size?n=x", "/limit?limit=some"):
        answer = client.get(url)
        name = url.split("?")[1].split("=")[0]
        assert (answer.status_code, answer.text) == (400, INVALID.format(name))


def test_query_params_a_hook_assigned_are_bound(client_factory):
    class Rewrite(HttpMiddleware):
        async def before_request(self, request):
            request.query_params = {"value": ["from the hook"]}

    app = EchoApp()
    app.middlewares.append(Rewrite())
    assert client_factory(app).get("/echo?value=sent").json()["value"] == "from the hook"
