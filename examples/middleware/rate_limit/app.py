"""Rate limiting: a ``before_request`` hook that answers ``429`` with ``Retry-After``.

A sliding window per client address, kept in this process's memory (use Redis or
similar when several workers serve the app). Run it with::

    uvicorn examples.middleware.rate_limit.app:app

and request http://127.0.0.1:8000/ more than 5 times within 10 seconds.
"""

from __future__ import annotations

import math
import time
from collections import deque

from micropie import App, HttpMiddleware


class RateLimiter(HttpMiddleware):
    """Allow ``limit`` requests per ``window`` seconds per client address."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.hits: dict[str, deque[float]] = {}

    async def before_request(self, request):
        now = time.monotonic()
        key = request.client.host if request.client else "unknown"
        hits = self.hits.setdefault(key, deque())
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            retry_after = max(1, math.ceil(self.window - (now - hits[0])))
            return {
                "status_code": 429,
                "body": "429 Too Many Requests",
                "headers": {"Retry-After": str(retry_after)},
            }
        hits.append(now)
        return None


class Api(App):
    async def index(self):
        return "Hello, within limits!"


app = Api()
app.middlewares.append(RateLimiter(limit=5, window=10.0))

if __name__ == "__main__":
    app.run()
