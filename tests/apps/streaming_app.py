"""Streams served by uvicorn for the disconnect and slow-reader tests.

``/state`` reports what the generators did: how many were closed (their ``finally``
ran) and how many bytes the firehose produced.
"""

from __future__ import annotations

import asyncio
import time

from micropie import App, EventSourceResponse, sse_event

STATE: dict[str, int] = {
    "async_closed": 0,
    "sync_closed": 0,
    "sse_closed": 0,
    "pinged_closed": 0,
    "firehose_closed": 0,
    "produced": 0,
}
CHUNK = b"x" * 65536


class StreamingApp(App):
    async def index(self):
        return "ok"

    async def state(self):
        return STATE

    async def ticks(self):
        async def ticking():
            try:
                count = 0
                while True:
                    yield f"tick {count}\n"
                    count += 1
                    await asyncio.sleep(0.02)
            finally:
                STATE["async_closed"] += 1

        return ticking()

    def sync_ticks(self):
        try:
            count = 0
            while True:
                yield f"tick {count}\n"
                count += 1
                time.sleep(0.02)
        finally:
            STATE["sync_closed"] += 1

    async def events(self):
        async def quiet_feed():
            try:
                yield sse_event("hello", event="greeting", id=1)
                await asyncio.sleep(60)
                yield sse_event("too late")
            finally:
                STATE["sse_closed"] += 1

        return 200, quiet_feed(), [("Content-Type", "text/event-stream")]

    async def pinged(self):
        async def silent():
            try:
                yield "hello"
                await asyncio.sleep(60)
            finally:
                STATE["pinged_closed"] += 1

        return EventSourceResponse(silent(), ping=0.1)

    async def firehose(self):
        async def flood():
            try:
                while True:
                    STATE["produced"] += len(CHUNK)
                    yield CHUNK
            finally:
                STATE["firehose_closed"] += 1

        return 200, flood(), [("Content-Type", "application/octet-stream")]


app = StreamingApp()
