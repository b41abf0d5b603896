"""SPEC §8: a hostile JSON body is parsed without holding up other requests.

A real uvicorn serves ``/parse`` (a body of up to 128 MiB) while another client pings
without pause; the app counts the pings answered between the moment ``/parse`` had its
whole body and its answer. A parse that held the event loop (one long call holding the
GIL) leaves that count near zero.
"""

from __future__ import annotations

import threading

import httpx

from tests.apps.json_probe_app import PARSE_LIMIT

BAD_JSON = (400, "400 Bad Request: Bad JSON")


def _pings_while_parsing(server_url: str, body: bytes) -> tuple[httpx.Response, int]:
    stop = threading.Event()

    def ping() -> None:
        with httpx.Client(base_url=server_url, timeout=60) as client:
            while not stop.is_set():
                client.get("/ping")

    pinger = threading.Thread(target=ping)
    pinger.start()
    try:
        response = httpx.post(
            server_url + "/parse",
            content=body,
            headers={"content-type": "application/json"},
            timeout=120,
        )
    finally:
        stop.set()
        pinger.join()
    counts = httpx.get(server_url + "/probe").json()
    return response, counts["at_answer"] - counts["at_body_end"]


def test_a_huge_body_nested_too_deep_at_its_end_leaves_others_served(uvicorn_server):
    # The nesting is found only after 32 MiB of numbers: the parse is long, so pings
    # answered meanwhile show it did not hold the event loop.
    server = uvicorn_server("tests.apps.json_probe_app:app")
    tail = b"[" * 300
    body = b"[" + b"0," * ((PARSE_LIMIT // 4 - 1 - len(tail)) // 2) + tail
    response, pings = _pings_while_parsing(server.url, body)
    assert (response.status_code, response.text) == BAD_JSON
    assert pings >= 1
    assert httpx.get(server.url + "/ping").text == "pong"


def test_a_huge_body_nested_too_deep_from_its_start_is_refused(uvicorn_server):
    # Refused within its first bytes: the window between body and answer can be too
    # short for any ping, so only the answer and the server's next one are checked.
    server = uvicorn_server("tests.apps.json_probe_app:app")
    response, _ = _pings_while_parsing(server.url, b"[" * PARSE_LIMIT)
    assert (response.status_code, response.text) == BAD_JSON
    assert httpx.get(server.url + "/ping").text == "pong"
