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
