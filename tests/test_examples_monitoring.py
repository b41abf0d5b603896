"""examples/monitoring through its ``app``: metrics and spans named by route template."""

from __future__ import annotations

from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from examples.monitoring.app import app, tracer_provider
from tests.conftest import ClientFactory


def _requests(handler: str, status: str) -> float:
    labels = {"handler": handler, "method": "GET", "status": status}
    return REGISTRY.get_sample_value("http_requests_total", labels) or 0.0


def test_requests_are_counted_by_template(client_factory: ClientFactory) -> None:
    client = client_factory(app)
    before_ok, before_missing = (
        _requests("/items/{item_id}", "2xx"),
        _requests("/items/{item_id}", "4xx"),
    )
    assert client.get("/items/1").json() == {"name": "apple pie", "stock": 12}
    assert client.get("/items/2").status_code == 200
    assert client.get("/items/99").status_code == 404
    assert _requests("/items/{item_id}", "2xx") == before_ok + 2
    assert _requests("/items/{item_id}", "4xx") == before_missing + 1
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'handler="/items/{item_id}"' in metrics.text
    assert 'handler="/items/1"' not in metrics.text


def test_spans_are_named_by_template(client_factory: ClientFactory) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    client = client_factory(app)
    assert client.get("/search/cherry").json() == [{"name": "cherry pie", "stock": 0}]
    (span,) = [span for span in exporter.get_finished_spans() if span.kind.name == "SERVER"]
    assert span.name == "GET /search/{q}"
    assert span.attributes["http.route"] == "/search/{q}"


def test_index_links_are_built_with_url_for(client_factory: ClientFactory) -> None:
    links = client_factory(app).get("/").json()
    assert links == {
        "item": "http://testserver/items/1",
        "search": "http://testserver/search/pie",
        "metrics": "http://testserver/metrics",
    }
    client = client_factory(app)
    assert client.get(links["item"]).status_code == 200
    assert client.get(links["search"]).json() == [
        {"name": "apple pie", "stock": 12},
        {"name": "cherry pie", "stock": 0},
    ]
