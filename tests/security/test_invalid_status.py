"""A handler answering with a status outside 200–599 (``HTTPException(999)``, a ``(99,
body)`` tuple, a ``Response(status_code=600)``) is a server bug: the client gets a 500
on a connection that keeps serving, never a dropped connection. uvicorn's httptools
protocol fails on such a status after marking the response started, so micropie must
refuse it before it reaches the server."""

from __future__ import annotations

import logging
from http import HTTPStatus

import httpx
import pytest

from micropie.errors import is_final_status

pytestmark = pytest.mark.server

HANDLERS = ["raised", "returned", "response", "sync_returned"]
BAD_STATUSES = [999, 600, 99, 100, 101, 199]


@pytest.fixture(
    scope="module",
    params=[("httptools", "0"), ("h11", "0"), ("httptools", "1"), ("h11", "1")],
    ids=["httptools", "h11", "httptools-hooks", "h11-hooks"],
)
def server(request):
    from tests.support import run_uvicorn

    http, hooks = request.param
    running = run_uvicorn(
        "tests.apps.status_app:app",
        args=["--http", http],
        env={"MICROPIE_STATUS_HOOKS": hooks},
    )
    yield running
    running.stop()


@pytest.mark.parametrize("handler", HANDLERS)
def test_invalid_status_is_a_500_on_a_connection_that_keeps_serving(server, handler):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for code in BAD_STATUSES:
            response = client.get(f"/{handler}/{code}")
            assert (response.status_code, response.text) == (500, "500 Internal Server Error")
            assert client.get("/").text == "ok"  # the same keep-alive connection
    assert "Unhandled error" in server.log() or "Handler" in server.log()


def test_valid_statuses_still_pass_through(client_factory):
    from tests.apps.status_app import StatusApp

    client = client_factory(StatusApp())
    for code in (200, 201, 299, 418, 451, 599):
        assert client.get(f"/raised/{code}").status_code == code
        assert client.get(f"/returned/{code}").status_code == code
    assert client.get("/enum").status_code == 201  # (HTTPStatus.CREATED, body)


def test_invalid_status_is_logged_as_a_server_error(client_factory, caplog):
    from tests.apps.status_app import StatusApp

    client = client_factory(StatusApp(), raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="micropie"):
        assert client.get("/raised/999").status_code == 500
        assert client.get("/returned/999").status_code == 500
    assert "999" in caplog.text


@pytest.mark.parametrize(
    ("status", "final"),
    [
        (200, True),
        (599, True),
        (HTTPStatus.CREATED, True),
        (199, False),
        (600, False),
        (True, False),
        ("200", False),
        (200.0, False),
    ],
)
def test_is_final_status(status, final):
    assert is_final_status(status) is final
