"""Monitoring: Prometheus metrics and OpenTelemetry traces, labelled by route template.

Every handler is a Starlette route, so Starlette's monitoring tools group requests by
the handler's path template instead of the raw URL. Run it with::

    uvicorn examples.monitoring.app:app
    TRACE_TO_CONSOLE=1 uvicorn examples.monitoring.app:app   # also print every span

Try:

* http://127.0.0.1:8000/items/1 and /items/2, then http://127.0.0.1:8000/metrics: both
  requests count under ``handler="/items/{item_id}"``
* /items/99 answers 404 from the handler, still counted under its template
* /search?q=pie (``/search/{q}``); / lists links built with ``url_for``
* with ``TRACE_TO_CONSOLE=1``, each span is named ``GET /items/{item_id}`` and carries
  ``http.route``
"""

from __future__ import annotations

import os

from opentelemetry.instrumentation.starlette import StarletteInstrumentor
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter
from prometheus_fastapi_instrumentator import Instrumentator

from micropie import App

ITEMS = {1: {"name": "apple pie", "stock": 12}, 2: {"name": "cherry pie", "stock": 0}}


class Inventory(App):
    async def index(self):
        """Links to the other handlers, built from their names."""
        return {
            "item": str(self.request.url_for("items", item_id=1)),
            "search": str(self.request.url_for("search", q="pie")),
            "metrics": str(self.request.url_for("metrics")),
        }

    async def items(self, item_id: int):
        """``/items/{item_id}``: one item, or 404."""
        item = ITEMS.get(item_id)
        if item is None:
            return 404, {"detail": f"no item {item_id}"}
        return item

    async def search(self, q: str):
        """``/search/{q}`` (or ``/search?q=...``): items whose name contains ``q``."""
        return [item for item in ITEMS.values() if q.lower() in item["name"]]


app = Inventory()

#: Traces: the app's tracer provider. Production code adds an OTLP exporter here.
tracer_provider = TracerProvider()
if os.environ.get("TRACE_TO_CONSOLE"):
    tracer_provider.add_span_processor(BatchSpanProcessor(ConsoleSpanExporter()))
StarletteInstrumentor.instrument_app(app, tracer_provider=tracer_provider)

#: Metrics: request counts and latencies by handler template, served at /metrics.
Instrumentator().instrument(app).expose(app)

if __name__ == "__main__":
    app.run()
