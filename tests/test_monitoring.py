"""Issue 14 acceptance: real Starlette monitoring tools label requests by route template.

starlette-exporter, prometheus-fastapi-instrumentator, OpenTelemetry (Starlette
instrumentation and the plain ASGI middleware, in-memory exporter) and sentry-sdk (an
in-memory transport) each see ``/greet/{name}`` for ``GET /greet/alice``, and nothing of a
route for a 404.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import sentry_sdk
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.instrumentation.starlette import StarletteInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_fastapi_instrumentator import Instrumentator
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from starlette_exporter import PrometheusMiddleware, handle_metrics

from micropie import App
from micropie.routes import find_route

_prefixes = itertools.count()


class Greeter(App):
    async def index(self):
        return "home"

    async def greet(self, name):
        return f"Hello, {name}!"

    async def ws_echo(self, ws, room):
        await ws.accept()
        await ws.send_text(room)


# -- starlette-exporter ----------------------------------------------------------------------


def test_starlette_exporter_groups_paths_by_template(client_factory):
    prefix = f"micropie_test_{next(_prefixes)}"
    app = Greeter()
    app.add_middleware(PrometheusMiddleware, group_paths=True, prefix=prefix, app_name="greeter")
    app.add_route("/metrics", handle_metrics)
    client = client_factory(app)
    for name in ("alice", "bob", "carol"):
        assert client.get(f"/greet/{name}").status_code == 200
    assert client.get("/nowhere/at/all").status_code == 404

    def count(path: str, status: str = "200") -> float | None:
        labels = {"method": "GET", "path": path, "status_code": status, "app_name": "greeter"}
        return REGISTRY.get_sample_value(f"{prefix}_requests_total", labels)

    assert count("/greet/{name}") == 3
    assert count("/greet/alice") is None
    assert count("/nowhere/at/all", "404") is None  # unhandled paths are filtered out
    assert f'{prefix}_requests_total{{app_name="greeter"' in client.get("/metrics").text


# -- prometheus-fastapi-instrumentator ---------------------------------------------------------


def test_prometheus_fastapi_instrumentator_labels_handler_and_exposes(client_factory):
    registry = CollectorRegistry()
    app = Greeter()
    Instrumentator(registry=registry).instrument(app).expose(app)
    client = client_factory(app)
    assert client.get("/greet/alice").status_code == 200
    assert client.get("/greet/bob").status_code == 200

    def count(handler: str) -> float | None:
        labels = {"handler": handler, "method": "GET", "status": "2xx"}
        return registry.get_sample_value("http_requests_total", labels)

    assert count("/greet/{name}") == 2
    assert count("none") is None
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'handler="/greet/{name}"' in metrics.text


# -- OpenTelemetry -------------------------------------------------------------------------------


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _server_spans(exporter: InMemorySpanExporter) -> list[Any]:
    return [span for span in exporter.get_finished_spans() if span.kind.name == "SERVER"]


def test_opentelemetry_starlette_instrumentation_names_spans_by_template(client_factory, spans):
    provider, exporter = spans
    app = Greeter()
    StarletteInstrumentor.instrument_app(app, tracer_provider=provider)
    client = client_factory(app)
    assert client.get("/greet/alice").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/nowhere/at/all").status_code == 404
    greet, index, missing = _server_spans(exporter)
    assert greet.name == "GET /greet/{name}"
    assert greet.attributes["http.route"] == "/greet/{name}"
    assert index.attributes["http.route"] == "/"
    assert "http.route" not in missing.attributes


def test_opentelemetry_asgi_middleware_gets_the_route_template(client_factory, spans):
    provider, exporter = spans
    app = Greeter()

    def span_details(scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """As docs/guides/monitoring.md writes it (websocket scopes have no method)."""
        route = find_route(app, scope)
        method = scope.get("method", "")
        if route is None:
            return method or "HTTP", {}
        return f"{method} {route.path}".lstrip(), {"http.route": route.path}

    client = client_factory(
        OpenTelemetryMiddleware(app, default_span_details=span_details, tracer_provider=provider)
    )
    assert client.get("/greet/alice").status_code == 200
    assert client.get("/nowhere").status_code == 404
    with client.websocket_connect("/echo/lobby") as ws:  # the page's first version: KeyError
        assert ws.receive_text() == "lobby"
    greet, missing, echo = _server_spans(exporter)
    assert greet.name == "GET /greet/{name}"
    assert greet.attributes["http.route"] == "/greet/{name}"
    assert missing.name == "GET"
    assert "http.route" not in missing.attributes
    assert (echo.name, echo.attributes["http.route"]) == ("/echo/{room}", "/echo/{room}")


def test_find_route_answers_as_dispatch():
    app = Greeter()
    scope = {"type": "http", "method": "GET", "path": "/greet/x", "headers": []}
    assert find_route(app, scope).name == "greet"
    scope["path"] = "/greet/x/y"
    assert find_route(app, scope) is None  # greet takes one segment: dispatch answers 404
    scope.update(type="websocket", path="/echo/lobby")
    assert find_route(app, scope).name == "ws_echo"
    app.add_route("/metrics", handle_metrics)
    assert find_route(app, {**scope, "type": "http", "path": "/metrics"}).path == "/metrics"


# -- Sentry -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "expected"),
    [("url", "/greet/{name}"), ("endpoint", "tests.test_monitoring.Greeter.greet")],
)
def test_sentry_names_transactions_by_route(client_factory, sentry, style, expected):
    app = Greeter()
    client = client_factory(SentryAsgiMiddleware(app, transaction_style=style))
    assert client.get("/greet/alice").status_code == 200
    sentry_sdk.flush()
    (transaction,) = sentry.items("transaction")
    assert transaction["transaction"] == expected
    assert transaction["transaction_info"] == {"source": "route" if style == "url" else "component"}


def test_sentry_404_is_named_by_url_not_a_route(client_factory, sentry):
    client = client_factory(SentryAsgiMiddleware(Greeter(), transaction_style="url"))
    assert client.get("/nowhere").status_code == 404
    sentry_sdk.flush()
    (transaction,) = sentry.items("transaction")
    assert transaction["transaction"] == "http://testserver/nowhere"
    assert transaction["transaction_info"] == {"source": "url"}


def run_script(script: str, *args: str) -> Any:
    """Run ``script`` in a Python process of its own (sentry-sdk set up as an app does,
    with its default integrations); the JSON it prints."""
    import json
    import subprocess
    import sys

    from tests.support import ROOT

    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


# -- as operators run them: default integrations, several workers ----------------------------

SENTRY_SCRIPT = """
import json, sys
import sentry_sdk
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from sentry_sdk.transport import Transport
from starlette.testclient import TestClient
from micropie import App

class Memory(Transport):
    events = []
    def capture_envelope(self, envelope):
        self.events += [i.payload.json for i in envelope.items if i.type == "event"]

class Shop(App):
    async def items(self, item_id: int):
        return {"item": item_id}
    async def boom(self, n: int):
        raise RuntimeError(f"boom {n}")
    def sync_boom(self):
        raise ValueError("sync boom")

dsn = sys.argv[1] or None
sentry_sdk.init(dsn=dsn, transport=Memory if dsn else None, traces_sample_rate=1.0)
with TestClient(SentryAsgiMiddleware(Shop(), transaction_style="url")) as client:
    statuses = [client.get(path).status_code for path in ("/items/3", "/boom/7", "/sync_boom")]
sentry_sdk.flush()
events = [
    {"error": event["exception"]["values"][-1]["value"], "transaction": event["transaction"],
     "url": event["request"]["url"], "method": event["request"]["method"]}
    for event in Memory.events
]
print(json.dumps({"statuses": statuses, "events": events}))
"""


@pytest.mark.parametrize("dsn", ["https://public@sentry.invalid/1", ""])
def test_sentry_with_its_default_integrations_reports_each_error_once(dsn):
    """``sentry_sdk.init()`` as documented (default integrations, in a process of its own):
    one event per handler exception, with the request and the route's transaction name;
    without a DSN nothing is sent and the app serves as usual."""
    result = run_script(SENTRY_SCRIPT, dsn)
    assert result["statuses"] == [200, 500, 500]
    expected = [
        {"error": "boom 7", "transaction": "/boom/{n}", "url": "http://testserver/boom/7"},
        {"error": "sync boom", "transaction": "/sync_boom", "url": "http://testserver/sync_boom"},
    ]
    if not dsn:
        expected = []
    assert result["events"] == [{**event, "method": "GET"} for event in expected]


@pytest.mark.server
@pytest.mark.filterwarnings("ignore:unclosed file:ResourceWarning")  # run_uvicorn's log file
def test_metrics_add_up_every_worker_in_multiprocess_mode(uvicorn_server, tmp_path):
    """The monitoring example under ``--workers 2`` with ``PROMETHEUS_MULTIPROC_DIR``:
    whichever worker answers the scrape, it counts every worker's requests, and 404s
    share one ``handler="none"`` series instead of one series per URL."""
    import re

    import httpx

    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    server = uvicorn_server("examples.monitoring.app:app", workers=2, env=env, timeout=60)
    for n in range(1, 21):  # a new connection each: the kernel spreads them over the workers
        assert httpx.get(f"{server.url}/items/{n}", timeout=30).status_code in (200, 404)
        assert httpx.get(f"{server.url}/no/such/page/{n}", timeout=30).status_code == 404
    for _ in range(4):
        metrics = httpx.get(server.url + "/metrics", timeout=30).text
        series = dict(re.findall(r"^(http_requests_total\{.*\}) ([0-9.]+)$", metrics, re.M))
        by_handler: dict[str, float] = {}
        for labels, value in series.items():
            handler = re.search(r'handler="([^"]*)"', labels).group(1)
            by_handler[handler] = by_handler.get(handler, 0) + float(value)
        assert by_handler["/items/{item_id}"] == 20
        assert by_handler["none"] == 20
        assert set(by_handler) <= {
            "/items/{item_id}",
            "none",
            "/metrics",
            "/",
        }  # "/": startup probe
    assert "Traceback" not in server.log(), server.log()


# -- mounted in Starlette (docs/guides/monitoring.md, last section) ----------------------------

MOUNTED_SENTRY_SCRIPT = """
import json
import sentry_sdk
from sentry_sdk.transport import Transport
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from micropie import App

class Memory(Transport):
    items = []
    def capture_envelope(self, envelope):
        self.items += [(i.type, i.payload.json) for i in envelope.items]

class Shop(App):
    async def items(self, item_id: int):
        return {"item": item_id}
    async def boom(self, n: int):
        raise RuntimeError(f"boom {n}")

sentry_sdk.init(dsn="https://public@sentry.invalid/1", transport=Memory, traces_sample_rate=1.0)
with TestClient(Starlette(routes=[Mount("/shop", app=Shop())])) as client:
    statuses = [client.get(path).status_code for path in ("/shop/items/3", "/shop/boom/7")]
sentry_sdk.flush()
print(json.dumps({
    "statuses": statuses,
    "transactions": [item["transaction"] for kind, item in Memory.items if kind == "transaction"],
    "errors": [(item["exception"]["values"][-1]["value"], item["transaction"],
                item["request"]["url"]) for kind, item in Memory.items if kind == "event"],
}))
"""


def test_sentry_names_a_mounted_apps_transactions_by_its_template():
    """A micropie app inside Starlette, with sentry-sdk's default (Starlette) integration:
    transactions are the handler templates below the mount; an error is reported once,
    with the request's real URL."""
    result = run_script(MOUNTED_SENTRY_SCRIPT)
    assert result["statuses"] == [200, 500]
    assert result["transactions"] == ["/items/{item_id}", "/boom/{n}"]
    assert result["errors"] == [["boom 7", "/boom/{n}", "http://testserver/shop/boom/7"]]


# -- what an error event carries: the request, never its credentials -------------------------

SECRETS_SENTRY_SCRIPT = """
import json, secrets, sys
import sentry_sdk
from sentry_sdk.integrations.asgi import SentryAsgiMiddleware
from sentry_sdk.transport import Transport
from starlette.testclient import TestClient
from micropie import App, CookieSessionBackend, HttpMiddleware

class Memory(Transport):
    items = []
    def capture_envelope(self, envelope):
        self.items += [(i.type, i.payload.json) for i in envelope.items]

class Hook(HttpMiddleware):
    async def before_request(self, request):
        if request.scope["path"] == "/hook_boom":
            raise KeyError("hook boom")

class Shop(App):
    async def login(self):
        self.request.session["user"] = secrets.token_hex(8)
        return "ok"
    async def boom(self, n: int):
        raise RuntimeError(f"boom {n}")
    async def hook_boom(self):
        return "never"

sentry_sdk.init(dsn="https://public@sentry.invalid/1", transport=Memory, traces_sample_rate=1.0)
backend = CookieSessionBackend(secrets.token_hex(16)) if sys.argv[1] == "cookie" else None
app = Shop(backend)
app.middlewares.append(Hook())
token = secrets.token_hex(12)
with TestClient(SentryAsgiMiddleware(app, transaction_style="url")) as client:
    client.get("/login")
    cookie = client.cookies["session_id"]
    auth = {"Authorization": f"Bearer {token}"}
    statuses = [client.get(path, headers=auth).status_code for path in ("/boom/7", "/hook_boom")]
sentry_sdk.flush()
envelopes = json.dumps(Memory.items)
events = [item for kind, item in Memory.items if kind == "event"]
print(json.dumps({
    "statuses": statuses,
    "errors": [(e["exception"]["values"][-1]["value"], e["request"]["url"],
                e["request"]["headers"].get("cookie"), e["request"]["headers"].get("authorization"))
               for e in events],
    "first_frames": [e["exception"]["values"][-1]["stacktrace"]["frames"][0]["function"]
                     for e in events],
    "cookie_sent": cookie in envelopes or cookie.split(".")[0] in envelopes,
    "token_sent": token in envelopes,
}))
"""


@pytest.mark.parametrize("sessions", ["memory", "cookie"])
def test_sentry_error_events_carry_the_request_but_not_its_credentials(sessions):
    """sentry-sdk with its defaults records frame variables. An error in a handler or a
    hook is one event with the request (cookie and authorization filtered by Sentry), and
    neither the session cookie nor the Authorization header reaches it through micropie's
    own frames: the reported traceback starts at the app's code."""
    result = run_script(SECRETS_SENTRY_SCRIPT, sessions)
    assert result["statuses"] == [500, 500]
    assert result["errors"] == [
        ["boom 7", "http://testserver/boom/7", "[Filtered]", "[Filtered]"],
        ["'hook boom'", "http://testserver/hook_boom", "[Filtered]", "[Filtered]"],
    ]
    assert result["first_frames"] == ["boom", "before_request"]
    assert result["cookie_sent"] is False
    assert result["token_sent"] is False
