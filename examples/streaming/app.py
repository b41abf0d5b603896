"""Streaming responses: text sent while it is produced.

Run with ``uvicorn examples.streaming.app:app`` and try
``curl -N http://127.0.0.1:8000/count?to=5`` or ``curl http://127.0.0.1:8000/report``.

A handler returns an async generator, a plain generator (run in the thread pool) or
any iterable; the client receives each chunk as it is yielded. When the client goes
away the generator is closed, so its ``finally`` runs and nothing keeps working.
"""

from __future__ import annotations

import asyncio
import csv
import io
import logging

from micropie import App, HTTPException, limits

logger = logging.getLogger("examples.streaming")

#: The longest pause between lines a client may ask for, in seconds.
MAX_DELAY = 5.0


class Streaming(App):
    async def index(self):
        return (
            "<p><a href='count?to=10'>count to 10</a> (one line every 0.2 s) · "
            "<a href='report'>a CSV report</a></p>"
        )

    @limits(max_body_size=0)  # a stream takes no body (see examples/sse)
    async def count(self, to: int = 10, delay: float = 0.2):
        """An async generator: one line per number, ``delay`` seconds apart."""
        if not 0 <= delay <= MAX_DELAY:  # also refuses nan and inf, which sleep cannot take
            raise HTTPException(400, "400 Bad Request: Invalid value for parameter 'delay'")

        async def lines():
            try:
                for number in range(1, to + 1):
                    yield f"{number}\n"
                    await asyncio.sleep(delay)
            finally:
                logger.info("count stream closed")

        return 200, lines(), [("Content-Type", "text/plain; charset=utf-8")]

    @limits(max_body_size=0)
    def report(self, rows: int = 1000):
        """A plain generator runs in the thread pool: blocking work is fine here."""
        return 200, _csv_rows(rows), [("Content-Type", "text/csv; charset=utf-8")]


def _csv_rows(rows: int):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "square"])
    for number in range(rows):
        writer.writerow([number, number * number])
        if buffer.tell() > 8192 or number == rows - 1:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    if rows == 0:
        yield buffer.getvalue()


app = Streaming()

if __name__ == "__main__":
    app.run()
