"""examples/sse: the EventSource page, the clock and the plain-form feed."""

from __future__ import annotations

import json

from examples.sse.app import NEWS, app
from tests.conftest import ClientFactory


def test_sse_page_uses_event_source(client_factory: ClientFactory) -> None:
    text = client_factory(app).get("/").text
    assert 'new EventSource("clock")' in text
    assert 'new EventSource("feed")' in text


def test_sse_clock_sends_tick_events(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/clock?count=2&interval=0")
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache"
    events = [block.split("\n") for block in response.text.strip().split("\n\n")]
    assert [lines[:2] for lines in events] == [["event: tick", "id: 0"], ["event: tick", "id: 1"]]
    assert "time" in json.loads(events[0][2].removeprefix("data: "))


def test_sse_feed_plain_form(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/feed?interval=0")
    assert response.headers["content-type"] == "text/event-stream"
    expected = "retry: 5000\ndata: connected\n\n" + "".join(
        f"id: {number}\ndata: {text}\n\n" for number, text in enumerate(NEWS, start=1)
    )
    assert response.text == expected
