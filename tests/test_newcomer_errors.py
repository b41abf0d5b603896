"""Mistakes a newcomer makes are refused with a message that says what to write instead."""

from __future__ import annotations

import functools
import inspect
import logging

import pydantic
import pytest
from starlette.testclient import TestClient

from micropie import App, CSRFMiddleware, HttpMiddleware, Request, WebSocketMiddleware, methods
from micropie.sessions import CookieSessionBackend


def test_a_handler_without_self_names_the_fix():
    class Site(App):
        async def index():  # type: ignore[misc]
            return "hi"

    with pytest.raises(TypeError, match=r"'index' takes no 'self': .*async def index\(self"):
        Site()


def test_a_bare_methods_decorator_names_the_fix():
    with pytest.raises(TypeError, match=r'write @methods\("GET", "POST"\)'):

        class Site(App):
            @methods  # type: ignore[arg-type]
            async def index(self):
                return "hi"


def test_a_websocket_handler_without_its_websocket_names_the_fix():
    class Chat(App):
        async def ws_room(self):
            pass

    with pytest.raises(TypeError, match=r"'ws_room' takes no websocket: .*ws_room\(self, ws"):
        Chat()


def test_serving_the_class_instead_of_an_instance_names_the_fix():
    class Site(App):
        async def index(self):
            return "hi"

    with pytest.raises(TypeError, match=r"serve an instance, `app = Site\(\)`, not the class"):
        TestClient(Site).get("/")  # type: ignore[arg-type]


def test_a_returned_coroutine_says_to_await_it():
    class Site(App):
        async def _total(self):
            return 1

        async def index(self):
            return self._total()  # forgot await

    with pytest.raises(TypeError, match=r"returned a coroutine: await it"):
        TestClient(Site()).get("/")


@pytest.mark.parametrize("secret", [None, "", b"", [], ["old", ""]])
@pytest.mark.parametrize("owner", [CookieSessionBackend, CSRFMiddleware])
def test_a_missing_secret_key_says_how_to_make_one(owner, secret):
    """``os.environ.get("SECRET_KEY")`` without the variable set gives ``None``."""
    with pytest.raises(ValueError, match=r"needs a secret key.*export SECRET_KEY="):
        owner(secret)


def test_secret_keys_of_any_length_and_key_lists_are_taken():
    CookieSessionBackend("k")
    CookieSessionBackend(["old", "new"])
    CSRFMiddleware(b"k")
    with pytest.raises(TypeError, match="not int"):
        CookieSessionBackend(5)  # type: ignore[arg-type]


def test_a_returned_coroutine_says_to_await_it_with_a_return_annotation_too():
    class Site(App):
        async def _total(self) -> int:
            return 1

        async def index(self) -> int:
            return self._total()  # type: ignore[return-value]

    with pytest.raises(TypeError, match=r"returned a coroutine: await it"):
        TestClient(Site()).get("/")


def test_a_sync_handler_returning_a_coroutine_is_told_to_be_async_and_which_call():
    class Site(App):
        async def _total(self):
            return 1

        def index(self):
            return self._total()  # a plain def cannot await it

    with pytest.raises(
        TypeError, match=r"in an `async def` handler .*it returned Site._total\(\) unawaited"
    ):
        TestClient(Site()).get("/")


@pytest.mark.parametrize(
    ("returned", "fix"),
    [
        (("Not found", 404), "`return 404, body`"),
        ((b"gone", 410), "`return 410, body`"),
        (({"id": 1}, 201, {"x-id": "1"}), "`return 201, body, headers`"),
    ],
)
def test_flasks_body_then_status_tuple_names_micropies_order(returned, fix):
    """Flask's ``return "Not found", 404`` was streamed as ``Not found404`` with 200."""

    class Site(App):
        async def index(self):
            return returned

    with pytest.raises(TypeError, match=r"puts the status first.*" + fix.replace("`", "`")):
        TestClient(Site()).get("/")
    answer = TestClient(Site(), raise_server_exceptions=False).get("/")
    assert answer.status_code == 500


def test_a_tuple_of_chunks_still_streams():
    class Site(App):
        async def index(self):
            return ("a", "b", "c")

        async def pair(self):
            return ("a", "b")

    client = TestClient(Site())
    assert client.get("/").text == "abc"
    assert client.get("/pair").text == "ab"


def test_a_missing_template_says_where_it_was_looked_for_and_how_to_point_elsewhere(
    tmp_path, monkeypatch, caplog
):
    """Jinja2 said only "'home.html' not found in search path: 'templates'"."""
    monkeypatch.chdir(tmp_path)
    caplog.set_level(logging.ERROR, logger="micropie")

    class Site(App):
        async def index(self):
            return await self._render_template("home.html")

    assert TestClient(Site()).get("/").status_code == 500
    where = tmp_path / "templates"
    assert (
        f"TemplateNotFound: template 'home.html' not found in {where} (relative to" in caplog.text
    )
    assert "pass App(templates_dir=...) the directory holding it" in caplog.text
    caplog.clear()
    assert TestClient(Site(templates_dir=tmp_path / "pages")).get("/").status_code == 500
    assert f"not found in {tmp_path / 'pages'}: create it there" in caplog.text


class Typos(App):
    async def indx(self):
        return "home"

    async def greet(self, name: str = "Guest"):
        return f"Hello, {name}"


@pytest.mark.parametrize(
    ("path", "said"),
    [
        ("/gret", "no handler takes '/gret'. Did you mean /greet? A method `async def gret(self)"),
        ("/", "no handler takes '/'. Did you mean /indx? A method `async def index(self)"),
        ("/greet/a/b", "/greet does not take these segments: look at its parameters."),
        ("/x-y", "no handler takes '/x-y'. The app's handlers: /greet, /indx."),
    ],
)
def test_in_debug_mode_a_404_names_the_nearest_handler_and_all_of_them(path, said):
    answer = TestClient(Typos(debug=True)).get(path)
    assert answer.status_code == 404
    assert answer.text.startswith("404 Not Found: ") and said in answer.text
    assert answer.text.endswith("The app's handlers: /greet, /indx.")
    detail = TestClient(Typos(debug=True, json_errors=True)).get(path).json()["detail"]
    assert said in detail


def test_without_debug_a_404_says_nothing_of_the_app():
    client = TestClient(Typos())
    for path in ("/gret", "/", "/greet/a/b"):
        answer = client.get(path)
        assert (answer.status_code, answer.text) == (404, "404 Not Found")


@pytest.mark.parametrize(
    ("base", "hook", "fix"),
    [
        (HttpMiddleware, "before_request", "async def before_request(self, request)"),
        (
            HttpMiddleware,
            "after_request",
            "async def after_request(self, request, status_code, response_body, extra_headers)",
        ),
        (WebSocketMiddleware, "before_websocket", "async def before_websocket(self, request)"),
        (WebSocketMiddleware, "after_websocket", "async def after_websocket(self, request)"),
    ],
)
def test_a_middleware_hook_written_def_names_the_fix(base, hook, fix):
    """Every request answered 500 with "object NoneType can't be used in 'await' expression"."""
    source = {
        "before_request": lambda self, request: None,
        "after_request": lambda self, request, status_code, response_body, extra_headers: None,
        "before_websocket": lambda self, request: None,
        "after_websocket": lambda self, request: None,
    }[hook]

    def plain(*args):
        return source(*args)

    plain.__signature__ = inspect.signature(source)  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match=rf"Hooks\.{hook} must be a coroutine function") as raised:
        type("Hooks", (base,), {hook: plain})
    message = str(raised.value)
    assert f"write `{fix}`" in message and "@functools.wraps(hook)" in message


def _logged_wrapped(hook):
    @functools.wraps(hook)
    def wrapper(*args):
        return hook(*args)

    return wrapper


def _logged_unwrapped(hook):
    """A decorator as often written: a ``def`` wrapper, no ``functools.wraps``."""

    def wrapper(*args, **kwargs):
        return hook(*args, **kwargs)

    return wrapper


def _logged_async(hook):
    async def wrapper(*args, **kwargs):
        return await hook(*args, **kwargs)

    return wrapper


@pytest.mark.parametrize("logged", [_logged_wrapped, _logged_unwrapped, _logged_async])
def test_async_and_decorated_hooks_are_taken(logged):
    """A decorator's wrapper returns the hook's coroutine, awaited as the hook's own
    (the unmarked ``def`` one was refused as a hook written ``def``)."""

    class Hooks(HttpMiddleware):
        @logged
        async def before_request(self, request):
            request.seen = True

        async def after_request(self, request, status_code, response_body, extra_headers):
            return {"headers": [("x-seen", str(getattr(request, "seen", False)))]}

    class Site(App):
        async def index(self):
            return "hi"

    app = Site()
    app.middlewares.append(Hooks())
    answer = TestClient(app).get("/")
    assert (answer.text, answer.headers["x-seen"]) == ("hi", "True")


def test_a_def_wrapper_that_forgets_to_return_the_hooks_coroutine_says_so(caplog):
    """Every request answered 500 with "object NoneType can't be used in 'await'
    expression"; the logged error now names the hook and the fix."""

    def logged(hook):
        def wrapper(*args, **kwargs):
            hook(*args, **kwargs).close()  # the coroutine made and dropped: no return

        return wrapper

    class Hooks(HttpMiddleware):
        @logged
        async def before_request(self, request):
            return None

    class Site(App):
        async def index(self):
            return "hi"

    app = Site()
    app.middlewares.append(Hooks())
    assert TestClient(app, raise_server_exceptions=False).get("/").status_code == 500
    message = "Hooks.before_request returned None, not the hook's coroutine"
    assert any(message in str(record.exc_info[1]) for record in caplog.records if record.exc_info)


class PostedTodo(pydantic.BaseModel):
    title: str


@pytest.mark.parametrize(
    ("headers", "sent"),
    [({}, "without a Content-Type"),
     ({"content-type": "text/plain;charset=UTF-8"}, "as 'text/plain;charset=UTF-8'")],
)  # fmt: skip
def test_a_model_posted_with_no_json_content_type_says_how_to_send_it(headers, sent):
    """``fetch(url, {body: JSON.stringify(todo)})`` sends text/plain, a bare client
    none: the 422 said only "Field required", as if nothing had been sent."""

    class Api(App):
        async def add(self, todo: PostedTodo):
            return todo.title

    client = TestClient(Api(json_errors=True))
    answer = client.post("/add", content=b'{"title": "Bake"}', headers=headers)
    (error,) = answer.json()["detail"]
    assert answer.status_code == 422 and error["loc"] == ["body"] and error["type"] == "missing"
    assert error["msg"] == (
        f"Field required: the body was sent {sent}, which is not read; send JSON with "
        "Content-Type: application/json (or a form)"
    )
    assert client.post("/add").json()["detail"][0]["msg"] == "Field required"  # no body
    assert client.post("/add", json={"title": "Bake"}).text == "Bake"


def test_an_unannotated_request_parameter_says_where_the_request_is():
    """A Starlette endpoint's ``(request)`` ported as ``index(self, request)`` is a value
    the client sends (MicroPie's rule): the 400 says how to get the request itself."""

    class Site(App):
        async def index(self, request):
            return request.url.path

        async def annotated(self, request: Request):
            return request.url.path

    client = TestClient(Site())
    answer = client.get("/")
    assert (answer.status_code, answer.text) == (
        400,
        "400 Bad Request: Missing required parameter 'request' (the request itself is "
        "self.request, or a parameter annotated `request: Request`)",
    )
    assert client.get("/annotated").text == "/annotated"
