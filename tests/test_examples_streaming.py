"""examples/streaming: an async generator of lines and a CSV from a thread-pool generator."""

from __future__ import annotations

import csv
import io

import pytest

from examples.streaming.app import app
from tests.conftest import ClientFactory


def test_streaming_index(client_factory: ClientFactory) -> None:
    assert "count to 10" in client_factory(app).get("/").text


def test_streaming_count_arrives_line_by_line(client_factory: ClientFactory) -> None:
    with client_factory(app).stream("GET", "/count?to=4&delay=0") as response:
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert list(response.iter_lines()) == ["1", "2", "3", "4"]


def test_streaming_csv_report(client_factory: ClientFactory) -> None:
    response = client_factory(app).get("/report?rows=2000")
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["id", "square"]
    assert rows[-1] == ["1999", str(1999 * 1999)]
    assert len(rows) == 2001


def test_streaming_empty_csv_has_header(client_factory: ClientFactory) -> None:
    assert client_factory(app).get("/report?rows=0").text.strip() == "id,square"


@pytest.mark.parametrize("delay", ["nan", "inf", "-inf", "-1", "1e9"])
def test_streaming_count_refuses_delays_sleep_cannot_take(
    client_factory: ClientFactory, delay: str
) -> None:
    response = client_factory(app).get(f"/count?to=2&delay={delay}")
    assert (response.status_code, response.text) == (
        400,
        "400 Bad Request: Invalid value for parameter 'delay'",
    )


@pytest.mark.parametrize("path", ["/count?to=2&delay=0", "/report?rows=2"])
def test_streams_take_no_body(client_factory: ClientFactory, path: str) -> None:
    """A large body would be kept for as long as the stream lasts (see examples/sse)."""
    response = client_factory(app).post(path, data={"pad": "x"})
    assert (response.status_code, response.text) == (413, "413 Payload Too Large")
