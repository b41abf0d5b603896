"""Every kind of route as the monitoring tools label it: optional segments, ``*args``, a
handler limited by ``@methods`` (its 405), a bad parameter (400), an error (500), an
explicit route, a mounted Starlette app (its routes and its 404), a websocket and a 404.

The label is the route template for whatever matched a route, never the raw path (which
would give one metric series per URL a client invents). Where a mounted Starlette app
is concerned the tools answer exactly as for the same ``Mount`` inside a Starlette app:
starlette-exporter follows the mount, OpenTelemetry's Starlette instrumentation stops at
it, Sentry names the mounted app's own template.
"""

from __future__ import annotations

import itertools

import pytest
import sentry_sdk
from opentelemetry.instrumentation.starlette import StarletteInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette_exporter import PrometheusMiddleware

from micropie import App, methods

_prefixes = itertools.count()


def _text(request: Request) -> PlainTextResponse:
    return PlainTextResponse("explicit")


class Shop(App):
    async def index(self):
        return "home"

    async def greet(self, name="world"):
        return f"Hello, {name}!"

    async def items(self, item_id: int, color: str = "red"):
        return f"{item_id} {color}"

    async def files(self, *parts):
        return "/".join(parts)

    @methods("POST")
    async def buy(self, item: str):
        return f"bought {item}"

    async def boom(self):
        raise RuntimeError("boom")

    async def ws_echo(self, ws):
        await ws.accept()
        await ws.send_text("hi")
        await ws.close()


def shop() -> Shop:
    app = Shop()
    app.mount("/sub", Starlette(routes=[Route("/thing/{tid}", _text)]))
    app.add_route("/explicit/{x}", _text)
    return app


# (method, path, status, starlette-exporter's path label or None when it leaves the request
# out, OpenTelemetry's http.route or None, Sentry's url-style transaction name)
CASES = [
    ("GET", "/", 200, "/", "/", "/"),
    ("GET", "/greet", 200, "/greet/{name}", "/greet/{name}", "/greet/{name}"),
    ("GET", "/greet/ann", 200, "/greet/{name}", "/greet/{name}", "/greet/{name}"),
    ("GET", "/items/3", 200, "/items/{item_id}/{color}", "/items/{item_id}/{color}",
     "/items/{item_id}/{color}"),
    ("GET", "/items/3/blue", 200, "/items/{item_id}/{color}", "/items/{item_id}/{color}",
     "/items/{item_id}/{color}"),
    ("GET", "/items/three", 400, "/items/{item_id}/{color}", "/items/{item_id}/{color}",
     "/items/{item_id}/{color}"),
    ("GET", "/files", 200, "/files/{parts:path}", "/files/{parts:path}", "/files/{parts:path}"),
    ("GET", "/files/a/b/c", 200, "/files/{parts:path}", "/files/{parts:path}",
     "/files/{parts:path}"),
    ("POST", "/buy/tea", 200, "/buy/{item}", "/buy/{item}", "/buy/{item}"),
    ("GET", "/buy/tea", 405, None, "/buy/{item}", "/buy/{item}"),  # Starlette's 405s alike
    ("GET", "/boom", 500, "/boom", "/boom", "/boom"),
    ("GET", "/explicit/1", 200, "/explicit/{x}", "/explicit/{x}", "/explicit/{x}"),
    ("GET", "/sub/thing/9", 200, "/sub/thing/{tid}", "/sub", "/thing/{tid}"),
    ("GET", "/sub/nothing", 404, None, "/sub", "/sub"),
    ("GET", "/no/such/page", 404, None, None, "http://testserver/no/such/page"),
]  # fmt: skip
IDS = [f"{method} {path}" for method, path, *_ in CASES]


@pytest.mark.parametrize(("method", "path", "status", "label", "_", "__"), CASES, ids=IDS)
def test_starlette_exporter_label(client_factory, method, path, status, label, _, __):
    prefix = f"micropie_kinds_{next(_prefixes)}"
    app = shop()
    app.add_middleware(PrometheusMiddleware, group_paths=True, prefix=prefix, app_name="shop")
    client = client_factory(app, raise_server_exceptions=False)
    assert client.request(method, path).status_code == status
    samples = [
        sample
        for metric in REGISTRY.collect()
        if metric.name == f"{prefix}_requests"
        for sample in metric.samples
        if sample.name.endswith("_total")
    ]
    assert [sample.labels["path"] for sample in samples] == ([label] if label else [])
    if label:
        assert samples[0].labels["status_code"] == str(status)


@pytest.fixture(scope="module")
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.mark.parametrize(("method", "path", "status", "_", "route", "__"), CASES, ids=IDS)
def test_opentelemetry_route(client_factory, spans, method, path, status, _, route, __):
    provider, exporter = spans
    exporter.clear()
    app = shop()
    StarletteInstrumentor.instrument_app(app, tracer_provider=provider)
    client = client_factory(app, raise_server_exceptions=False)
    assert client.request(method, path).status_code == status
    (span,) = [span for span in exporter.get_finished_spans() if span.kind.name == "SERVER"]
    assert span.attributes.get("http.route") == route
    assert span.name == (f"{method} {route}" if route else method)


def test_opentelemetry_names_a_websocket_by_its_route(client_factory, spans):
    provider, exporter = spans
    exporter.clear()
    app = shop()
    StarletteInstrumentor.instrument_app(app, tracer_provider=provider)
    with client_factory(app).websocket_connect("/echo") as ws:
        assert ws.receive_text() == "hi"
    (span,) = [span for span in exporter.get_finished_spans() if span.kind.name == "SERVER"]
    assert (span.name, span.attributes.get("http.route")) == ("/echo", "/echo")


@pytest.mark.parametrize(("method", "path", "status", "_", "__", "name"), CASES, ids=IDS)
def test_sentry_transaction_name(client_factory, sentry, method, path, status, _, __, name):
    client = client_factory(
        SentryAsgiMiddleware(shop(), transaction_style="url"), raise_server_exceptions=False
    )
    assert client.request(method, path).status_code == status
    sentry_sdk.flush()
    (transaction,) = sentry.items("transaction")
    assert transaction["transaction"] == name


def test_sentry_names_a_websocket_by_its_route(client_factory, sentry):
    client = client_factory(SentryAsgiMiddleware(shop(), transaction_style="url"))
    with client.websocket_connect("/echo") as ws:
        assert ws.receive_text() == "hi"
    sentry_sdk.flush()
    (transaction,) = sentry.items("transaction")
    assert transaction["transaction"] == "/echo"
