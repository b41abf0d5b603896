"""Server-sent events: a live clock, a feed, and news shared by every worker.

Run with ``uvicorn examples.sse.app:app`` and open http://127.0.0.1:8000/.

``/clock`` uses :class:`micropie.EventSourceResponse` (formats events, sets the headers,
sends keep-alive pings); ``/feed`` shows the plain form: an async generator of
:func:`micropie.sse_event` strings returned with ``Content-Type: text/event-stream``.

The streams take no body (``@limits(max_body_size=0)``): a large JSON or form body is
parsed and kept until its request ends, and a stream may last as long as its client
wants, so two clients posting 15 MiB to one held the process's budget of large bodies
(503 for every other) for as long as they stayed.

``/news`` streams what is posted to ``/publish`` through a :class:`micropie.Broadcast`:
in this process by default, through Redis when ``REDIS_URL`` is set, so that every
worker's readers see every item::

    REDIS_URL=redis://localhost:6379/0 uvicorn examples.sse.app:app --workers 4
"""

from __future__ import annotations

import asyncio
import os
import time

from micropie import (
    App,
    Broadcast,
    BroadcastUnavailable,
    EventSourceResponse,
    HTTPException,
    limits,
    methods,
    sse_event,
)

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Server-sent events</title></head><body>
<h1>It is <span id="clock">…</span></h1>
<ul id="feed"></ul>
<h2>News</h2>
<form id="post"><input id="text" maxlength="500" required> <button>Publish</button></form>
<ul id="news"></ul>
<script>
const clock = new EventSource("clock");
clock.addEventListener("tick", (event) => {
  document.getElementById("clock").textContent = JSON.parse(event.data).time;
});
const feed = new EventSource("feed");
feed.onmessage = (event) => {
  const item = document.createElement("li");
  item.textContent = event.data;
  document.getElementById("feed").append(item);
};
const news = new EventSource("news");
news.onmessage = (event) => {
  const item = document.createElement("li");
  item.textContent = JSON.parse(event.data).text;
  document.getElementById("news").append(item);
};
document.getElementById("post").onsubmit = async (event) => {
  event.preventDefault();
  const text = document.getElementById("text");
  await fetch("publish", {method: "POST", body: new URLSearchParams({text: text.value})});
  text.value = "";
};
</script>
</body></html>"""

NEWS = ("micropie streams", "events need no websocket", "browsers reconnect by themselves")
MAX_TEXT = 500
#: The longest interval between events a client may ask for, in seconds.
MAX_INTERVAL = 60.0


def _check_interval(interval: float) -> None:
    """400 for an interval out of range (also nan and inf, which sleep cannot take)."""
    if not 0 <= interval <= MAX_INTERVAL:
        raise HTTPException(400, "400 Bad Request: Invalid value for parameter 'interval'")


class Events(App):
    def __init__(self, broadcast_url: str | None = None) -> None:
        super().__init__()
        #: Where news travels: ``REDIS_URL`` when set, else this process's memory.
        self.broadcast = Broadcast(broadcast_url or os.environ.get("REDIS_URL", "memory://"))
        self.broadcast.install(self)

    async def index(self):
        return PAGE

    @limits(max_body_size=0)
    async def clock(self, count: int = 0, interval: float = 1.0):
        """A ``tick`` event every ``interval`` seconds (``count`` of them, 0 = forever)."""
        _check_interval(interval)

        async def ticks():
            sent = 0
            while count == 0 or sent < count:
                now = time.time()
                yield {"event": "tick", "id": sent, "data": {"time": time.strftime("%H:%M:%S")}}
                sent += 1
                await asyncio.sleep(max(0.0, interval - (time.time() - now)))

        return EventSourceResponse(ticks(), ping=15)

    @limits(max_body_size=0)
    async def feed(self, interval: float = 2.0):
        """The plain form: ``text/event-stream`` and ``sse_event`` strings."""
        _check_interval(interval)

        async def items():
            yield sse_event(retry=5000, data="connected")
            for number, text in enumerate(NEWS, start=1):
                await asyncio.sleep(interval)
                yield sse_event(text, id=number)

        return 200, items(), [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]

    @limits(max_body_size=0)
    async def news(self):
        """Every item published from now on, as ``{"text": ...}`` data events.

        The first event, ``ready``, says the subscription is live.
        """

        async def items():
            async with self.broadcast.subscribe("news") as subscriber:
                yield {"event": "ready", "data": "subscribed"}
                async for item in subscriber:
                    yield {"data": item}

        return EventSourceResponse(items(), ping=15)

    @methods("POST")
    async def publish(self, text: str):
        """``POST /publish`` with a ``text`` field: send it to every ``/news`` reader."""
        text = text.strip()[:MAX_TEXT]
        if not text:
            raise HTTPException(400, "400 Bad Request: empty text")
        try:
            await self.broadcast.publish("news", {"text": text})
        except BroadcastUnavailable as exc:
            raise HTTPException(503, "503 Service Unavailable: news relay down") from exc
        return None  # 204 No Content


app = Events()

if __name__ == "__main__":
    app.run()
