"""Hook order: ``app.middlewares`` run in list order, before and after the handler.

Three middlewares cooperate: one gives each request an id, one times it, one logs
it. ``before_request`` hooks run first to last, then the handler, then the
``after_request`` hooks first to last, each seeing what the previous ones set.
Run it with::

    uvicorn examples.middleware.hook_order.app:app

and look at the ``X-Request-Id`` and ``Server-Timing`` headers of http://127.0.0.1:8000/.
"""

from __future__ import annotations

import logging
import time
import uuid

from micropie import App, HttpMiddleware

logger = logging.getLogger("micropie.examples.hook_order")


def _request_id(request):
    return request.headers.get("x-request-id") or uuid.uuid4().hex


class RequestId(HttpMiddleware):
    async def before_request(self, request):
        request.request_id = _request_id(request)
        request.trail = ["request-id"]

    async def after_request(self, request, status_code, response_body, extra_headers):
        # A request refused before the before_request hooks ran (a body too large or
        # malformed: 413, 400) reaches here without what they set.
        if getattr(request, "request_id", None) is None:
            request.request_id = _request_id(request)
            request.trail = []
        request.trail.append("request-id")
        return {"headers": [*extra_headers, ("X-Request-Id", request.request_id)]}


class Timer(HttpMiddleware):
    async def before_request(self, request):
        request.started = time.perf_counter()
        request.trail.append("timer")

    async def after_request(self, request, status_code, response_body, extra_headers):
        request.trail.append("timer")
        started = getattr(request, "started", None)
        if started is None:  # refused before before_request: nothing was timed
            return None
        elapsed_ms = (time.perf_counter() - started) * 1000
        return {"headers": [*extra_headers, ("Server-Timing", f"app;dur={elapsed_ms:.2f}")]}


class AccessLog(HttpMiddleware):
    async def before_request(self, request):
        request.trail.append("access-log")

    async def after_request(self, request, status_code, response_body, extra_headers):
        request.trail.append("access-log")
        path = request.url.path
        logger.info("%s %s %s %s", request.request_id, request.method, path, status_code)
        return {"headers": [*extra_headers, ("X-Trail", ",".join(request.trail))]}


class Root(App):
    async def index(self):
        self.request.trail.append("handler")
        return f"request {self.request.request_id}"


app = Root()
app.middlewares.extend([RequestId(), Timer(), AccessLog()])

if __name__ == "__main__":
    app.run()
