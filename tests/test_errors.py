"""SPEC §4: error statuses and bodies, exception handlers and debug mode."""

from __future__ import annotations

import importlib.util
import logging

import pytest
from starlette.exceptions import HTTPException
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse, PlainTextResponse

import micropie
from micropie import App


class Boom(App):
    async def boom(self):
        raise RuntimeError("kaboom")

    def sync_boom(self):
        raise RuntimeError("sync kaboom")

    async def value(self):
        raise ValueError("bad value")

    async def teapot(self):
        raise HTTPException(418, "I am a teapot")

    async def plain_http(self):
        raise HTTPException(403)

    async def with_headers(self):
        raise HTTPException(401, "login", headers={"WWW-Authenticate": "Basic"})

    async def echo(self, n: int):
        return str(n)

    async def stream_boom(self):
        async def gen():
            yield "start"
            raise RuntimeError("mid-stream")

        return gen()


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "body"),
    [
        ("GET", "/nothing", {}, 404, "404 Not Found"),
        ("GET", "/echo", {}, 400, "400 Bad Request: Missing required parameter 'n'"),
        ("GET", "/echo/x", {}, 400, "400 Bad Request: Invalid value for parameter 'n'"),
        ("POST", "/echo", {"content": b"{bad", "headers": {"Content-Type": "application/json"}},
         400, "400 Bad Request: Bad JSON"),
        ("GET", "/teapot", {}, 418, "I am a teapot"),
        ("GET", "/plain_http", {}, 403, "Forbidden"),
        ("GET", "/boom", {}, 500, "500 Internal Server Error"),
        ("GET", "/sync_boom", {}, 500, "500 Internal Server Error"),
    ],
)  # fmt: skip
def test_error_table(client_factory, method, path, kwargs, status, body):
    client = client_factory(Boom(), raise_server_exceptions=False)
    response = client.request(method, path, **kwargs)
    assert (response.status_code, response.text) == (status, body)


def test_bad_json_on_handler_without_params_is_400(client_factory):
    class MyApp(App):
        async def plain(self):
            return "ok"

    response = client_factory(MyApp()).post(
        "/plain", content=b"[1,", headers={"Content-Type": "application/json"}
    )
    assert (response.status_code, response.text) == (400, "400 Bad Request: Bad JSON")


@pytest.mark.skipif(
    importlib.util.find_spec("micropie.uploads") is None, reason="micropie.uploads not written yet"
)
@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data", b"--x\r\n"),
        ("multipart/form-data; boundary=abc", b"not multipart at all"),
    ],
)
def test_malformed_multipart_is_400_saying_what(client_factory, content_type, body):
    class MyApp(App):
        async def up(self, f=None):
            return "ok"

    response = client_factory(MyApp(), raise_server_exceptions=False).post(
        "/up", content=body, headers={"Content-Type": content_type}
    )
    assert response.status_code == 400
    assert response.text.startswith("400 Bad Request: ")
    assert len(response.text) > len("400 Bad Request: ")


def test_http_exception_headers_kept(client_factory):
    response = client_factory(Boom()).get("/with_headers")
    assert (response.status_code, response.text) == (401, "login")
    assert response.headers["www-authenticate"] == "Basic"


def test_micropie_http_exception_is_starlettes():
    assert micropie.HTTPException is HTTPException


def test_body_over_max_body_size_is_413(client_factory):
    class MyApp(App):
        async def post(self, data="x"):
            return "ok"

    client = client_factory(MyApp(max_body_size=10))
    assert client.post("/post", data={"data": "ab"}).text == "ok"
    for kwargs in ({"data": {"data": "x" * 50}}, {"json": {"data": "x" * 50}}):
        response = client.post("/post", **kwargs)
        assert (response.status_code, response.text) == (413, "413 Payload Too Large")


def test_any_body_over_max_body_size_is_413(client_factory):
    class MyApp(App):
        async def post(self):
            return "ok"

    response = client_factory(MyApp(max_body_size=10)).post(
        "/post", content=b"x" * 50, headers={"Content-Type": "application/octet-stream"}
    )
    assert (response.status_code, response.text) == (413, "413 Payload Too Large")


def test_raw_body_read_over_limit_is_413(client_factory):
    class MyApp(App):
        async def post(self):
            return str(len(await self.request.body()))

    client = client_factory(MyApp(max_body_size=10))
    headers = {"Content-Type": "application/octet-stream"}
    assert client.post("/post", content=b"x" * 5, headers=headers).text == "5"
    response = client.post("/post", content=b"x" * 50, headers=headers)
    assert (response.status_code, response.text) == (413, "413 Payload Too Large")


def test_chunked_body_over_limit_is_413(client_factory):
    class MyApp(App):
        async def post(self, data="x"):
            return "ok"

    def chunks():
        for _ in range(10):
            yield b"a" * 10

    response = client_factory(MyApp(max_body_size=50)).post(
        "/post", content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert (response.status_code, response.text) == (413, "413 Payload Too Large")


def test_handler_error_logged_not_printed(client_factory, caplog, capsys):
    caplog.set_level(logging.ERROR, logger="micropie")
    response = client_factory(Boom(), raise_server_exceptions=False).get("/boom")
    assert response.status_code == 500
    records = [r for r in caplog.records if r.name == "micropie"]
    assert records and records[0].exc_info is not None
    assert "kaboom" in caplog.text and "Traceback" in caplog.text
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "kaboom" not in captured.err


def test_sync_handler_error_logged(client_factory, caplog):
    caplog.set_level(logging.ERROR, logger="micropie")
    client_factory(Boom(), raise_server_exceptions=False).get("/sync_boom")
    assert "sync kaboom" in caplog.text


def test_error_inside_stream_is_logged_and_never_leaks(client_factory, caplog):
    caplog.set_level(logging.ERROR)
    client = client_factory(Boom(), raise_server_exceptions=False)
    try:
        response = client.get("/stream_boom")
    except Exception:  # a broken stream may surface as a transport error
        return
    assert "mid-stream" not in response.text


def test_exception_handler_for_status(client_factory):
    async def not_found(request, exc):
        assert isinstance(request, StarletteRequest)
        return JSONResponse({"missing": request.url.path}, status_code=404)

    client = client_factory(Boom(exception_handlers={404: not_found}))
    response = client.get("/nope")
    assert (response.status_code, response.json()) == (404, {"missing": "/nope"})


def test_exception_handler_for_400_binding(client_factory):
    def bad(request, exc):
        return PlainTextResponse(f"custom: {exc.detail}", status_code=422)

    response = client_factory(Boom(exception_handlers={400: bad})).get("/echo/x")
    assert response.status_code == 422
    assert response.text == "custom: 400 Bad Request: Invalid value for parameter 'n'"


def test_exception_handler_for_exception_class(client_factory):
    def on_value_error(request, exc):
        return PlainTextResponse(f"value: {exc}", status_code=409)

    client = client_factory(Boom(exception_handlers={ValueError: on_value_error}))
    response = client.get("/value")
    assert (response.status_code, response.text) == (409, "value: bad value")
    assert client.get("/teapot").status_code == 418


def test_exception_handler_for_base_class_catches_subclass(client_factory):
    class MyError(LookupError):
        pass

    class MyApp(App):
        async def go(self):
            raise MyError("deep")

    def on_lookup(request, exc):
        return PlainTextResponse(type(exc).__name__, status_code=410)

    response = client_factory(MyApp(exception_handlers={LookupError: on_lookup})).get("/go")
    assert (response.status_code, response.text) == (410, "MyError")


def test_exception_handler_for_500(client_factory):
    async def on_500(request, exc):
        return PlainTextResponse(f"sorry: {exc}", status_code=500)

    client = client_factory(Boom(exception_handlers={500: on_500}), raise_server_exceptions=False)
    response = client.get("/boom")
    assert (response.status_code, response.text) == (500, "sorry: kaboom")


def test_exception_handler_for_exception(client_factory):
    async def on_any(request, exc):
        return PlainTextResponse("any", status_code=503)

    client = client_factory(
        Boom(exception_handlers={Exception: on_any}), raise_server_exceptions=False
    )
    assert client.get("/sync_boom").status_code == 503


def test_exception_handler_for_418_http_exception(client_factory):
    def on_418(request, exc):
        return PlainTextResponse("brewed", status_code=418)

    assert client_factory(Boom(exception_handlers={418: on_418})).get("/teapot").text == "brewed"


def test_debug_shows_starlette_traceback_page(client_factory):
    client = client_factory(Boom(debug=True), raise_server_exceptions=False)
    response = client.get("/boom", headers={"Accept": "text/html"})
    assert response.status_code == 500
    assert "text/html" in response.headers["content-type"]
    assert "RuntimeError" in response.text and "kaboom" in response.text
    assert "Traceback" in response.text


def test_debug_plain_text_traceback(client_factory):
    client = client_factory(Boom(debug=True), raise_server_exceptions=False)
    response = client.get("/sync_boom", headers={"Accept": "text/plain"})
    assert response.status_code == 500
    assert "sync kaboom" in response.text


def test_debug_raises_through_testclient(client_factory):
    client = client_factory(Boom(debug=True))
    with pytest.raises(RuntimeError, match="kaboom"):
        client.get("/boom")


def test_404_for_unknown_method_on_unknown_path(client_factory):
    response = client_factory(Boom()).delete("/nowhere")
    assert (response.status_code, response.text) == (404, "404 Not Found")


def test_errors_answered_as_plain_text(client_factory):
    client = client_factory(Boom(), raise_server_exceptions=False)
    for path in ("/nothing", "/echo", "/boom"):
        assert client.get(path).headers["content-type"].startswith("text/plain")


def test_body_not_received_in_time_is_408():
    import asyncio

    import httpx

    class MyApp(App):
        async def post(self, data="x"):
            return "ok"

    async def slow_body():
        yield b"data="
        await asyncio.sleep(1)
        yield b"late"

    async def main():
        transport = httpx.ASGITransport(app=MyApp(body_timeout=0.1))
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            headers = {"Content-Type": "application/x-www-form-urlencoded"}
            return await client.post("/post", content=slow_body(), headers=headers)

    response = asyncio.run(main())
    assert (response.status_code, response.text) == (
        408,
        "408 Request Timeout: Failed to receive body",
    )


def test_http_exception_from_sync_handler(client_factory):
    class MyApp(App):
        def gone(self):
            raise HTTPException(410, "gone away")

    response = client_factory(MyApp()).get("/gone")
    assert (response.status_code, response.text) == (410, "gone away")


def test_http_exception_from_middleware_hook(client_factory):
    class Deny(micropie.HttpMiddleware):
        async def before_request(self, request):
            raise HTTPException(401, "who are you")

    app = Boom()
    app.middlewares.append(Deny())
    response = client_factory(app).get("/echo/1")
    assert (response.status_code, response.text) == (401, "who are you")


def test_debug_keeps_http_exception_detail(client_factory):
    client = client_factory(Boom(debug=True))
    assert client.get("/teapot").text == "I am a teapot"
    # a path no handler takes: debug mode's 404 names the app's handlers
    assert client.get("/nothing").text.startswith("404 Not Found: no handler takes '/nothing'.")


def test_exception_handler_404_for_leftover_segments_and_405(client_factory):
    def custom(request, exc):
        return PlainTextResponse(f"custom {exc.status_code}", status_code=exc.status_code)

    class MyApp(App):
        @micropie.methods("POST")
        async def only(self):
            return "x"

    client = client_factory(MyApp(exception_handlers={404: custom, 405: custom}))
    assert client.post("/only/extra").text == "custom 404"
    assert client.get("/only").text == "custom 405"


def test_exception_handler_for_bad_json(client_factory):
    def custom(request, exc):
        return JSONResponse({"error": exc.detail}, status_code=400)

    response = client_factory(Boom(exception_handlers={400: custom})).post(
        "/echo", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.json() == {"error": "400 Bad Request: Bad JSON"}


def test_exception_handler_404_applies_to_mounted_static(client_factory, tmp_path):
    from starlette.staticfiles import StaticFiles

    def custom(request, exc):
        return PlainTextResponse("custom missing", status_code=404)

    app = App(exception_handlers={404: custom})
    app.mount("/static", StaticFiles(directory=tmp_path))
    assert client_factory(app).get("/static/none.css").text == "custom missing"


def test_max_body_size_none_is_unlimited(client_factory):
    class MyApp(App):
        async def post(self, data):
            return str(len(data))

    client = client_factory(MyApp(max_body_size=None))
    assert client.post("/post", data={"data": "x" * 100_000}).text == "100000"


def test_per_handler_limits_raise_the_app_limit(client_factory):
    class MyApp(App):
        @micropie.limits(max_body_size=1000)
        async def big(self, data):
            return str(len(data))

        async def small(self, data):
            return str(len(data))

    client = client_factory(MyApp(max_body_size=100))
    assert client.post("/big", data={"data": "x" * 500}).text == "500"
    assert client.post("/small", data={"data": "x" * 500}).status_code == 413


def test_413_announced_length_on_handler_without_parameters(client_factory):
    class MyApp(App):
        async def post(self):
            return "ok"

    response = client_factory(MyApp(max_body_size=10)).post("/post", data={"d": "x" * 100})
    assert (response.status_code, response.text) == (413, "413 Payload Too Large")


def test_413_on_unknown_path_with_big_body(client_factory):
    response = client_factory(App(max_body_size=10)).post("/nothing", data={"d": "x" * 100})
    assert response.status_code in (404, 413)


@pytest.mark.parametrize("json_errors", [False, True])
@pytest.mark.parametrize("detail", [{"field": "name", "problem": "too long"}, ["a", 1]])
def test_http_exception_with_a_structured_detail_answers_it_as_json(
    client_factory, json_errors, detail
):
    """FastAPI code raises ``HTTPException(400, detail={...})``: its status and the
    detail as JSON, never a 500 (the detail is neither text nor hashable)."""

    class Api(App):
        async def check(self):
            raise HTTPException(409, detail=detail)

    client = client_factory(Api(json_errors=json_errors))
    for _ in range(2):  # the second answer must not come from a broken cache
        response = client.get("/check")
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/json"
        assert response.json() == ({"detail": detail} if json_errors else detail)
