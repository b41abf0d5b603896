"""SPEC §3: what each handler return value is answered with."""

from __future__ import annotations

import logging

import pytest
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse

from micropie import App

HTML = "text/html; charset=utf-8"


def _app_returning(value):
    class MyApp(App):
        async def r(self):
            return value() if callable(value) else value

    return MyApp()


@pytest.mark.parametrize(
    ("value", "status", "content", "ctype"),
    [
        ("héllo", 200, "héllo".encode(), HTML),
        (b"raw", 200, b"raw", HTML),
        ("", 200, b"", HTML),
        ({"a": 1}, 200, b'{"a":1}', "application/json"),
        ([1, "x"], 200, b'[1,"x"]', "application/json"),
        ({}, 200, b"{}", "application/json"),
        ([], 200, b"[]", "application/json"),
        (42, 200, b"42", HTML),
        (1.5, 200, b"1.5", HTML),
        (True, 200, b"True", HTML),
        ((201, "made"), 201, b"made", HTML),
        ((202, {"ok": True}), 202, b'{"ok":true}', "application/json"),
        ((418, b"teapot", [("X-A", "1")]), 418, b"teapot", HTML),
    ],
)
def test_return_table(client_factory, value, status, content, ctype):
    response = client_factory(_app_returning(value)).get("/r")
    assert response.status_code == status
    assert response.content == content
    assert response.headers["content-type"] == ctype


def test_none_is_204_without_body(client_factory):
    response = client_factory(_app_returning(None)).get("/r")
    assert (response.status_code, response.content) == (204, b"")
    assert "content-type" not in response.headers


def test_object_with_str_is_sent_as_text(client_factory):
    class Thing:
        def __str__(self):
            return "a thing"

    response = client_factory(_app_returning(Thing())).get("/r")
    assert (response.text, response.headers["content-type"]) == ("a thing", HTML)


def test_sync_handler_return_values(client_factory):
    class MyApp(App):
        def text(self):
            return "sync text"

        def data(self):
            return {"sync": True}

    client = client_factory(MyApp())
    assert client.get("/text").text == "sync text"
    assert client.get("/data").json() == {"sync": True}


@pytest.mark.parametrize(
    "headers",
    [
        [("X-One", "1"), ("X-Two", "2")],
        {"X-One": "1", "X-Two": "2"},
        (("X-One", "1"), ("X-Two", "2")),
    ],
)
def test_tuple_headers_list_or_dict(client_factory, headers):
    response = client_factory(_app_returning((200, "ok", headers))).get("/r")
    assert response.headers["x-one"] == "1"
    assert response.headers["x-two"] == "2"


def test_repeated_headers_are_all_sent(client_factory):
    value = (200, "ok", [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")])
    response = client_factory(_app_returning(value)).get("/r")
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("text/plain", "text/plain"),
        ("application/xml; charset=latin-1", "application/xml; charset=latin-1"),
    ],
)
def test_content_type_from_headers_wins(client_factory, given, expected):
    response = client_factory(_app_returning((200, "x", {"Content-Type": given}))).get("/r")
    assert response.headers.get_list("content-type") == [expected]


def test_content_type_header_case_insensitive(client_factory):
    value = (200, {"a": 1}, [("content-TYPE", "application/vnd.api+json")])
    response = client_factory(_app_returning(value)).get("/r")
    assert response.headers.get_list("content-type") == ["application/vnd.api+json"]
    assert response.json() == {"a": 1}


def test_content_length_matches_body(client_factory):
    response = client_factory(_app_returning("héllo")).get("/r")
    assert response.headers["content-length"] == str(len("héllo".encode()))


def test_non_ascii_json_is_utf8(client_factory):
    response = client_factory(_app_returning({"name": "Zoë ☃"})).get("/r")
    assert response.json() == {"name": "Zoë ☃"}


def test_sync_generator_streamed(client_factory):
    class MyApp(App):
        def stream(self):
            yield "a"
            yield b"b"
            yield "c"

    response = client_factory(MyApp()).get("/stream")
    assert (response.status_code, response.text) == (200, "abc")
    assert response.headers["content-type"] == HTML
    assert "content-length" not in response.headers


def test_async_generator_streamed(client_factory):
    class MyApp(App):
        async def stream(self):
            for i in range(3):
                yield f"chunk {i}\n"

    assert client_factory(MyApp()).get("/stream").text == "chunk 0\nchunk 1\nchunk 2\n"


def test_returned_generator_objects_streamed(client_factory):
    """The seeds' style: a handler returns a generator it created."""

    class MyApp(App):
        async def agen(self):
            async def gen():
                yield "x"
                yield "y"

            return gen()

        async def sgen(self):
            return (str(i) for i in range(3))

    client = client_factory(MyApp())
    assert client.get("/agen").text == "xy"
    assert client.get("/sgen").text == "012"


def test_other_iterable_streamed(client_factory):
    response = client_factory(_app_returning(("a", "b", "c"))).get("/r")
    assert response.text == "abc"


def test_streamed_tuple_with_status_and_headers(client_factory):
    class MyApp(App):
        async def sse(self):
            async def events():
                yield "data: one\n\n"

            return 200, events(), [("Content-Type", "text/event-stream")]

    response = client_factory(MyApp()).get("/sse")
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.text == "data: one\n\n"


@pytest.mark.parametrize(
    ("make", "status", "header", "value"),
    [
        (lambda: PlainTextResponse("plain", status_code=203), 203, "content-type",
         "text/plain; charset=utf-8"),
        (lambda: JSONResponse({"j": 1}, headers={"X-J": "y"}), 200, "x-j", "y"),
        (lambda: RedirectResponse("/elsewhere"), 307, "location", "/elsewhere"),
        (lambda: RedirectResponse("/moved", status_code=301), 301, "location", "/moved"),
    ],
)  # fmt: skip
def test_starlette_response_passed_through(client_factory, make, status, header, value):
    response = client_factory(_app_returning(make)).get("/r", follow_redirects=False)
    assert response.status_code == status
    assert response.headers[header] == value


def test_file_response_passed_through(client_factory, tmp_path):
    path = tmp_path / "report.txt"
    path.write_text("file body")

    class MyApp(App):
        async def download(self):
            return FileResponse(path, filename="report.txt")

        def sync_download(self):
            return FileResponse(path)

    client = client_factory(MyApp())
    response = client.get("/download")
    assert (response.status_code, response.text) == (200, "file body")
    assert response.headers["content-type"].startswith("text/plain")
    assert "report.txt" in response.headers["content-disposition"]
    assert client.get("/sync_download").text == "file body"


def test_file_response_supports_range(client_factory, tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"0123456789")
    response = client_factory(_app_returning(lambda: FileResponse(path))).get(
        "/r", headers={"Range": "bytes=2-4"}
    )
    assert (response.status_code, response.content) == (206, b"234")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Bad", "a\r\nSet-Cookie: evil=1"),
        ("X-Bad", "line\nbreak"),
        ("X-Bad\r\nInjected", "v"),
        ("X-Bad", "carriage\rreturn"),
    ],
)
def test_header_with_cr_or_lf_is_dropped_and_logged(client_factory, caplog, name, value):
    caplog.set_level(logging.WARNING, logger="micropie")
    response = client_factory(_app_returning((200, "ok", [(name, value), ("X-Good", "1")]))).get(
        "/r"
    )
    assert response.status_code == 200
    assert response.headers["x-good"] == "1"
    assert "x-bad" not in response.headers
    assert "set-cookie" not in response.headers
    assert "injected" not in response.headers
    assert any(r.name == "micropie" for r in caplog.records)


def test_header_with_cr_lf_dropped_on_stream_and_starlette_response(client_factory, caplog):
    caplog.set_level(logging.WARNING, logger="micropie")

    class MyApp(App):
        async def stream(self):
            return 200, iter(["s"]), [("X-Bad", "a\nb"), ("X-Ok", "1")]

        async def resp(self):
            return 200, PlainTextResponse("p"), [("X-Bad", "a\rb"), ("X-Ok", "1")]

    client = client_factory(MyApp())
    for path in ("/stream", "/resp"):
        response = client.get(path)
        assert "x-bad" not in response.headers
        assert response.headers["x-ok"] == "1"
    assert len([r for r in caplog.records if r.name == "micropie"]) >= 2


def test_json_not_serialisable_is_500(client_factory, caplog):
    response = client_factory(
        _app_returning(lambda: {"obj": object()}), raise_server_exceptions=False
    ).get("/r")
    assert response.status_code == 500


@pytest.mark.parametrize(
    ("value", "status", "content"),
    [
        ((304, "ignored"), 304, b""),
        ((204, "ignored"), 204, b""),
        ((304, b"ignored"), 304, b""),
        ((204, {"a": 1}), 204, b""),
        ((200, None), 200, b""),
        ((200, "x", None), 200, b"x"),
        ((500, "custom"), 500, b"custom"),
        (bytearray(b"ba"), 200, b"ba"),
    ],
)
def test_status_tuple_edge_cases(client_factory, value, status, content):
    response = client_factory(_app_returning(value)).get("/r")
    assert (response.status_code, response.content) == (status, content)


def test_stream_of_json_chunks(client_factory):
    class MyApp(App):
        async def lines(self):
            yield {"n": 1}
            yield [2]

    assert client_factory(MyApp()).get("/lines").text == '{"n":1}[2]'


def test_head_on_file_response_has_no_body(client_factory, tmp_path):
    path = tmp_path / "f.txt"
    path.write_text("12345")
    response = client_factory(_app_returning(lambda: FileResponse(path))).head("/r")
    assert (response.status_code, response.content) == (200, b"")
    assert response.headers["content-length"] == "5"


def test_starlette_response_background_task_runs(client_factory):
    from starlette.background import BackgroundTask

    done: list[str] = []

    class MyApp(App):
        async def r(self):
            return PlainTextResponse("ok", background=BackgroundTask(done.append, "bg"))

    assert client_factory(MyApp()).get("/r").text == "ok"
    assert done == ["bg"]


def test_tuple_headers_added_to_starlette_response(client_factory):
    value = (200, PlainTextResponse("p"), [("X-Extra", "1")])
    response = client_factory(_app_returning(value)).get("/r")
    assert (response.text, response.headers["x-extra"]) == ("p", "1")


def test_json_with_integers_beyond_64_bits(client_factory):
    class MyApp(App):
        async def big(self):
            return {"n": 2**70}

    assert client_factory(MyApp()).get("/big").json() == {"n": 2**70}
