"""Server-sent events: a live clock and a feed, shown by the browser's ``EventSource``.

Run with ``uvicorn examples.sse.app:app`` and open http://127.0.0.1:8000/.

``/clock`` uses :class:`micropie.EventSourceResponse` (formats events, sets the headers,
sends keep-alive pings); ``/feed`` shows the plain form: an async generator of
:func:`micropie.sse_event` strings returned with ``Content-Type: text/event-stream``.
"""

from __future__ import annotations

import asyncio
import time

from micropie import App, EventSourceResponse, sse_event

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Server-sent events</title></head><body>
<h1>It is <span id="clock">…</span></h1>
<ul id="feed"></ul>
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
</script>
</body></html>"""

NEWS = ("micropie streams", "events need no websocket", "browsers reconnect by themselves")


class Events(App):
    async def index(self):
        return PAGE

    async def clock(self, count: int = 0, interval: float = 1.0):
        """A ``tick`` event every ``interval`` seconds (``count`` of them, 0 = forever)."""

        async def ticks():
            sent = 0
            while count == 0 or sent < count:
                now = time.time()
                yield {"event": "tick", "id": sent, "data": {"time": time.strftime("%H:%M:%S")}}
                sent += 1
                await asyncio.sleep(max(0.0, interval - (time.time() - now)))

        return EventSourceResponse(ticks(), ping=15)

    async def feed(self, interval: float = 2.0):
        """The plain form: ``text/event-stream`` and ``sse_event`` strings."""

        async def items():
            yield sse_event(retry=5000, data="connected")
            for number, text in enumerate(NEWS, start=1):
                await asyncio.sleep(interval)
                yield sse_event(text, id=number)

        return 200, items(), [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]


app = Events()

if __name__ == "__main__":
    app.run()
