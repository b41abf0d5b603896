"""Path traversal: ``..`` in a path never reaches a file outside a mount or a handler."""

from __future__ import annotations

import pytest
from starlette.staticfiles import StaticFiles

from micropie import App

from .raw import call

NOT_FOUND = (404, "404 Not Found")
SECRET = "TOP-SECRET"


class Site(App):
    async def hello(self):
        return "hello"


@pytest.fixture
def static_app(tmp_path):
    public = tmp_path / "public"
    public.mkdir()
    (public / "ok.txt").write_text("public file")
    (tmp_path / "secret.txt").write_text(SECRET)
    app = Site()
    app.mount("/static", StaticFiles(directory=public))
    return app


TRAVERSALS = [
    b"/static/../secret.txt",
    b"/static/%2e%2e/secret.txt",
    b"/static/%2E%2E/secret.txt",
    b"/static/..%2fsecret.txt",
    b"/static/%2e%2e%2fsecret.txt",
    b"/static/..%5csecret.txt",
    b"/static/....//secret.txt",
    b"/static//../secret.txt",
    b"/static/ok.txt/../../secret.txt",
    b"/static/%252e%252e/secret.txt",
]


@pytest.mark.parametrize("raw_path", TRAVERSALS)
def test_static_mount_does_not_serve_outside_its_directory(static_app, raw_path):
    answer = call(static_app, raw_path)
    assert SECRET not in answer.text
    assert answer.status == 404
    assert call(static_app, b"/static/ok.txt").text == "public file"


@pytest.mark.parametrize(
    "raw_path", [b"/../hello", b"/%2e%2e/hello", b"/%2e%2e%2f%2e%2e/etc/passwd", b"/./hello"]
)
def test_dot_segments_never_name_a_handler(raw_path):
    app = Site()
    answer = call(app, raw_path)
    assert (answer.status, answer.text) == NOT_FOUND
    assert call(app, b"/hello").text == "hello"


def test_dot_segments_arrive_as_plain_strings(client_factory):
    class Files(App):
        async def show(self, name):
            return repr(name)

    client = client_factory(Files())
    answer = call(Files(), b"/show/%2e%2e")
    assert (answer.status, answer.text) == (200, "'..'")
    assert client.get("/show/a").text == "'a'"


# -- an encoded slash is a separator: no parameter ever holds a "/" (real uvicorn) -----


@pytest.mark.server
@pytest.mark.parametrize(
    ("raw_path", "status", "answer"),
    [
        (b"/one/a%2Fb", 404, None),
        (b"/one/..%2F..%2Fetc%2Fpasswd", 404, None),
        (b"/one/%2F", 400, None),  # "/one//": trailing slashes ignored, name missing
        (b"/one/a%252Fb", 200, {"name": "a%2Fb"}),  # %25 is a literal %, decoded once
        (b"/many/..%2F..%2Fetc%2Fpasswd", 200, {"parts": ["..", "..", "etc", "passwd"]}),
        (b"/many/a%2F%2Fb", 200, {"parts": ["a", "", "b"]}),
        (b"/%2E%2E%2Fone/x", 200, {"index": ["..", "one", "x"]}),
        (b"/one%2Fx", 200, {"name": "x"}),
    ],
)
def test_encoded_slash_never_reaches_a_parameter(uvicorn_server, raw_path, status, answer):
    """uvicorn decodes the path before routing, so ``%2F`` splits segments as ``/``
    does: a file name taken from a segment can never carry a directory."""
    import json

    from .test_raw_socket import exchange

    server = uvicorn_server("tests.apps.segments_app:app")
    request = b"GET " + raw_path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    got, body = exchange(server, request)
    assert got == status
    if answer is not None:
        parsed = json.loads(body)
        assert parsed == answer
        received = next(iter(parsed.values()))
        values = received if isinstance(received, list) else [received]
        assert all("/" not in value for value in values)


def test_url_for_refuses_a_slash_in_a_single_segment():
    from starlette.routing import NoMatchFound

    from tests.apps.segments_app import Segments

    app = Segments()
    with pytest.raises(NoMatchFound):
        app.url_path_for("one", name="a/b")
    assert app.url_path_for("one", name="a%2Fb") == "/one/a%252Fb"
