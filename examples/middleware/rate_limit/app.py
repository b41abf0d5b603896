"""Rate limiting: a ``before_request`` hook that answers ``429`` with ``Retry-After``.

A sliding window per client address, kept in this process's memory (use Redis or
similar when several workers serve the app). Clients idle for a whole window are
forgotten, so addresses that come and go (IPv6 gives a client millions) cannot grow
the table without bound. Run it with::

    uvicorn examples.middleware.rate_limit.app:app

and request http://127.0.0.1:8000/ more than 5 times within 10 seconds.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from micropie import App, HttpMiddleware


class RateLimiter(HttpMiddleware):
    """Allow ``limit`` requests per ``window`` seconds per client address."""

    def __init__(
        self, limit: int, window: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        #: Each client's recent hits, the least recently seen client first.
        self.hits: OrderedDict[str, deque[float]] = OrderedDict()

    async def before_request(self, request):
        now = self.clock()
        self._forget_idle(now)
        key = request.client.host if request.client else "unknown"
        hits = self.hits.setdefault(key, deque())
        self.hits.move_to_end(key)
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

    def _forget_idle(self, now: float) -> None:
        """Drop clients whose last hit left the window (the oldest are first)."""
        while self.hits:
            oldest = next(iter(self.hits.values()))
            if oldest and now - oldest[-1] < self.window:
                return
            self.hits.popitem(last=False)


class Api(App):
    async def index(self):
        return "Hello, within limits!"


app = Api()
app.middlewares.append(RateLimiter(limit=5, window=10.0))

if __name__ == "__main__":
    app.run()
