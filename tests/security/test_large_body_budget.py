"""Large parsed bodies kept at once are bounded per process (a real uvicorn).

A 16 MiB JSON body of ``{},`` parses into ~430 MiB of dicts, kept until its request
ends; a client picking a long-running handler decides when that is. Four such clients
took a worker past 2 GiB, and enough of them would have it killed, with every in-memory
session. Past ``micropie.body.LARGE_BODY_BUDGET`` (lowered to 4 MiB by the test app) a
large body is answered 503 with ``Retry-After``; small bodies are served throughout.
"""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.support import wait_until

pytestmark = pytest.mark.server

MIB = 1024 * 1024
JSON = {"content-type": "application/json"}


def large_body(size: int = MIB) -> bytes:
    """A JSON object of about ``size`` bytes (one long string)."""
    return b'{"pad": "' + b"x" * (size - 11) + b'"}'


@pytest.fixture
def server(uvicorn_server):
    return uvicorn_server("tests.apps.held_bodies_app:app")


def held(server) -> int:
    return int(httpx.get(server.url + "/held", timeout=30).json()["bytes"])


def test_large_bodies_past_the_budget_are_503_and_small_ones_served(server):
    answers: list[httpx.Response] = []

    def hold() -> None:
        answers.append(
            httpx.post(server.url + "/hold", content=large_body(), headers=JSON, timeout=120)
        )

    holders = [threading.Thread(target=hold) for _ in range(4)]
    for thread in holders:
        thread.start()
    try:
        assert wait_until(lambda: held(server) >= 4 * MIB - 64, timeout=60)
        refused = httpx.post(server.url + "/echo", content=large_body(), headers=JSON, timeout=60)
        assert refused.status_code == 503
        assert refused.text == "503 Service Unavailable: too many large bodies at once, try again"
        assert refused.headers["retry-after"] == "1"
        small = httpx.post(server.url + "/echo", json={"a": 1, "b": 2}, timeout=30)
        assert small.json() == {"keys": 2, "size": 0}
    finally:
        httpx.get(server.url + "/let_go", timeout=30)
        for thread in holders:
            thread.join(timeout=120)
    assert [a.text for a in answers] == ["released"] * 4
    assert wait_until(lambda: held(server) == 0, timeout=30)
    again = httpx.post(server.url + "/echo", content=large_body(), headers=JSON, timeout=60)
    assert again.json() == {"keys": 1, "size": 0}


def test_one_body_over_the_budget_is_still_taken_alone(server):
    body = large_body(6 * MIB)  # more than the 4 MiB budget, nothing else held
    response = httpx.post(server.url + "/echo", content=body, headers=JSON, timeout=120)
    assert response.json() == {"keys": 1, "size": 0}
    assert held(server) == 0


@pytest.mark.parametrize(
    "body", [b"[" * (2 * MIB), b'{"a": ' + b"1" * MIB, b'{"a": "' + b"\xff" * MIB + b'"}']
)
def test_a_refused_large_body_gives_its_share_back(server, body):
    response = httpx.post(server.url + "/echo", content=body, headers=JSON, timeout=120)
    assert response.status_code == 400
    assert held(server) == 0
